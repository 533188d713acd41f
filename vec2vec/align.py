"""Representation-alignment ("Platonic representation") metrics between two embedders, at scale.

Every metric takes two *paired* arrays ``X [n, d1]`` and ``Y [n, d2]`` (row i of both describes the
same text; the dimensions may differ) and returns a float. Definitions are given exactly in each
function's docstring, with the paper it comes from.

Scale (why the code looks the way it does):

* k-nearest neighbours are exact cosine neighbours of L2-normalised rows (``knn``): candidates
  come from a bfloat16 pass over the similarity matrix, tile by tile (upper triangle only, it is
  symmetric; memory O(n k + tile^2), never n x n), are re-ranked with float64 scores, and each
  row carries a certificate (a rigorous bound on the bf16 error) that no other row can enter its
  top k; the few uncertified rows are recomputed exactly. Same lists as a float64 search.
* linear CKA, SVCCA and the Procrustes distance only need feature-space products ``X^T Y`` (d1 x d2),
  accumulated in float64 over row chunks: memory O(d1 d2 + chunk d), never n x n.
* RBF CKA and RSA need n x n kernels by definition: above ``max_n`` rows they use a seeded random
  subsample of ``max_n`` paired rows (the same rows in both spaces) and say so in ``describe()``.

Permutation null: shuffling the pairing (rows of Y) destroys any correspondence while keeping each
space's geometry. Each metric is split into a per-space ``prepare`` step (neighbour lists, centred
features, kernels) and a cheap ``score(state_x, state_y, perm)`` step, so the null distribution of
kNN metrics costs O(n k) per permutation instead of a new neighbour search.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from vec2vec.validation import check_paired, check_vectors

#: rows per chunk when feature-space products are accumulated in float64
_CHUNK = 8192
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# input checks and small helpers
# --------------------------------------------------------------------------------------------

def _check_pair(X, Y, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate a paired couple of arrays -> float32 ``[n, d1]``, ``[n, d2]``."""
    X = check_vectors(X, "X", min_rows=1)
    Y = check_vectors(Y, "Y", min_rows=1)
    check_paired(X, Y)
    if len(X) < min_rows:
        raise ValueError(f"X, Y: need at least {min_rows} paired rows for this metric, got {len(X)}")
    return X, Y


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


def _subsample(n: int, max_n: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded subsample of ``max_n`` rows, or None when n <= max_n."""
    if max_n is None or n <= max_n:
        return None
    if max_n < 4:
        raise ValueError(f"max_n must be at least 4, got {max_n}")
    return np.sort(np.random.default_rng(seed).choice(n, size=max_n, replace=False))


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


def _inverse(perm: np.ndarray) -> np.ndarray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv


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


def knn(X, k: int = 10, block: int = 4096, margin: int = 20, method: str = "certified",
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


def _permute_neighbours(idx: np.ndarray, perm: np.ndarray | None) -> np.ndarray:
    """Neighbour lists of ``Y[perm]`` from those of ``Y``: relabel instead of searching again."""
    if perm is None:
        return idx
    return _inverse(perm)[idx[perm]]


def _overlap(idx_a: np.ndarray, idx_b: np.ndarray) -> np.ndarray:
    """``[n, k, k]`` bool: ``out[i, p, q]`` is True when ``idx_a[i, p] == idx_b[i, q]``."""
    return idx_a[:, :, None] == idx_b[:, None, :]


# --------------------------------------------------------------------------------------------
# per-space statistics (computed once per space, reused by every metric and permutation)
# --------------------------------------------------------------------------------------------

class Space:
    """Lazily computed statistics of one embedding space ``X [n, d]`` used by the metrics.

    Args:
        X: ``[n, d]`` vectors.
        k: neighbours for kNN metrics. ``max_n``/``seed``: subsample for n x n metrics
        (RBF CKA, RSA); two spaces compared must share ``n``, ``max_n`` and ``seed``.
        sigma: RBF bandwidth as a fraction of the median pairwise Euclidean distance.
    """

    def __init__(self, X, k: int = 10, max_n: int | None = 2000, seed: int = 0,
                 sigma: float = 1.0, name: str = "X"):
        self.X = check_vectors(X, name)
        self.n, self.d = self.X.shape
        self.k, self.max_n, self.seed, self.sigma, self.name = k, max_n, seed, sigma, name
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # kNN ------------------------------------------------------------------------------------
    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """``(idx [n,k], sim [n,k])`` exact cosine neighbours, self excluded."""
        return self._get("knn", lambda: knn(self.X, self.k))

    def row_mean_sim(self) -> np.ndarray:
        """``[n]`` float64: mean cosine similarity of row i to the other n-1 rows."""
        def f():
            U = _unit_rows(self.X).astype(np.float64)
            total = U.sum(axis=0)
            self_sim = np.einsum("ij,ij->i", U, U)  # 1, or 0 for an all-zero row
            return (U @ total - self_sim) / (self.n - 1)
        return self._get("rowmean", f)

    # centred features -----------------------------------------------------------------------
    def centred(self) -> np.ndarray:
        """``[n, d]`` float32 column-centred features (mean taken in float64)."""
        def f():
            mean = self.X.mean(axis=0, dtype=np.float64)
            out = np.empty_like(self.X)
            for s in range(0, self.n, _CHUNK):  # chunked: no n x d float64 copy
                out[s:s + _CHUNK] = self.X[s:s + _CHUNK].astype(np.float64) - mean
            return out
        return self._get("centred", f)

    def gram(self) -> np.ndarray:
        """``[d, d]`` float64 ``Xc^T Xc`` of the centred features."""
        return self._get("gram", lambda: cross_product(self.centred(), self.centred()))

    def sq_norms(self) -> np.ndarray:
        """``[n]`` float64 squared norms of the centred rows (diagonal of the linear kernel)."""
        def f():
            Xc = self.centred()
            return np.concatenate([np.einsum("ij,ij->i", c, c) for c in
                                   (Xc[s:s + _CHUNK].astype(np.float64) for s in range(0, self.n, _CHUNK))])
        return self._get("sqn", f)

    def kernel_row_sums(self) -> np.ndarray:
        """``[n]`` float64 row sums of the linear kernel with zeroed diagonal: ``Xc (Xc^T 1) - a``."""
        def f():
            Xc = self.centred()
            total = Xc.sum(axis=0, dtype=np.float64)
            return np.concatenate([Xc[s:s + _CHUNK].astype(np.float64) @ total
                                   for s in range(0, self.n, _CHUNK)]) - self.sq_norms()
        return self._get("ksum", f)

    def top_directions(self, dim: int) -> np.ndarray:
        """``[n, dim]`` orthonormal basis of the top-``dim`` principal subspace (left singular vectors)."""
        def f():
            if dim > min(self.d, self.n - 1):
                raise ValueError(f"{self.name}: svcca dim={dim} exceeds min(d={self.d}, n-1={self.n - 1})")
            with _lapack_one_thread():
                evals, evecs = np.linalg.eigh(self.gram())
            evals, evecs = evals[::-1][:dim], evecs[:, ::-1][:, :dim]
            if evals[-1] <= 1e-12 * max(evals[0], 1e-300):
                raise ValueError(f"{self.name}: rank below svcca dim={dim} (centred data is degenerate)")
            U = (self.centred().astype(np.float64) @ evecs) / np.sqrt(evals)
            # one QR pass removes the small loss of orthogonality from the eigh route
            with _lapack_one_thread():
                return np.linalg.qr(U)[0]
        return self._get(f"svd{dim}", f)

    # dense n x n statistics on a subsample ---------------------------------------------------
    def sub_index(self) -> np.ndarray | None:
        return _subsample(self.n, self.max_n, self.seed)

    def _sub(self) -> np.ndarray:
        idx = self.sub_index()
        return (self.X if idx is None else self.X[idx]).astype(np.float64)

    def rbf_kernel(self) -> np.ndarray:
        """``[m, m]`` float64 RBF kernel on the (sub)sample, bandwidth ``sigma * median distance``."""
        def f():
            Z = self._sub()
            sq = np.einsum("ij,ij->i", Z, Z)
            D2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T), 0.0)
            np.fill_diagonal(D2, 0.0)
            iu = np.triu_indices(len(Z), 1)
            med = float(np.median(np.sqrt(D2[iu])))
            if med <= 0:
                raise ValueError(f"{self.name}: median pairwise distance is 0; RBF bandwidth undefined")
            bw = self.sigma * med
            return np.exp(-D2 / (2.0 * bw * bw))
        return self._get("rbf", f)

    def rank_matrix(self) -> np.ndarray:
        """``[m, m]`` float64 symmetric matrix of the ranks (average ties) of the upper-triangle
        cosine similarities of the (sub)sample; zero diagonal."""
        def f():
            from scipy.stats import rankdata
            U = _unit_rows(self._sub()).astype(np.float64)
            S = U @ U.T
            m = len(S)
            iu = np.triu_indices(m, 1)
            R = np.zeros((m, m))
            R[iu] = rankdata(S[iu])
            return R + R.T
        return self._get("ranks", f)


_CROSS_MEMO: dict = {}


def cross_product(A: np.ndarray, B: np.ndarray, perm: np.ndarray | None = None,
                  chunk: int = _CHUNK) -> np.ndarray:
    """``A^T B[perm]`` (``[d1, d2]`` float64) accumulated over row chunks in float64.

    Memory O(d1 d2 + chunk (d1 + d2)); ``A`` and ``B`` are ``[n, d1]``, ``[n, d2]``. The last
    result is memoised (linear CKA, unbiased CKA and Procrustes share it for one permutation).
    """
    key = (id(A), id(B), None if perm is None else id(perm))
    hit = _CROSS_MEMO.get("last")
    if hit is not None and hit[0] == key and hit[1] is A and hit[2] is B and hit[3] is perm:
        return hit[4]
    out = np.zeros((A.shape[1], B.shape[1]))
    for s in range(0, len(A), chunk):
        rows = slice(s, s + chunk)
        b = B[rows] if perm is None else B[perm[rows]]
        out += A[rows].astype(np.float64).T @ b.astype(np.float64)
    _CROSS_MEMO["last"] = (key, A, B, perm, out)
    return out


# --------------------------------------------------------------------------------------------
# metric definitions: score functions on prepared spaces
# --------------------------------------------------------------------------------------------

def _s_mutual_knn(a: Space, b: Space, perm=None) -> float:
    ia = a.neighbours()[0]
    ib = _permute_neighbours(b.neighbours()[0], perm)
    return float(_overlap(ia, ib).sum() / ia.size)


def _s_jaccard_knn(a: Space, b: Space, perm=None) -> float:
    ia = a.neighbours()[0]
    ib = _permute_neighbours(b.neighbours()[0], perm)
    m = _overlap(ia, ib).sum(axis=(1, 2))
    k = ia.shape[1]
    return float(np.mean(m / (2 * k - m)))


def _s_cycle_knn(a: Space, b: Space, perm=None) -> float:
    ia = a.neighbours()[0]
    ib = _permute_neighbours(b.neighbours()[0], perm)
    n = len(ia)
    hit = np.zeros(n, dtype=bool)
    # chunked so the [rows, k, k] gather stays small at n = 100k
    for s in range(0, n, _CHUNK):
        rows = np.arange(s, min(n, s + _CHUNK))
        back = ia[ib[rows]]  # [rows, k, k]: A-neighbours of each B-neighbour j of i
        hit[rows] = (back == rows[:, None, None]).any(axis=(1, 2))
    return float(hit.mean())


def _cknna_align(ia, sa, ma, ib, sb, mb) -> float:
    """sum_i sum_{j in N_a(i) & N_b(i)} (K_ij - mu^K_i)(L_ij - mu^L_i) from neighbour lists."""
    ov = _overlap(ia, ib)  # [n, k, k]
    ca = (sa.astype(np.float64) - ma[:, None])[:, :, None]
    cb = (sb.astype(np.float64) - mb[:, None])[:, None, :]
    return float(np.sum(np.where(ov, ca * cb, 0.0)))


def _s_cknna(a: Space, b: Space, perm=None) -> float:
    ia, sa = a.neighbours()
    ib, sb = b.neighbours()
    ma, mb = a.row_mean_sim(), b.row_mean_sim()
    if perm is not None:
        ib, sb, mb = _permute_neighbours(ib, perm), sb[perm], mb[perm]
    ca = sa.astype(np.float64) - ma[:, None]
    cb = sb.astype(np.float64) - mb[:, None]
    kk = float(np.sum(ca * ca))  # N(i) & N(i) = N(i)
    ll = float(np.sum(cb * cb))
    if kk <= 0 or ll <= 0:
        return 0.0
    return _cknna_align(ia, sa, ma, ib, sb, mb) / math.sqrt(kk * ll)


def _linear_hsic_biased(a: Space, b: Space, perm=None) -> tuple[float, float, float]:
    cross = cross_product(a.centred(), b.centred(), perm)
    return float(np.sum(cross * cross)), float(np.sum(a.gram() ** 2)), float(np.sum(b.gram() ** 2))


def _hsic_unbiased_terms(tr_kl: float, sum_k: float, sum_l: float, kl_1: float, n: int) -> float:
    """Song et al. (2012) unbiased HSIC from its four sufficient statistics (K, L zero-diagonal):
    ``[tr(KL) + (1'K1)(1'L1)/((n-1)(n-2)) - 2/(n-2) 1'KL1] / (n(n-3))``."""
    return (tr_kl + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 * kl_1 / (n - 2)) / (n * (n - 3))


def _linear_hsic_unbiased(a: Space, b: Space, perm=None):
    n = a.n
    if n < 4:
        raise ValueError(f"unbiased HSIC needs n >= 4 rows, got {n}")

    def stats(x: Space, p):
        sq = x.sq_norms() if p is None else x.sq_norms()[p]
        rs = x.kernel_row_sums() if p is None else x.kernel_row_sums()[p]
        return sq, rs

    (aa, ra), (bb, rb) = stats(a, None), stats(b, perm)
    cross = cross_product(a.centred(), b.centred(), perm)
    h_ab = _hsic_unbiased_terms(float(np.sum(cross ** 2) - aa @ bb), float(ra.sum()), float(rb.sum()),
                                float(ra @ rb), n)
    h_aa = _hsic_unbiased_terms(float(np.sum(a.gram() ** 2) - aa @ aa), float(ra.sum()), float(ra.sum()),
                                float(ra @ ra), n)
    h_bb = _hsic_unbiased_terms(float(np.sum(b.gram() ** 2) - bb @ bb), float(rb.sum()), float(rb.sum()),
                                float(rb @ rb), n)
    return h_ab, h_aa, h_bb


def _cka_ratio(h_ab: float, h_aa: float, h_bb: float) -> float:
    if h_aa <= 0 or h_bb <= 0:
        raise ValueError("CKA undefined: one representation has zero (or, unbiased, non-positive) "
                         "self-HSIC (constant features?)")
    return h_ab / math.sqrt(h_aa * h_bb)


def _s_cka_linear(a, b, perm=None):
    return _cka_ratio(*_linear_hsic_biased(a, b, perm))


def _s_cka_linear_unbiased(a, b, perm=None):
    return _cka_ratio(*_linear_hsic_unbiased(a, b, perm))


def _centre_kernel(K: np.ndarray) -> np.ndarray:
    """``H K H`` with ``H = I - 11'/n``."""
    return K - K.mean(axis=0, keepdims=True) - K.mean(axis=1, keepdims=True) + K.mean()


def _dense_perm(M: np.ndarray, perm: np.ndarray | None, sub: np.ndarray | None, n: int) -> np.ndarray:
    """Kernel of ``Y[perm]`` restricted to the subsample, from the kernel of ``Y`` on its subsample.

    Without subsampling: ``M[perm][:, perm]``. With a subsample, permuting all n rows and then
    subsampling would need rows outside the stored kernel, so the null permutes *within* the
    subsample instead (the pairing is shuffled among the m kept rows: still a valid null)."""
    if perm is None:
        return M
    p = perm if sub is None else _sub_perm(perm, len(M))
    return M[np.ix_(p, p)]


def _sub_perm(perm: np.ndarray, m: int) -> np.ndarray:
    """A permutation of ``range(m)`` derived deterministically from a permutation of ``range(n)``."""
    return np.argsort(perm[:m], kind="stable") if len(perm) > m else perm


def _s_cka_rbf(a: Space, b: Space, perm=None, unbiased=False) -> float:
    K = a.rbf_kernel()
    L = _dense_perm(b.rbf_kernel(), perm, b.sub_index(), b.n)
    if unbiased:
        return _cka_ratio(_hsic_unbiased_dense(K, L), _hsic_unbiased_dense(K, K), _hsic_unbiased_dense(L, L))
    # tr(HKH HLH) = <HKH, L> (H idempotent), and ||HLH|| does not change under a permutation
    Kc = a._get("rbf_centred", lambda: _centre_kernel(K))
    kk = a._get("rbf_norm2", lambda: float(np.sum(Kc * Kc)))
    ll = b._get("rbf_norm2", lambda: float(np.sum(_centre_kernel(b.rbf_kernel()) ** 2)))
    return _cka_ratio(float(np.vdot(Kc.ravel(), L.ravel())), kk, ll)


def _hsic_unbiased_dense(K: np.ndarray, L: np.ndarray) -> float:
    n = len(K)
    if n < 4:
        raise ValueError(f"unbiased HSIC needs n >= 4 rows, got {n}")
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0.0)
    np.fill_diagonal(Lt, 0.0)
    rk, rl = Kt.sum(axis=1), Lt.sum(axis=1)
    return _hsic_unbiased_terms(float(np.sum(Kt * Lt)), float(rk.sum()), float(rl.sum()), float(rk @ rl), n)


def _s_svcca(a: Space, b: Space, perm=None, dim=10) -> float:
    Ua = a.top_directions(dim)
    Ub = b.top_directions(dim)
    if perm is not None:
        Ub = Ub[perm]
    with _lapack_one_thread():
        rho = np.linalg.svd(Ua.T @ Ub, compute_uv=False)
    return float(np.mean(np.clip(rho, 0.0, 1.0)))


def _s_rsa(a: Space, b: Space, perm=None) -> float:
    Ra = a.rank_matrix()
    Rb = _dense_perm(b.rank_matrix(), perm, b.sub_index(), b.n)
    m = len(Ra)
    npair = m * (m - 1) / 2
    # Pearson of the upper-triangle ranks; mean/var of ranks do not depend on the permutation.
    mom_a = a._get("rank_moments", lambda: (Ra.sum() / (2 * npair), np.sum(Ra * Ra) / 2 / npair))
    mom_b = b._get("rank_moments", lambda: (b.rank_matrix().sum() / (2 * npair),
                                            np.sum(b.rank_matrix() ** 2) / 2 / npair))
    (mean_a, sq_a), (mean_b, sq_b) = mom_a, mom_b
    cov = np.vdot(Ra.ravel(), Rb.ravel()) / 2 / npair - mean_a * mean_b
    var_a = sq_a - mean_a ** 2
    var_b = sq_b - mean_b ** 2
    if var_a <= 0 or var_b <= 0:
        raise ValueError("RSA undefined: all pairwise similarities are equal in one space")
    return float(cov / math.sqrt(var_a * var_b))


def _procrustes_nuclear(a: Space, b: Space, perm=None) -> float:
    cross = cross_product(a.centred(), b.centred(), perm)
    na, nb = math.sqrt(np.trace(a.gram())), math.sqrt(np.trace(b.gram()))
    if na <= 0 or nb <= 0:
        raise ValueError("Procrustes distance undefined: a representation is constant")
    with _lapack_one_thread():
        nuclear = np.linalg.svd(cross, compute_uv=False).sum()
    return float(nuclear / (na * nb))


def _s_procrustes(a, b, perm=None) -> float:
    return math.sqrt(max(0.0, 2.0 - 2.0 * min(1.0, _procrustes_nuclear(a, b, perm))))


def _s_procrustes_angular(a, b, perm=None) -> float:
    return math.acos(max(-1.0, min(1.0, _procrustes_nuclear(a, b, perm))))


@dataclasses.dataclass(frozen=True)
class Metric:
    """A registered metric: ``score(space_a, space_b, perm)``; ``higher_is_similar`` False for
    distances (the permutation p-value then counts null values <= the score)."""
    name: str
    score: Callable[..., float]
    higher_is_similar: bool = True
    symmetric: bool = True
    dense: bool = False  # uses an n x n (sub)sample
    identity: float = 1.0  # value of metric(X, X) (nan: data dependent)


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("mutual_knn", _s_mutual_knn),
    Metric("cycle_knn", _s_cycle_knn, symmetric=False, identity=float("nan")),
    Metric("jaccard_knn", _s_jaccard_knn),
    Metric("cka_linear", _s_cka_linear),
    Metric("cka_linear_unbiased", _s_cka_linear_unbiased),
    Metric("cka_rbf", _s_cka_rbf, dense=True),
    Metric("cka_rbf_unbiased", lambda a, b, perm=None: _s_cka_rbf(a, b, perm, unbiased=True), dense=True),
    Metric("cknna", _s_cknna),
    Metric("svcca", _s_svcca),
    Metric("rsa", _s_rsa, dense=True),
    Metric("procrustes", _s_procrustes, higher_is_similar=False, identity=0.0),
    Metric("procrustes_angular", _s_procrustes_angular, higher_is_similar=False, identity=0.0),
]}


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ValueError(f"unknown alignment metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[name]


# --------------------------------------------------------------------------------------------
# public one-call API
# --------------------------------------------------------------------------------------------

def _spaces(X, Y, **kw) -> tuple[Space, Space]:
    X, Y = _check_pair(X, Y)
    return Space(X, name="X", **kw), Space(Y, name="Y", **kw)


def mutual_knn(X, Y, k: int = 10) -> float:
    """Mutual k-nearest-neighbour alignment (Huh et al. 2024, "The Platonic Representation
    Hypothesis", ICML).

    ``(1/n) sum_i |N_X(i) & N_Y(i)| / k`` where ``N_X(i)`` are the k rows with the highest cosine
    similarity to row i of X, i itself excluded. 1 = identical neighbourhoods; the expected value
    for unrelated spaces is ``k/(n-1)``. Invariant to rotation and scaling of either space (not
    to translation: cosine is taken about the origin). Falls as n grows (see ``gallery_sweep``).
    """
    a, b = _spaces(X, Y, k=_check_k(k, len(X)))
    return _s_mutual_knn(a, b)


def jaccard_knn(X, Y, k: int = 10) -> float:
    """Mean Jaccard index of the two cosine kNN sets (kNN-Jaccard similarity, e.g. Schumacher et
    al. 2021; survey: Klabunde et al. 2023, "Similarity of Neural Network Models").

    ``(1/n) sum_i |N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)|``, self excluded. 1 = identical sets.
    Same invariances as ``mutual_knn``.
    """
    a, b = _spaces(X, Y, k=_check_k(k, len(X)))
    return _s_jaccard_knn(a, b)


def cycle_knn(X, Y, k: int = 10) -> float:
    """Cycle kNN (Huh et al. 2024, released platonic-rep metrics).

    Fraction of rows i for which some ``j in N_Y(i)`` has ``i in N_X(j)``: step to a neighbour in
    Y, step back through X's neighbourhoods, land on i. Asymmetric in (X, Y). Cosine kNN, self
    excluded; rotation and scale invariant. Chance ~ ``1 - (1 - k/(n-1))^k``. Note
    ``cycle_knn(X, X) <= 1``: it is the reciprocity of X's kNN graph (a row need not be a
    neighbour of any of its own neighbours), so compare pairs to the self scores.
    """
    a, b = _spaces(X, Y, k=_check_k(k, len(X)))
    return _s_cycle_knn(a, b)


def cknna(X, Y, k: int = 10) -> float:
    """Centred kernel nearest-neighbour alignment, CKNNA (Huh et al. 2024, Appendix A formula).

    With cosine kernels ``K_ij = cos(x_i, x_j)``, ``L_ij = cos(y_i, y_j)`` and row means over the
    other rows ``mu^K_i = (1/(n-1)) sum_{l != i} K_il``:
    ``Align(K, L) = sum_i sum_{j in N_K(i) & N_L(i)} (K_ij - mu^K_i)(L_ij - mu^L_i)``,
    ``CKNNA = Align(K, L) / sqrt(Align(K, K) Align(L, L))`` (``N_K(i) & N_K(i) = N_K(i)``).
    Only pairs that are mutual k-neighbours contribute, so it needs O(n k) memory. (The reference
    code instead applies unbiased HSIC to mask-multiplied n x n Grams; we follow the paper's
    formula.) 1 for identical spaces; rotation and scale invariant.
    """
    a, b = _spaces(X, Y, k=_check_k(k, len(X)))
    return _s_cknna(a, b)


def cka(X, Y, kernel: str = "linear", unbiased: bool = False, sigma: float = 1.0,
        max_n: int | None = 2000, seed: int = 0) -> float:
    """Centred kernel alignment (Kornblith et al. 2019, "Similarity of Neural Network
    Representations Revisited", ICML), on raw (not normalised) features.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``.
    * biased HSIC: ``tr(K H L H)`` (the 1/(n-1)^2 cancels), ``H = I - 11'/n``.
    * unbiased HSIC (Song et al. 2012, JMLR): with zeroed diagonals,
      ``[tr(KL) + (1'K1)(1'L1)/((n-1)(n-2)) - 2/(n-2) 1'KL1] / (n(n-3))``; CKA of independent data is
      then ~0 rather than biased upwards.
    * ``kernel="linear"``: ``K = Xc Xc^T`` on column-centred X, computed exactly from d x d products
      (``tr(KHLH) = ||Xc^T Yc||_F^2``), memory O(d1 d2), any n. Invariant to rotation, isotropic
      scaling and translation.
    * ``kernel="rbf"``: ``K_ij = exp(-||x_i - x_j||^2 / (2 s^2))``, ``s = sigma x median pairwise
      distance``; needs n x n kernels, so above ``max_n`` rows a seeded random subsample of
      ``max_n`` paired rows is used (``max_n=None`` disables). Rotation/translation/scale invariant.
    """
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"cka kernel must be 'linear' or 'rbf', got {kernel!r}")
    a, b = _spaces(X, Y, max_n=max_n, seed=seed, sigma=sigma)
    if kernel == "linear":
        return _s_cka_linear_unbiased(a, b) if unbiased else _s_cka_linear(a, b)
    return _s_cka_rbf(a, b, unbiased=unbiased)


def svcca(X, Y, dim: int = 10) -> float:
    """Singular-vector CCA (Raghu et al. 2017, "SVCCA", NeurIPS).

    Centre the columns, keep each space's top-``dim`` principal directions (SVD; ``dim=10`` as in
    platonic-rep), then the mean of the ``dim`` canonical correlations between the two reduced
    representations (= singular values of ``U_X^T U_Y`` for orthonormal bases U of the reduced
    data). Computed through d x d covariance eigendecompositions: O(n d^2) time, O(d^2 + n dim)
    memory. In [0, 1]; invariant to rotation, isotropic scaling and translation.
    """
    a, b = _spaces(X, Y)
    return _s_svcca(a, b, dim=dim)


def rsa(X, Y, max_n: int | None = 2000, seed: int = 0) -> float:
    """Representational similarity analysis (Kriegeskorte et al. 2008, Front. Syst. Neurosci.).

    Spearman rank correlation between the upper triangles (i < j) of the two cosine-similarity
    matrices (average ranks for ties). Needs all pairs, so above ``max_n`` rows a seeded random
    subsample of ``max_n`` paired rows is used (``max_n=None`` disables). Rotation and scale
    invariant.
    """
    a, b = _spaces(X, Y, max_n=max_n, seed=seed)
    return _s_rsa(a, b)


def procrustes_distance(X, Y, angular: bool = False) -> float:
    """Orthogonal Procrustes shape distance (Ding et al. 2021, "Grounding Representation Similarity
    with Statistical Testing"; angular form: Williams et al. 2021, "Generalized Shape Metrics on
    Neural Representations").

    Centre columns, scale each to unit Frobenius norm (``Xn``, ``Yn``), zero-pad the narrower one;
    ``min_Q ||Xn - Yn Q||_F^2 = 2 - 2 ||Xn^T Yn||_*`` over orthogonal Q (nuclear norm). Returns
    ``sqrt(2 - 2 ||Xn^T Yn||_*)`` in [0, sqrt 2], or ``arccos(||Xn^T Yn||_*)`` in [0, pi/2] when
    ``angular``. 0 = same shape; a *distance* (lower = more alike). Invariant to rotation,
    isotropic scaling and translation. d x d products only.
    """
    a, b = _spaces(X, Y)
    return _s_procrustes_angular(a, b) if angular else _s_procrustes(a, b)


# --------------------------------------------------------------------------------------------
# null calibration
# --------------------------------------------------------------------------------------------

_PUBLIC = {mutual_knn: "mutual_knn", cycle_knn: "cycle_knn", jaccard_knn: "jaccard_knn",
           cknna: "cknna", svcca: "svcca", rsa: "rsa"}


def _resolve(metric, kwargs: dict) -> tuple[Metric | None, dict, dict]:
    """Map a metric name or public function (+ kwargs) to a registered metric, the Space kwargs,
    and extra score kwargs; (None, ...) for an arbitrary callable."""
    kwargs = dict(kwargs)
    space_kw = {key: kwargs.pop(key) for key in ("k", "max_n", "seed", "sigma") if key in kwargs}
    if metric is cka:
        kernel, unb = kwargs.pop("kernel", "linear"), kwargs.pop("unbiased", False)
        metric = f"cka_{kernel}" + ("_unbiased" if unb else "")
    elif metric is procrustes_distance:
        metric = "procrustes_angular" if kwargs.pop("angular", False) else "procrustes"
    elif metric in _PUBLIC:
        metric = _PUBLIC[metric]
    if isinstance(metric, str):
        m = get_metric(metric)
        if kwargs and m.name != "svcca":
            raise ValueError(f"unexpected options for {m.name}: {sorted(kwargs)}")
        return m, space_kw, kwargs
    if not callable(metric):
        raise ValueError(f"metric must be a name ({', '.join(METRICS)}) or a callable, got {metric!r}")
    return None, space_kw, kwargs


def _p_value(score: float, null: np.ndarray, higher: bool) -> float:
    """Permutation p-value with the +1 correction (Phipson & Smyth 2010): never exactly 0."""
    extreme = np.sum(null >= score - 1e-12) if higher else np.sum(null <= score + 1e-12)
    return float((1 + extreme) / (1 + len(null)))


def permutation_test(metric, X, Y, n_perm: int = 100, seed: int = 0, **kwargs) -> dict:
    """Score ``metric(X, Y)`` against a null from shuffled pairings.

    Args:
        metric: a name from ``METRICS`` (e.g. ``"mutual_knn"``), one of this module's metric
            functions, or any callable ``f(X, Y, **kwargs) -> float`` (recomputed per permutation).
        X, Y: paired ``[n, d1]``, ``[n, d2]``.
        n_perm: permutations of the rows of Y. seed: seeds the permutations.
        kwargs: metric options (``k``, ``max_n``, ``dim``, ``kernel``, ``unbiased``, ...).
    Returns:
        ``{"score", "null_mean", "null_std", "p_value", "n_perm"}``; p-value is one-sided toward
        "more similar than chance" (score >= null for similarities, <= for distances), with the
        +1 correction, so its floor is ``1/(n_perm+1)``.
    Registered metrics reuse per-space statistics, so a permutation of a kNN metric costs O(n k).
    For RBF CKA / RSA above ``max_n`` rows the shuffle happens within the subsample.
    """
    if not isinstance(n_perm, (int, np.integer)) or n_perm < 1:
        raise ValueError(f"n_perm must be a positive integer, got {n_perm!r}")
    m, space_kw, extra = _resolve(metric, kwargs)
    X, Y = _check_pair(X, Y)
    rng = np.random.default_rng(seed)
    if m is None:
        score = float(metric(X, Y, **space_kw, **extra))
        null = np.array([float(metric(X, Y[rng.permutation(len(Y))], **space_kw, **extra))
                         for _ in range(n_perm)])
        higher = True
    else:
        if "k" in space_kw:
            _check_k(space_kw["k"], len(X))
        elif m.name in ("mutual_knn", "cycle_knn", "jaccard_knn", "cknna"):
            _check_k(10, len(X))
        a, b = Space(X, name="X", **space_kw), Space(Y, name="Y", **space_kw)
        score = m.score(a, b, **extra)
        null = np.array([m.score(a, b, rng.permutation(len(Y)), **extra) for _ in range(n_perm)])
        higher = m.higher_is_similar
    return {"score": score, "null_mean": float(null.mean()), "null_std": float(null.std(ddof=1))
            if n_perm > 1 else 0.0, "p_value": _p_value(score, null, higher), "n_perm": int(n_perm)}


# --------------------------------------------------------------------------------------------
# gallery-size sweep
# --------------------------------------------------------------------------------------------

def default_sizes(n: int, smallest: int = 250) -> list[int]:
    """Gallery sizes for a sweep: powers of two times ``smallest`` up to n, plus n itself."""
    sizes, s = [], smallest
    while s < n:
        sizes.append(s)
        s *= 2
    return sizes + [n]


def gallery_sweep(X, Y, sizes: Sequence[int] | None = None,
                  metrics: Sequence[str] = ("mutual_knn", "cka_linear"),
                  k: int = 10, seed: int = 0, max_n: int | None = 2000) -> dict:
    """Alignment scores on nested random galleries of growing size n' (the "gallery effect").

    kNN scores fall as the gallery grows (more candidates compete for the k slots), so a score
    is only comparable at a fixed n. Subsets are prefixes of one seeded permutation (nested).
    Returns ``{"sizes": [...], "scores": {metric: [...]}, "chance_mutual_knn": [k/(n'-1), ...]}``.
    """
    X, Y = _check_pair(X, Y)
    n = len(X)
    sizes = sorted(set(default_sizes(n) if sizes is None else [int(s) for s in sizes]))
    bad = [s for s in sizes if s <= k or s > n]
    if bad:
        raise ValueError(f"gallery sizes must lie in (k={k}, n={n}], got {bad}")
    order = np.random.default_rng(seed).permutation(n)
    scores: dict[str, list[float]] = {name: [] for name in metrics}
    for s in sizes:
        rows = np.sort(order[:s])
        a = Space(X[rows], k=k, max_n=max_n, seed=seed, name="X")
        b = Space(Y[rows], k=k, max_n=max_n, seed=seed, name="Y")
        for name in metrics:
            scores[name].append(get_metric(name).score(a, b))
    return {"sizes": sizes, "scores": scores, "chance_mutual_knn": [k / (s - 1) for s in sizes], "k": k}


# --------------------------------------------------------------------------------------------
# all pairs of several embedders
# --------------------------------------------------------------------------------------------

def alignment_matrix(spaces: dict[str, np.ndarray], metrics: Iterable[str], k: int = 10,
                     n_perm: int = 100, seed: int = 0, max_n: int | None = 2000, dim: int = 10,
                     sigma: float = 1.0, log=None) -> dict:
    """Every metric for every ordered pair of named embedding arrays (all paired, same n).

    Returns ``{"n", "k", "metrics": {metric: {"a|b": {"score", "p_value", "null_mean",
    "null_std"}}}, "self": {metric: {a: score}}}``. Symmetric metrics are computed once per
    unordered pair and mirrored. The same seeded permutations serve every metric of a pair.
    """
    names = list(spaces)
    if len(names) < 2:
        raise ValueError(f"need at least two embedders to compare, got {names}")
    metrics = [get_metric(m) for m in metrics]
    n = None
    prepared = {}
    for name, arr in spaces.items():
        arr = check_vectors(arr, name)
        if n is None:
            n = len(arr)
        elif len(arr) != n:
            raise ValueError(f"{name} has {len(arr)} rows but {names[0]} has {n}: arrays must be paired")
        prepared[name] = Space(arr, k=k, max_n=max_n, seed=seed, sigma=sigma, name=name)
    _check_k(k, n)
    out = {"n": n, "k": k, "n_perm": n_perm, "max_n_dense": max_n, "seed": seed,
           "metrics": {m.name: {} for m in metrics}, "self": {m.name: {} for m in metrics},
           "higher_is_similar": {m.name: m.higher_is_similar for m in metrics}}
    perms_rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            todo = [m for m in metrics if not (m.symmetric and j < i)]
            for m in metrics:
                if m not in todo:
                    out["metrics"][m.name][f"{a}|{b}"] = out["metrics"][m.name][f"{b}|{a}"]
            if not todo:
                continue
            sa, sb = prepared[a], prepared[b]
            extra = {m.name: ({"dim": dim} if m.name == "svcca" else {}) for m in todo}
            scores = {m.name: m.score(sa, sb, **extra[m.name]) for m in todo}
            nulls = {m.name: np.empty(n_perm) for m in todo}
            # permutation outer, metric inner: metrics sharing a product (CKA, Procrustes) reuse it
            for t in range(n_perm):
                p = perms_rng.permutation(n)
                for m in todo:
                    nulls[m.name][t] = m.score(sa, sb, p, **extra[m.name])
            for m in todo:
                score, null = scores[m.name], nulls[m.name]
                out["metrics"][m.name][f"{a}|{b}"] = {
                    "score": score, "p_value": _p_value(score, null, m.higher_is_similar),
                    "null_mean": float(null.mean()), "null_std": float(null.std(ddof=1)) if n_perm > 1 else 0.0}
            if log:
                log(f"{a}|{b}: " + ", ".join(f"{m.name} {scores[m.name]:.3f}" for m in todo)
                    + f"  ({time.perf_counter() - t0:.0f} s)")
    for m in metrics:
        for a in names:
            extra = {"dim": dim} if m.name == "svcca" else {}
            out["self"][m.name][a] = m.score(prepared[a], prepared[a], **extra)
    return out


def matrix_of(result: dict, metric: str, names: Sequence[str]) -> np.ndarray:
    """``[len(names)]^2`` score matrix (row = first embedder) for one metric of ``alignment_matrix``."""
    M = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            M[i, j] = result["self"][metric][a] if i == j else result["metrics"][metric][f"{a}|{b}"]["score"]
    return M


def format_matrix(result: dict, metric: str, names: Sequence[str]) -> str:
    """Plain-text table of one metric; '*' marks p < 0.05 against the permutation null."""
    M = matrix_of(result, metric, names)
    w = max(10, max(len(x) for x in names) + 1)
    lines = [f"{metric}" + ("" if result["higher_is_similar"][metric] else "  (distance: lower = more alike)"),
             " " * w + "".join(f"{x:>{w}}" for x in names)]
    for i, a in enumerate(names):
        cells = []
        for j, b in enumerate(names):
            star = "" if i == j or result["metrics"][metric][f"{a}|{b}"]["p_value"] >= 0.05 else "*"
            cells.append(f"{M[i, j]:.3f}{star}".rjust(w))
        lines.append(f"{a:<{w}}" + "".join(cells))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------

def plot_heatmap(result: dict, metric: str, names: Sequence[str], path, title: str | None = None) -> None:
    """Save a heatmap PNG of one metric's matrix (annotated; '*' = p < 0.05)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vec2vec.io import atomic_path

    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.2, 1.0 * len(names) + 1.6))
    _draw_heatmap(fig, ax, result, metric, names, title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_panel(result: dict, metrics: Sequence[str], names: Sequence[str], path, title: str = "",
               cols: int = 5) -> None:
    """Save one PNG with a heatmap per metric in a grid (for the README)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vec2vec.io import atomic_path

    cols = min(cols, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    size = 0.8 * len(names) + 1.8
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size * 1.15, rows * size), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        _draw_heatmap(fig, ax, result, m, names, m + ("" if result["higher_is_similar"][m] else " (distance)"),
                      fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _draw_heatmap(fig, ax, result, metric, names, title, fontsize=9) -> None:
    import matplotlib.pyplot as plt

    M = matrix_of(result, metric, names)
    higher = result["higher_is_similar"][metric]
    off = ~np.eye(len(names), dtype=bool)
    lo, hi = float(np.nanmin(M[off])), float(np.nanmax(M[off]))
    # colour range from the pairs only: the trivial diagonal (self = 1 or 0) is drawn grey
    cmap = plt.get_cmap("viridis" if higher else "viridis_r").with_extremes(bad="#dddddd")
    im = ax.imshow(np.where(off, M, np.nan), cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=fontsize)
    ax.set_yticks(range(len(names)), names, fontsize=fontsize)
    for i in range(len(names)):
        for j in range(len(names)):
            p = None if i == j else result["metrics"][metric][f"{names[i]}|{names[j]}"]["p_value"]
            frac = (M[i, j] - lo) / (hi - lo + 1e-12)
            light = (frac < 0.55 if higher else frac > 0.45) and i != j
            ax.text(j, i, f"{M[i, j]:.2f}" + ("*" if p is not None and p < 0.05 else ""),
                    ha="center", va="center", fontsize=fontsize, color="white" if light else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title or f"{metric} (n={result['n']}, k={result['k']})", fontsize=fontsize + 1)


def plot_sweep(sweeps: dict[str, dict], path, title: str = "") -> None:
    """Save a PNG: one panel per swept metric, score vs gallery size (log x), one line per pair."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vec2vec.io import atomic_path

    first = next(iter(sweeps.values()))
    metric_names = list(first["scores"])
    fig, axes = plt.subplots(1, len(metric_names), figsize=(5.2 * len(metric_names), 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metric_names):
        for pair, sw in sweeps.items():
            ax.plot(sw["sizes"], sw["scores"][metric], marker="o", ms=3, label=pair)
        if metric == "mutual_knn":
            ax.plot(first["sizes"], first["chance_mutual_knn"], "k--", label="chance k/(n-1)")
            ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("gallery size n")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# CLI: vec2vec align key=value ...
# --------------------------------------------------------------------------------------------

def _compose(overrides: list[str]):
    """Hydra-compose ``conf/align.yaml``. ``embedders=...`` is accepted as an alias of
    ``embedder_names=...``: ``embedders`` is also the name of the embedder config group, which
    Hydra would otherwise treat as a group selection."""
    from vec2vec.config import compose

    fixed = []
    for o in overrides:
        for prefix in ("embedders=", "embedders+="):
            if o.startswith(prefix):
                o = "embedder_names" + o[len("embedders"):]
        fixed.append(o)
    return compose("align", fixed)


def run(cfg, log=print) -> dict:
    """Embed ``cfg.n`` paired texts with every embedder (through the cache) and write the outputs."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from vec2vec.embed import embed
    from vec2vec.io import write_json

    names = [str(e) for e in cfg.embedder_names]
    if len(set(names)) != len(names):
        raise ValueError(f"embedders: duplicate names in {names}")
    corpus = cfg.corpus if isinstance(cfg.corpus, str) else cfg.corpus.get("name")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    spaces = {}
    for name in names:
        log(f"embedding {cfg.n} texts of {corpus}/{cfg.split} with {name} (cached)")
        spaces[name] = embed(name, corpus, split=cfg.split, limit=int(cfg.n), seed=int(cfg.seed))
    n = min(len(v) for v in spaces.values())
    if any(len(v) != n for v in spaces.values()):
        raise ValueError(f"embedders returned different row counts {[len(v) for v in spaces.values()]}")
    max_n = None if cfg.max_n_dense is None else int(cfg.max_n_dense)
    result = alignment_matrix(spaces, list(cfg.metrics), k=int(cfg.k), n_perm=int(cfg.n_perm),
                              seed=int(cfg.seed), max_n=max_n, dim=int(cfg.svcca_dim),
                              sigma=float(cfg.rbf_sigma), log=log)
    result["embedders"] = names
    result["corpus"] = corpus
    result["split"] = cfg.split
    result["config"] = OmegaConf.to_container(cfg, resolve=True)
    sweeps = {}
    sizes = None if cfg.sweep_sizes is None else [int(s) for s in cfg.sweep_sizes if int(s) <= n]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sweeps[f"{a}|{b}"] = gallery_sweep(spaces[a], spaces[b], sizes=sizes,
                                               metrics=list(cfg.sweep_metrics), k=int(cfg.k),
                                               seed=int(cfg.seed), max_n=max_n)
    result["sweep"] = sweeps
    write_json(out / "align.json", result)
    for m in cfg.metrics:
        plot_heatmap(result, m, names, out / f"heatmap_{m}.png",
                     title=f"{m} on {corpus} (n={n}, k={cfg.k}; * p<0.05, {cfg.n_perm} perms)")
        log("\n" + format_matrix(result, m, names))
    plot_panel(result, list(cfg.metrics), names, out / "heatmaps.png",
               title=f"alignment on {corpus} (n={n} paired texts, k={cfg.k}; * p<0.05 vs "
                     f"{cfg.n_perm} shuffled pairings; grey: self)")
    plot_sweep(sweeps, out / "sweep.png", title=f"gallery-size sweep on {corpus}")
    log(f"\nwrote {out / 'align.json'}, {len(cfg.metrics)} heatmaps and sweep.png")
    return result


def cli(overrides: list[str]) -> int:
    """``vec2vec align embedders=[minilm,mpnet,...] corpus=gcide-definitions n=4000 out=DIR``.

    Embeds n paired texts of the corpus' eval split with every embedder (through the cache),
    scores every metric for every pair with a permutation p-value, writes DIR/align.json,
    DIR/heatmap_<metric>.png, DIR/heatmaps.png (all metrics), DIR/sweep.png and
    DIR/config.yaml, and prints each matrix.
    """
    if any(o in ("-h", "--help") for o in overrides):
        from vec2vec.config import config_text
        print(cli.__doc__ + "\n" + config_text("align"))
        return 0
    cfg = _compose(overrides)
    for m in cfg.metrics:
        get_metric(str(m))
    run(cfg)
    return 0
