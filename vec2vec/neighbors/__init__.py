"""THE nearest-neighbour module: every kNN search of the project goes through here.

- :func:`knn`: exact top-k by inner product (cosine on unit rows) of queries against a database,
  chunked so memory is O(chunk x m), never n x m; an optional per-database-row bias (CSLS).
- :func:`knn_self`: each row's k nearest *other* rows of the same set.
- :func:`topk_both`: one pass that returns the top-k of every row and every column of a
  similarity matrix (symmetric refinement steps need both).
- CSLS helpers (:func:`csls_penalties`, :func:`csls_nn`, :func:`mutual_nn_pairs`,
  :func:`mean_csls_score`) and :func:`neighbour_mean` (mean of gathered rows).
- :func:`subsample` / :func:`subsample_indices`: the one seeded row subsample.
- :mod:`vec2vec.neighbors.certified`: the certified bf16 self-kNN engine used for alignment
  metrics at 100k rows (exact results, bf16 speed where a certificate holds).

Shapes: rows are vectors; queries [n, d], database [m, d]; results [n, k], best first.
Similarity products run in torch (one BLAS call per chunk, threads from ``runtime.cpu_threads``).
"""
from __future__ import annotations

import numpy as np

from vec2vec.runtime import cpu_threads


def _torch():
    """torch, with its thread count capped at :func:`vec2vec.runtime.cpu_threads`."""
    import torch  # lazy: a cache-hit ``vec2vec embed`` never pays for importing torch

    if torch.get_num_threads() > cpu_threads():
        torch.set_num_threads(cpu_threads())
    return torch


# ----- subsampling --------------------------------------------------------------------------------
def subsample_indices(n: int, size: int | None, seed) -> np.ndarray | None:
    """Sorted indices of a seeded random subset of ``size`` of ``range(n)``; None when n <= size
    (or size is None): keep every row. ``seed``: an int or a ``np.random.Generator`` (drawn from)."""
    if size is None or n <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def subsample(x: np.ndarray, size: int | None, seed) -> np.ndarray:
    """A seeded random subset of at most ``size`` rows of x [n, ...], in their original order."""
    idx = subsample_indices(len(x), size, seed)
    return x if idx is None else x[idx]


# ----- exact search -------------------------------------------------------------------------------
def knn(q: np.ndarray, db: np.ndarray, k: int, bias: np.ndarray | None = None,
        chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product (minus an optional per-database-row ``bias`` [m]), chunked.

    q: [n, d], db: [m, d] (unit rows -> cosine). Memory is O(chunk * m), never n * m.
    Returns (values [n, min(k, m)] float32, indices [n, min(k, m)] int64), best first.
    """
    torch = _torch()
    k = min(k, len(db))
    dbt = torch.from_numpy(np.ascontiguousarray(db, dtype=np.float32))
    bt = None if bias is None else torch.from_numpy(np.asarray(bias, dtype=np.float32))
    vals = np.empty((len(q), k), np.float32)
    idx = np.empty((len(q), k), np.int64)
    for s in range(0, len(q), chunk):
        sim = torch.from_numpy(np.ascontiguousarray(q[s:s + chunk], dtype=np.float32)) @ dbt.T
        if bt is not None:
            sim -= bt
        v, i = sim.topk(k, dim=1)
        vals[s:s + chunk], idx[s:s + chunk] = v.numpy(), i.numpy()
    return vals, idx


def knn_self(x: np.ndarray, k: int, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most similar *other* rows of x [n, d] (inner product; unit rows -> cosine).

    Returns (values [n, k], indices [n, k]). A row's own index is dropped even when an exact
    duplicate of it ranks first (then the duplicate stays among its neighbours). n > k needed.
    """
    if len(x) <= k:
        raise ValueError(f"knn_self: need more than k={k} rows, got {len(x)}")
    vals, idx = knn(x, x, k + 1, chunk=chunk)
    keep = idx != np.arange(len(x))[:, None]
    # rows where self was not among the k + 1 (many exact duplicates): drop the last hit instead
    keep[keep.all(axis=1), -1] = False
    return vals[keep].reshape(len(x), k), idx[keep].reshape(len(x), k)


def neighbour_mean(z: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean of the rows z[idx[i]] for every i: [n, d] from z [m, d] and idx [n, k].

    Same as ``z[idx].mean(axis=1)`` without materialising the [n, k, d] gather (2.4 GB at
    n = 8000, k = 100, d = 768; that gather was a quarter of mini-vec2vec's fit time).
    """
    torch = _torch()
    zt = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
    it = torch.from_numpy(np.ascontiguousarray(idx, dtype=np.int64))
    return torch.nn.functional.embedding_bag(it, zt, mode="mean").numpy()


def topk_both(src: np.ndarray, tgt: np.ndarray, k: int, row_bias: np.ndarray | None = None,
              col_bias: np.ndarray | None = None, chunk: int = 2048):
    """One chunked pass over S = src tgtᵀ - row_bias[:, None] - col_bias[None, :] returning the
    top-k of every row AND every column (running merge over chunks), so a symmetric step costs
    one similarity pass instead of two. src: [n, d], tgt: [m, d].

    Returns (row_vals [n, k], row_idx [n, k] into tgt, col_vals [m, k], col_idx [m, k] into src).
    """
    torch = _torch()
    n, m = len(src), len(tgt)
    kr, kc = min(k, m), min(k, n)
    tt = torch.from_numpy(np.ascontiguousarray(tgt, dtype=np.float32))
    cb = None if col_bias is None else torch.from_numpy(np.asarray(col_bias, np.float32))
    rv, ri = np.empty((n, kr), np.float32), np.empty((n, kr), np.int64)
    cv = torch.full((0, m), -float("inf"))
    ci = torch.zeros((0, m), dtype=torch.int64)
    for s in range(0, n, chunk):
        q = torch.from_numpy(np.ascontiguousarray(src[s:s + chunk], dtype=np.float32))
        sim = q @ tt.T
        if cb is not None:
            sim -= cb
        if row_bias is not None:
            sim -= torch.from_numpy(np.asarray(row_bias[s:s + chunk], np.float32))[:, None]
        v, i = sim.topk(kr, dim=1)
        rv[s:s + chunk], ri[s:s + chunk] = v.numpy(), i.numpy()
        v2, i2 = sim.topk(min(kc, len(q)), dim=0)
        allv, alli = torch.cat([cv, v2]), torch.cat([ci, i2 + s])
        top = allv.topk(min(kc, len(allv)), dim=0)
        cv, ci = top.values, torch.gather(alli, 0, top.indices)
    return rv, ri, cv.T.contiguous().numpy(), ci.T.contiguous().numpy()


# ----- CSLS (Conneau et al. 2018) -------------------------------------------------------------------
def csls_penalties(src: np.ndarray, tgt: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """CSLS hubness terms: r_src[i] = mean cos of src_i's k NN in tgt; r_tgt[j] likewise.

    src: [n, d] (already mapped into tgt's space), tgt: [m, d]; unit rows.
    CSLS(i, j) = 2 cos(src_i, tgt_j) - r_src[i] - r_tgt[j] (k = 10 in the paper).
    """
    r_src = knn(src, tgt, k)[0].mean(axis=1)
    r_tgt = knn(tgt, src, k)[0].mean(axis=1)
    return r_src, r_tgt


def csls_nn(src: np.ndarray, tgt: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """For every src row its CSLS-nearest tgt row, and vice versa (two similarity passes).

    Returns (fwd [n] indices into tgt, bwd [m] indices into src).
    """
    rv, _, cv, _ = topk_both(src, tgt, k)
    r_src, r_tgt = rv.mean(axis=1), cv.mean(axis=1)
    # CSLS/2 = cos - r_src/2 - r_tgt/2: its row and column argmaxes in one pass
    _, fwd, _, bwd = topk_both(src, tgt, 1, row_bias=r_src / 2, col_bias=r_tgt / 2)
    return fwd[:, 0], bwd[:, 0]


def mutual_nn_pairs(src: np.ndarray, tgt: np.ndarray, k: int = 10,
                    csls: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mutual-nearest-neighbour dictionary (CSLS by default): pairs (i, j) with fwd[i]=j, bwd[j]=i.

    Returns (i [p], j [p]) int64 arrays.
    """
    if csls:
        fwd, bwd = csls_nn(src, tgt, k)
    else:
        fwd = knn(src, tgt, 1)[1][:, 0]
        bwd = knn(tgt, src, 1)[1][:, 0]
    i = np.arange(len(src))
    keep = bwd[fwd] == i
    return i[keep], fwd[keep]


def mean_csls_score(src: np.ndarray, tgt: np.ndarray, k: int = 10) -> float:
    """Mean over src rows of the best CSLS score in tgt (MUSE's unsupervised selection metric)."""
    r_src, r_tgt = csls_penalties(src, tgt, k)
    best = knn(src, tgt, 1, bias=r_tgt / 2)[0][:, 0]  # max_j cos_ij - r_tgt[j] / 2
    return float(np.mean(2 * best - r_src))
