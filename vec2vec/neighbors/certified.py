"""Exact cosine k-nearest neighbours of every row among the others, at bf16 speed.

``certified_knn(X, k)``: candidates come from a bfloat16 pass over the similarity matrix, tile by
tile (upper triangle only, it is symmetric; memory O(n k + tile^2), never n x n), are re-ranked
with float64 scores, and each row carries a certificate (a rigorous bound on the bf16 error) that
no other row can enter its top k; the few uncertified rows are recomputed exactly. Same lists as a
float64 search. The alignment metrics (:mod:`vec2vec.align`) use it; it is part of the one
nearest-neighbour module, :mod:`vec2vec.neighbors`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import warnings
from typing import Any

import numpy as np

from vec2vec.data.validation import check_vectors

#: rows per chunk of the float64 products
_CHUNK = 8192
log = logging.getLogger(__name__)


def _check_k(k: int, n: int) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if n <= k:
        raise ValueError(f"k={k} neighbours need more than k rows (self is excluded), got n={n}")
    return int(k)


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, float32; all-zero rows stay zero (cosine 0 to everything)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.ascontiguousarray(X / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def _lapack_one_thread():
    """Context that runs BLAS/LAPACK single-threaded. Small decompositions (d <= ~1000) gain
    nothing from threads, and on a busy machine OpenBLAS' spinning threads made them 10-15x
    slower (measured: 768 x 384 SVD 3.0 s vs 0.2 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


# --------------------------------------------------------------------------------------------
# exact cosine kNN: bf16 candidate pass, exact re-rank, per-row certificate
# --------------------------------------------------------------------------------------------

#: relative error of one rounding of a float32 value to bfloat16 (round-to-nearest gives 2^-8;
#: 2^-7 also covers truncation, so the bound holds whichever the matmul kernel uses)
_BF16_ROUND = 2.0 ** -7
#: absolute slack in every certificate: float64 re-rank rounding (~d 2^-53), float32 norms,
#: flushed bf16 denormals (< d 2^-126) are all orders of magnitude below it
_SLACK = 1e-6
#: rows/columns per chunk whose maximum is compared with the running thresholds
_CW = 64


def certified_knn(X, k: int = 10, block: int = 4096, margin: int = 20, method: str = "certified",
        stats: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k-nearest neighbours of every row among the *other* rows.

    Args:
        X: ``[n, d]`` vectors (any norm; rows are L2-normalised to float32 ``u_i`` first).
        k: neighbours per row, ``k < n``.
        block: rows per tile of the bf16 similarity pass (rounded down to a multiple of 64).
        margin: extra candidates per row kept by the bf16 pass (``K = k + margin`` in all).
        method: ``"certified"`` (default) or ``"exact"`` (float64 scores against every row: the
            reference, O(n^2 d) float64 multiply-adds). Both return the same lists.
        stats: optional dict, filled with the rows certified at each level and timings.
    Returns:
        ``idx [n, k]`` int64 neighbour row numbers, most similar first, self excluded (by index,
        so exact duplicates of a row are still its neighbours); ``sim [n, k]`` float32 cosines.

    *Exact* means: the k largest ``s_ij = <u_i, u_j>`` (j != i) evaluated in float64, ties broken
    by the lower index j. ``method="certified"`` returns exactly those lists, faster:

    1. Candidates: the similarity matrix is computed tile by tile in bfloat16 (~6x float32 BLAS
       on this CPU), upper triangle only (tile (I, J) serves rows I and, transposed, rows J),
       keeping the K largest approximate scores ``a_ij`` per row. Memory O(n d + n K + block^2).
    2. Re-rank: the K candidates' exact scores in float64, sorted by (-score, index); first k kept.
    3. Certificate: with ``b_i = bf16(u_i)``, ``e_i = u_i - b_i`` (exact in float32),
       ``s_ij - <b_i, b_j> = <e_i, u_j> + <b_i, e_j>``, so by Cauchy-Schwarz
       ``|s_ij - <b_i, b_j>| <= |e_i| max|u| + |b_i| max|e|``. The GEMM computes the shifted
       score ``<b_i, b_j> - c`` (an extra column ``-c`` against ``1``; ``c`` in bf16, near the
       rows' k-th scores): bf16 products are exact in float32, their float32 sum errs by at most
       ``gamma_{d+1} (|b_i| max|b| + c)``, ``gamma_m = m 2^-24/(1 - m 2^-24)``, and the final
       rounding to bf16 by at most ``2^-7 |a| / (1 - 2^-7)`` (small, as ``a`` is shifted). So
       ``s_ij <= upper_i(a_ij) = a_ij + c + (these bounds) + 1e-6``, increasing in ``a``. Every
       non-candidate j has ``a_ij <= T_i``, the K-th candidate score, so ``s_ij <= upper_i(T_i)``.
       If the k-th re-ranked exact score is ``> upper_i(T_i)``, no non-candidate can enter the
       top k or tie with it: row i is certified exact.
    4. Fallback: uncertified rows get a dense bf16 pass against all rows with ``k + 10 margin``
       candidates, re-rank and certificate again; rows still uncertified (exact ties at the k-th
       score such as duplicate rows, all-zero rows) are computed in float64 against every row.

    Before the search, a 256 x 256 sample of bf16 scores is checked against float64 ones; if the
    error model is ever violated (a kernel accumulating in bf16, say), the exact method is used.
    """
    X = check_vectors(X, "X")
    n = len(X)
    k = _check_k(k, n)
    if method not in ("certified", "exact"):
        raise ValueError(f"method must be 'certified' or 'exact', got {method!r}")
    if not isinstance(margin, (int, np.integer)) or margin < 0 or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"margin must be an integer >= 0 and block >= 1, got margin={margin!r}, block={block!r}")
    stats = {} if stats is None else stats
    stats.update(n=n, k=k, method=method)
    U = _unit_rows(X)
    t0 = time.perf_counter()
    if method == "exact":
        idx, sim = _exact_rows(U, np.arange(n), k)
    else:
        idx, sim = _certified_knn(U, k, margin, block, stats)
    stats["seconds"] = time.perf_counter() - t0
    log.info("knn %s", stats)
    return idx, sim


def _certified_knn(U: np.ndarray, k: int, margin: int, block: int, stats: dict):
    """Levels 1-3 of ``knn(method="certified")``: bf16 tiles, dense bf16 rows, float64 rows."""
    n = len(U)
    block = max(_CW, block // _CW * _CW)
    B = _Bf16.of(U, min(k + margin, n - 1), block)
    stats["offset"] = B.offset
    rows = np.arange(n)
    if not B.error_model_holds(U):
        warnings.warn("bf16 matmul error exceeds its bound on this machine; using float64 kNN")
        stats["self_check"] = "failed"
        levels = []
    else:
        levels = [("level1", k + margin, lambda r, K: _bf16_tiles(B, K, block)),
                  ("level2", k + 10 * margin, lambda r, K: _bf16_rows(B, r, K))]
    idx = np.empty((n, k), dtype=np.int64)
    sim = np.empty((n, k), dtype=np.float32)
    for name, K, candidates in levels:
        t = time.perf_counter()
        K = min(K, n - 1)
        with _one_torch_thread():
            cand_a, cand_i = candidates(rows, K)
        got_i, got_s = _rerank(U, B, rows, cand_i, cand_a, k)
        ok = np.ones(len(rows), dtype=bool)
        if K < n - 1:  # else every other row is a candidate: nothing to certify
            ok &= got_s[:, k - 1] > B.upper(cand_a[:, -1], rows)
        idx[rows[ok]], sim[rows[ok]] = got_i[ok], got_s[ok]
        stats.update({f"{name}_rows": len(rows), f"{name}_certified": int(ok.sum()),
                      f"{name}_seconds": time.perf_counter() - t})
        rows = rows[~ok]
        if not len(rows):
            break
    stats["exact_rows"] = len(rows)
    if len(rows):
        idx[rows], sim[rows] = _exact_rows(U, rows, k)
    return idx, sim


@contextlib.contextmanager
def _one_torch_thread():
    """torch limited to one thread. The candidate pass is a chain of small ops (chunk maxima,
    gathers, top-k) between GEMMs; on the loaded 2-core machine their OpenMP barriers made them
    3-20x slower, while a one-thread bf16 GEMM already ran as fast as a two-thread one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclasses.dataclass
class _Bf16:
    """bf16 factors of the shifted similarity ``a_ij = bf16(<b_i, b_j> - c)``, ``b_i = bf16(u_i)``.

    ``left`` rows are ``[b_i, -c, 0]``, ``right`` rows ``[b_i, 1, 0]`` (torch bf16, zero rows
    padded to a multiple of 64), so ``left[I] @ right[J].T`` gives the shifted scores of tile
    (I, J) and, transposed, of (J, I). The offset ``c`` (a bf16 number near the rows' k-th
    scores) keeps the GEMM's final rounding, relative to ``|a|``, small where it matters: in
    spaces whose neighbours all have cosine ~0.9 (e5, GloVe) it is ~8x smaller than unshifted.
    ``delta [n]``: per-row bound ``|e_i| max|u| + |b_i| max|e| + gamma_{d+1} (|b_i| max|b| + c)``
    + slack on the error of ``<b_i, b_j> - c`` (see ``knn``)."""
    left: Any
    right: Any
    delta: np.ndarray
    offset: float
    n: int

    @classmethod
    def of(cls, U: np.ndarray, K: int, block: int) -> "_Bf16":
        import torch

        n, d = U.shape
        left = torch.zeros((-(-n // _CW) * _CW, d + 2), dtype=torch.bfloat16)
        left[:n, :d] = torch.from_numpy(U)
        b = left[:, :d]
        norms = np.empty((3, n))  # |u_i|, |b_i|, |e_i| (float32 norms: errors << slack)
        for s in range(0, n, _CHUNK):
            u, v = torch.from_numpy(U[s:s + _CHUNK]), b[s:min(n, s + _CHUNK)].float()
            norms[:, s:s + len(u)] = torch.stack([u.norm(dim=1), v.norm(dim=1), (u - v).norm(dim=1)]).numpy()
        nu, nb, ne = norms  # e_i = u_i - b_i is exact in float32
        c = _offset(b, n, K, block)
        gamma = (d + 1) * 2.0 ** -24 / (1 - (d + 1) * 2.0 ** -24)
        delta = ne * nu.max() + nb * ne.max() + gamma * (nb * nb.max() + abs(c)) + _SLACK
        right = left.clone()
        left[:, d], right[:, d] = -c, 1.0
        return cls(left, right, delta, c, n)

    def upper(self, a, rows) -> np.ndarray:
        """Largest exact score compatible with shifted bf16 scores ``a`` of ``rows``."""
        a = np.asarray(a, dtype=np.float64)
        return a + self.offset + np.abs(a) * (_BF16_ROUND / (1 - _BF16_ROUND)) + self.delta[rows]

    def lower(self, a, rows) -> np.ndarray:
        """Smallest exact score compatible with shifted bf16 scores ``a`` of ``rows``."""
        return 2 * (np.asarray(a, dtype=np.float64) + self.offset) - self.upper(a, rows)

    def error_model_holds(self, U: np.ndarray, m: int = 256) -> bool:
        """``lower <= s_ij <= upper`` on an ``m x m`` sample of the bf16 GEMM's scores."""
        m = min(m, self.n)
        a = (self.left[:m] @ self.right[:m].T).double().numpy()
        s = U[:m].astype(np.float64) @ U[:m].T.astype(np.float64)
        rows = np.arange(m)[:, None]
        return bool(np.all((self.lower(a, rows) <= s) & (s <= self.upper(a, rows))))


def _offset(b, n: int, K: int, block: int) -> float:
    """The shift ``c``: 1% quantile of the K-th best score of up to 1024 rows within the first
    block (what the thresholds start from), rounded to bf16. Rows whose running K-th shifted
    score is <= 0 are slower in ``_fold_tile`` (all their chunks opened), hence a low quantile."""
    import torch

    cols = min(block, n)
    if K >= cols:
        return 0.0
    sample = torch.from_numpy(np.linspace(0, cols - 1, min(1024, cols)).astype(np.int64))
    S = b[sample] @ b[:cols].T
    S[torch.arange(len(sample)), sample] = -math.inf
    kth = torch.topk(S, K, dim=1).values[:, -1].float()
    return float(torch.quantile(kth, 0.01).bfloat16())


def _bf16_tiles(B: _Bf16, K: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Level 1: the K largest bf16 scores of every row (``[n, K]`` float32, most similar first)
    and their indices, tile by tile over the upper triangle. Diagonal tiles seed each row's list
    (top-k of the tile); each off-diagonal tile is then folded into rows I and rows J."""
    import torch

    n, n_pad = B.n, len(B.left)
    best_a = torch.full((n_pad, K), -math.inf, dtype=torch.bfloat16)
    best_i = torch.full((n_pad, K), -1, dtype=torch.int64)
    starts = range(0, n_pad, block)
    diagonal = [(b, b) for b in starts]
    for bi, bj, S in _tile_products(B, block, diagonal + [(i, j) for i in starts for j in starts if j > i]):
        if bi != bj:
            _fold_tile(best_a, best_i, S, bi, bj, n)
            continue
        S.fill_diagonal_(-math.inf)
        S[:, max(0, n - bi):] = -math.inf  # columns of the zero padding rows
        kk = min(K, S.shape[1])
        a, j = torch.topk(S, kk, dim=1)
        best_a[bi:bi + block, :kk], best_i[bi:bi + block, :kk] = a, j + bi
    return best_a[:n].float().numpy(), best_i[:n].numpy()


def _tile_products(B: _Bf16, block: int, pairs: list, workers: int = 2):
    """Yield ``(bi, bj, S)`` with ``S = left[bi-block] @ right[bj-block].T`` for each pair of block
    starts, in order. ``workers`` background threads (one torch thread each) compute the next
    products while the caller uses the current one, so the GEMMs and the caller's top-k
    bookkeeping share both cores without OpenMP barriers. Tiles live in ``workers + 1``
    reused buffers (no page faults per tile); a yielded tile is valid until the next one."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    m = min(block, len(B.left))
    buffers = [torch.empty(m * m, dtype=torch.bfloat16) for _ in range(workers + 1)]

    def product(t):
        torch.set_num_threads(1)
        bi, bj = pairs[t]
        a, b = B.left[bi:bi + block], B.right[bj:bj + block]
        out = buffers[t % len(buffers)][:len(a) * len(b)].view(len(a), len(b))
        return torch.matmul(a, b.T, out=out)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = [pool.submit(product, t) for t in range(min(workers, len(pairs)))]
        for t, (bi, bj) in enumerate(pairs):
            S = pending.pop(0).result()
            if t + workers < len(pairs):
                pending.append(pool.submit(product, t + workers))
            yield bi, bj, S


def _fold_tile(best_a, best_i, S, r0: int, c0: int, n: int) -> None:
    """Fold tile ``S`` (rows ``r0..``, columns ``c0..``) into the lists of its rows and, by
    symmetry, of its columns. Only 64-wide chunks whose maximum beats the row's current K-th
    score are opened: an int16 max-reduction per direction instead of a top-k of the tile."""
    import torch

    bi, bj = S.shape
    Si = S.view(torch.int16)
    # rows of the tile against 64-column chunks
    hr, hc = (Si.view(bi, bj // _CW, _CW).amax(-1) > _key(best_a, r0, bi)[:, None]).nonzero(as_tuple=True)
    _fold(best_a, best_i, hr + r0, S.view(bi, bj // _CW, _CW)[hr, hc], hc * _CW + c0, n)
    # columns of the tile against 64-row chunks
    hr, hc = (Si.view(bi // _CW, _CW, bj).amax(1) > _key(best_a, c0, bj)[None, :]).nonzero(as_tuple=True)
    _fold(best_a, best_i, hc + c0, S.view(bi // _CW, _CW, bj)[hr, :, hc], hr * _CW + r0, n)


def _key(best_a, r0: int, m: int):
    """int32 keys of the current K-th scores of rows ``r0..r0+m``, comparable with the int16 bit
    patterns of bf16 scores: for ``t > 0``, ``x > t`` iff ``int16(x) > int16(t)`` (negative x
    have negative patterns). Rows with ``t <= 0`` get a key below every pattern, so all their
    chunks are opened (correct, only slower)."""
    import torch

    t = best_a[r0:r0 + m, -1]
    return torch.where(t > 0, t.view(torch.int16).int(), torch.full(t.shape, -65536, dtype=torch.int32))


def _fold(best_a, best_i, rows, vals, col0, n: int) -> None:
    """Merge chunks of candidates into the running top-K lists: ``rows [h]`` row numbers,
    ``vals [h, 64]`` bf16 scores of columns ``col0[h] + 0..63`` (columns >= n are padding)."""
    import torch

    K = best_a.shape[1]
    cols = col0[:, None] + torch.arange(vals.shape[1])
    e_r, e_c = ((vals > best_a[rows, -1][:, None]) & (cols < n)).nonzero(as_tuple=True)
    if not len(e_r):
        return
    rows, order = torch.sort(rows[e_r], stable=True)
    vals, cols = vals[e_r, e_c][order], cols[e_r, e_c][order]
    uniq, counts = torch.unique_consecutive(rows, return_counts=True)
    slot = torch.repeat_interleave(torch.arange(len(uniq)), counts)
    pos = K + torch.arange(len(rows)) - (torch.cumsum(counts, 0) - counts)[slot]
    A = torch.full((len(uniq), K + int(counts.max())), -math.inf, dtype=best_a.dtype)
    idx = torch.full(A.shape, -1, dtype=torch.int64)
    A[:, :K], idx[:, :K] = best_a[uniq], best_i[uniq]
    A[slot, pos], idx[slot, pos] = vals, cols
    a, j = torch.topk(A, K, dim=1)
    best_a[uniq], best_i[uniq] = a, torch.gather(idx, 1, j)


def _bf16_rows(B: _Bf16, rows: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Level 2: the K largest bf16 scores of ``rows`` against all other rows (dense, by chunk)."""
    import torch

    n = B.n
    chunk = max(1, 2 ** 24 // n)
    out_a, out_i = np.empty((len(rows), K), np.float32), np.empty((len(rows), K), np.int64)
    for s in range(0, len(rows), chunk):
        r = torch.from_numpy(rows[s:s + chunk])
        S = B.left[r] @ B.right[:n].T
        S[torch.arange(len(r)), r] = -math.inf
        a, j = torch.topk(S, K, dim=1)
        out_a[s:s + chunk], out_i[s:s + chunk] = a.float().numpy(), j.numpy()
    return out_a, out_i


def _rerank(U: np.ndarray, B: _Bf16, rows: np.ndarray, cand: np.ndarray, cand_a: np.ndarray,
            k: int, chunk: int = 256):
    """Exact top k of the candidate lists ``cand [r, K]`` of ``rows``: ``idx [r, k]``,
    ``sim [r, k]`` (float64), by (-score, index).

    Float64 scores are computed only for candidates that can be in the top k: those whose upper
    bound ``upper_i(a_ij)`` reaches the k-th largest lower bound ``a - (upper_i(a) - a)`` (any
    other candidate is below k candidates for sure, so its score is left at -inf)."""
    kth_lower = -np.partition(-B.lower(cand_a, rows[:, None]), k - 1, axis=1)[:, k - 1]
    r, c = np.nonzero(B.upper(cand_a, rows[:, None]) >= kth_lower[:, None])
    pi, pj = rows[r], cand[r, c]
    scores = np.full(cand.shape, -np.inf)
    for s in range(0, len(r), chunk):
        x, y = U[pi[s:s + chunk]].astype(np.float64), U[pj[s:s + chunk]].astype(np.float64)
        scores[r[s:s + chunk], c[s:s + chunk]] = np.einsum("pd,pd->p", x, y)
    return _first_k(scores, cand, k)


def _first_k(scores: np.ndarray, cand: np.ndarray, k: int):
    """Per row, the k entries of largest score, ties by lower index, in that order."""
    order = np.lexsort((cand, -scores), axis=1)[:, :k]
    return np.take_along_axis(cand, order, 1), np.take_along_axis(scores, order, 1)


def _exact_rows(U: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Level 3 and ``method="exact"``: float64 scores of ``rows`` against every row, by chunk;
    every j tied with the k-th score is kept before ``_first_k`` breaks the ties by index."""
    n = len(U)
    idx, sim = np.empty((len(rows), k), np.int64), np.empty((len(rows), k))
    chunk = max(1, 2 ** 22 // n)
    for s in range(0, len(rows), chunk):
        r = rows[s:s + chunk]
        S = np.empty((len(r), n))
        q = U[r].astype(np.float64)
        for c in range(0, n, _CHUNK):
            S[:, c:c + _CHUNK] = q @ U[c:c + _CHUNK].astype(np.float64).T
        S[np.arange(len(r)), r] = -np.inf
        kth = -np.partition(-S, k - 1, axis=1)[:, k - 1]
        width = int((S >= kth[:, None]).sum(axis=1).max())
        cand = np.argpartition(-S, width - 1, axis=1)[:, :width]
        idx[s:s + chunk], sim[s:s + chunk] = _first_k(np.take_along_axis(S, cand, 1), cand, k)
    return idx, sim.astype(np.float32)
