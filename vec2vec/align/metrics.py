"""Representation-alignment ("Platonic representation") metrics between two embedders, at scale.

(:mod:`vec2vec.align.metrics`: the metric definitions; nulls, sweeps, matrices and plots live
beside it in :mod:`vec2vec.align`.)

Every metric takes two *paired* arrays ``X [n, d1]`` and ``Y [n, d2]`` (row i of both describes the
same text; the dimensions may differ) and returns a float. Definitions are given exactly in each
function's docstring, with the paper it comes from.

Scale (why the code looks the way it does):

* k-nearest neighbours are exact cosine neighbours of L2-normalised rows (:func:`vec2vec.neighbors.certified.certified_knn`): candidates
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

import dataclasses
import logging
import math
from typing import Any, Callable

import numpy as np

from vec2vec.data.validation import check_paired, check_vectors
from vec2vec.neighbors.certified import _check_k, _lapack_one_thread, _unit_rows, certified_knn

#: rows per chunk when feature-space products are accumulated in float64
_CHUNK = 8192
log = logging.getLogger(__name__)


def _check_pair(X, Y, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate a paired couple of arrays -> float32 ``[n, d1]``, ``[n, d2]``."""
    X = check_vectors(X, "X", min_rows=1)
    Y = check_vectors(Y, "Y", min_rows=1)
    check_paired(X, Y)
    if len(X) < min_rows:
        raise ValueError(f"X, Y: need at least {min_rows} paired rows for this metric, got {len(X)}")
    return X, Y


def _subsample(n: int, max_n: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded subsample of ``max_n`` rows, or None when n <= max_n."""
    if max_n is None or n <= max_n:
        return None
    if max_n < 4:
        raise ValueError(f"max_n must be at least 4, got {max_n}")
    return np.sort(np.random.default_rng(seed).choice(n, size=max_n, replace=False))


def _inverse(perm: np.ndarray) -> np.ndarray:
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return inv


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
        return self._get("knn", lambda: certified_knn(self.X, self.k))

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
