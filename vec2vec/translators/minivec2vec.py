"""``mini-vec2vec``: unsupervised linear translation by cluster matching and self-learning.

Pipeline (after Dar 2025; our own implementation and tuning, see DESIGN.md §1):

1. centre + normalise each space (``linear.center_normalize``);
2. ``kmeans_rounds`` times: k-means with ``n_clusters`` clusters in each space, then match the
   clusters of a to those of b by quadratic assignment on the centroid cosine matrices, keeping
   the best of ``qap_restarts`` random 2-opt starts. The diagonal of both matrices is zeroed:
   with ones on it the assignment objective is dominated by a constant and the matching fails;
   with few restarts 2-opt stops in poor local optima. Matched centroids become anchor pairs;
3. relative representations (cosines to the anchors) put both spaces in one coordinate system;
   each a-vector's pseudo-target is the mean of its ``rel_topk`` nearest b-vectors there;
   orthogonal Procrustes on those pseudo-pairs gives a first map W;
4. kNN-mean refinement: targets = mean of the ``refine_k`` nearest real vectors of the mapped
   points (both directions), Procrustes, and a damped update W <- polar((1-η) W + η W_new);
5. ``csls_rounds`` rounds of Procrustes on the mutual-nearest-neighbour CSLS dictionary.

The result is one semi-orthogonal W (a->b) and its transpose (b->a). Deterministic given ``seed``.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from ..validation import l2_normalize
from .base import register
from .linear import LinearTranslator, knn, mutual_nn_pairs, orthogonalize, procrustes

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# steps (module-level so other methods and tests can reuse them)
# ------------------------------------------------------------------------------------------


def kmeans_centroids(z: np.ndarray, k: int, seed: int, max_rows: int = 20000) -> np.ndarray:
    """Unit-norm k-means centroids [k, d] of rows z [n, d] (a seeded subsample of <= max_rows)."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    if len(z) > max_rows:
        z = z[rng.choice(len(z), max_rows, replace=False)]
    km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=int(seed) % 2**31).fit(z)
    return l2_normalize(km.cluster_centers_)


def match_clusters(ca: np.ndarray, cb: np.ndarray, restarts: int, seed: int) -> tuple[np.ndarray, float]:
    """Match centroids ca [k, d_a] to cb [k, d_b] by quadratic assignment (2-opt, maximise).

    Returns (perm [k] with a-cluster i <-> b-cluster perm[i], normalised objective in [-1, 1]).
    Both similarity matrices have a zeroed diagonal (see module docstring).
    """
    from scipy.optimize import quadratic_assignment

    sa, sb = ca @ ca.T, cb @ cb.T
    np.fill_diagonal(sa, 0.0)
    np.fill_diagonal(sb, 0.0)
    rng = np.random.default_rng(seed)
    best_fun, best_perm = -np.inf, None
    for _ in range(restarts):
        res = quadratic_assignment(sa, sb, method="2opt", options={"maximize": True, "rng": rng})
        if res.fun > best_fun:
            best_fun, best_perm = res.fun, res.col_ind
    norm = np.linalg.norm(sa) * np.linalg.norm(sb)
    return np.asarray(best_perm), float(best_fun / max(norm, 1e-12))


def qap_anchors(za: np.ndarray, zb: np.ndarray, n_clusters: int, rounds: int, restarts: int,
                seed: int, kmeans_rows: int = 20000) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Anchor pairs from ``rounds`` independent k-means + QAP matchings.

    Returns (anchors_a [rounds*k, d_a], anchors_b [rounds*k, d_b], per-round QAP objectives).
    """
    aa, ab, scores = [], [], []
    for r in range(rounds):
        s = seed * 100003 + r * 7919
        ca = kmeans_centroids(za, n_clusters, s + 1, kmeans_rows)
        cb = kmeans_centroids(zb, n_clusters, s + 2, kmeans_rows)
        perm, score = match_clusters(ca, cb, restarts, s + 3)
        aa.append(ca)
        ab.append(cb[perm])
        scores.append(score)
    return np.concatenate(aa), np.concatenate(ab), scores


def relative(z: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Relative representation: cosines to anchors, standardised per anchor, unit rows. [n, m]."""
    r = z @ anchors.T
    r = (r - r.mean(axis=0)) / (r.std(axis=0) + 1e-6)
    return l2_normalize(r)


def pseudo_pairs(za: np.ndarray, zb: np.ndarray, anchors_a: np.ndarray, anchors_b: np.ndarray,
                 topk: int) -> np.ndarray:
    """For each a-row the mean of its ``topk`` nearest b-rows in relative space: [n_a, d_b]."""
    ra, rb = relative(za, anchors_a), relative(zb, anchors_b)
    _, idx = knn(ra, rb, topk)
    return l2_normalize(zb[idx].mean(axis=1))


def _space_pair(za: np.ndarray, zb: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put a (mapped) and b in one space of the smaller dim, so that inner products equal the
    cosines cos(l2n(za W), zb) at the lower cost. Returns (src [n_a, d], tgt [n_b, d])."""
    if w.shape[0] <= w.shape[1]:  # rows orthonormal: |za W| = 1, and (za W)·zb = za·(zb Wᵀ)
        return za, zb @ w.T
    return l2_normalize(za @ w), zb


def knn_mean_step(za: np.ndarray, zb: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """One symmetric kNN-mean Procrustes step: returns the new (undamped) W [d_a, d_b]."""
    src, tgt = _space_pair(za, zb, w)
    _, ia = knn(src, tgt, k)  # for each a: its k nearest b
    _, ib = knn(tgt, src, k)  # for each b: its k nearest mapped a
    x = np.concatenate([za, l2_normalize(za[ib].mean(axis=1))])
    y = np.concatenate([l2_normalize(zb[ia].mean(axis=1)), zb])
    return procrustes(x, y)


def csls_step(za: np.ndarray, zb: np.ndarray, w: np.ndarray, k: int = 10) -> tuple[np.ndarray, int]:
    """Procrustes on the mutual-NN CSLS dictionary under map w. Returns (new W, dictionary size)."""
    src, tgt = _space_pair(za, zb, w)
    i, j = mutual_nn_pairs(src, tgt, k)
    if len(i) < max(10, min(w.shape) // 4):  # too few pairs: keep the old map
        return w, len(i)
    return procrustes(za[i], zb[j]), len(i)


def subsample(z: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded random subset of <= n rows."""
    if len(z) <= n:
        return z
    return z[np.sort(np.random.default_rng(seed).choice(len(z), n, replace=False))]


def refine(za: np.ndarray, zb: np.ndarray, w: np.ndarray, iters: int, k_start: int, k_end: int,
           damping: float, csls_rounds: int, csls_k: int, history: list | None = None) -> np.ndarray:
    """kNN-mean refinement (k shrinking geometrically from k_start to k_end, damped), then
    ``csls_rounds`` mutual-NN CSLS Procrustes rounds. Returns the final W."""
    for t in range(iters):
        k = int(round(k_start * (k_end / k_start) ** (t / max(iters - 1, 1))))
        w = orthogonalize((1 - damping) * w + damping * knn_mean_step(za, zb, w, k))
        if history is not None:
            history.append({"step": f"knn{t}", "k": k})
    for t in range(csls_rounds):
        w, n_pairs = csls_step(za, zb, w, csls_k)
        if history is not None:
            history.append({"step": f"csls{t}", "pairs": n_pairs})
    return w


# ------------------------------------------------------------------------------------------
# the translator
# ------------------------------------------------------------------------------------------


@register("mini-vec2vec")
class MiniVec2Vec(LinearTranslator):
    """Unsupervised orthogonal map by k-means/QAP anchors and self-learning (module docstring).

    Config (defaults tuned on minilm<->mpnet, gcide-definitions):
    ``seed`` 0; ``n_clusters`` 20; ``kmeans_rounds`` 30; ``qap_restarts`` 100;
    ``rel_topk`` 50 (pseudo-pair neighbours); ``refine_iters`` 10, ``refine_k`` [50, 5],
    ``damping`` 0.5; ``csls_rounds`` 5, ``csls_k`` 10; ``max_rows`` 20000 (rows per side used by
    the quadratic-cost steps; a seeded subsample beyond that).
    """

    def __init__(self, seed: int = 0, n_clusters: int = 20, kmeans_rounds: int = 30,
                 qap_restarts: int = 100, rel_topk: int = 50, refine_iters: int = 10,
                 refine_k: tuple[int, int] | list[int] = (50, 5), damping: float = 0.5,
                 csls_rounds: int = 5, csls_k: int = 10, max_rows: int = 20000, **config):
        super().__init__(seed=seed, n_clusters=n_clusters, kmeans_rounds=kmeans_rounds,
                         qap_restarts=qap_restarts, rel_topk=rel_topk, refine_iters=refine_iters,
                         refine_k=list(refine_k), damping=damping, csls_rounds=csls_rounds,
                         csls_k=csls_k, max_rows=max_rows, **config)
        self.history: list[dict] = []

    def _fit(self, xa, xb):
        c = self.config
        za, zb = self._set_stats(xa, xb)
        if min(len(za), len(zb)) < 2 * c["n_clusters"]:
            raise ValueError(f"mini-vec2vec needs >= {2 * c['n_clusters']} vectors per side "
                             f"(n_clusters={c['n_clusters']}); got {len(za)} and {len(zb)}")
        seed = int(c["seed"])
        t0 = time.time()
        za_s, zb_s = subsample(za, c["max_rows"], seed * 2 + 1), subsample(zb, c["max_rows"], seed * 2 + 2)
        anchors_a, anchors_b, qap = qap_anchors(za_s, zb_s, c["n_clusters"], c["kmeans_rounds"],
                                                c["qap_restarts"], seed)
        self.history = [{"step": "qap", "objective_mean": float(np.mean(qap)), "s": time.time() - t0}]
        targets = pseudo_pairs(za_s, zb_s, anchors_a, anchors_b, min(c["rel_topk"], len(zb_s)))
        w = procrustes(za_s, targets)
        self.history.append({"step": "pseudo-pairs", "s": time.time() - t0})
        k0, k1 = (min(int(k), len(zb_s)) for k in c["refine_k"])
        w = refine(za_s, zb_s, w, c["refine_iters"], k0, k1, c["damping"], c["csls_rounds"],
                   c["csls_k"], self.history)
        self.history.append({"step": "done", "s": time.time() - t0})
        log.info("mini-vec2vec fitted in %.1fs", time.time() - t0)
        self._set_maps(w)
