"""``mini-vec2vec``: unsupervised linear translation by cluster matching and self-learning.

Pipeline (after Dar 2025; our own implementation and tuning):

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
   points (both directions), Procrustes, and a damped update W <- polar((1-η) W + η W_new).
   The neighbours are first searched in each space's top-m principal subspace only, m growing
   from ``subspace_dims`` to the full dimension (a curriculum over directions): cluster anchors
   pin down the top principal directions first (measured on minilm->minilm-l3: alignment with
   the oracle map 0.51 in the top 10 directions, ~0 below the top 100), and a full-space search
   lets the still-random low-variance directions drown the signal (kNN-mean stalled at top-1
   0.08 there; with the curriculum the same anchors reach 0.3-0.9);
5. steps 2-4 run for up to ``n_starts`` independent anchor sets; given starts -- the identity
   map when the dimensions are equal (embedders distilled from one another share axes) and the
   caller's ``start_maps`` (``pivot``) -- skip 2-3 and get a short full-space step 4 with small
   k (``start_maps_schedule``); the start whose refinement
   ends highest on its own objective (``linear.knn_objective``) wins. Once two starts end at
   the same map (``map_agreement`` >= ``agree_stop``) the rest are skipped: independent anchor
   sets that fail land in different wrong optima, so agreement marks the shared right one;
6. ``final_iters`` kNN-mean steps on more rows, then optional ``csls_rounds`` rounds of
   Procrustes on the mutual-nearest-neighbour CSLS dictionary (off by default: see class doc).

The result is one semi-orthogonal W (a->b) and its transpose (b->a). Deterministic given ``seed``.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from vec2vec.data.validation import l2_normalize
from vec2vec.neighbors import knn, mutual_nn_pairs, neighbour_mean, subsample, topk_both
from vec2vec.translators.base import register
from vec2vec.translators.linear import (
    LinearTranslator,
    cov_agreement,
    knn_objective,
    orthogonalize,
    procrustes,
)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# steps (module-level so other methods and tests can reuse them)
# ------------------------------------------------------------------------------------------


def kmeans_centroids(z: np.ndarray, k: int, seed: int, max_rows: int = 20000,
                     iters: int = 50, n_init: int = 1) -> np.ndarray:
    """Spherical k-means (cosine) centroids [k, d] of unit rows z [n, d], k-means++ seeded; the
    best of ``n_init`` starts (highest total cosine to the assigned centroid).

    Runs on a seeded subsample of <= max_rows rows. Plain NumPy: a few ms per iteration at
    20 clusters (sklearn's KMeans spent seconds per call in thread start-up on 2 busy cores).
    """
    rng = np.random.default_rng(seed)
    if len(z) > max_rows:
        z = z[rng.choice(len(z), max_rows, replace=False)]
    best, best_fit = None, -np.inf
    for _ in range(n_init):
        c, fit = _spherical_kmeans(z, k, rng, iters)
        if fit > best_fit:
            best, best_fit = c, fit
    return best


def _spherical_kmeans(z: np.ndarray, k: int, rng: np.random.Generator, iters: int):
    """One k-means++ start + Lloyd iterations. Returns (centroids [k, d], sum of max cosines)."""
    cent = [z[rng.integers(len(z))]]
    dist = 1.0 - z @ cent[0]
    for _ in range(1, k):
        p = np.maximum(dist, 0) ** 2
        cent.append(z[rng.choice(len(z), p=p / p.sum()) if p.sum() > 0 else rng.integers(len(z))])
        dist = np.minimum(dist, 1.0 - z @ cent[-1])
    c = np.stack(cent)
    assign = None
    for _ in range(iters):
        new = np.argmax(z @ c.T, axis=1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        onehot = np.zeros((len(z), k), np.float32)
        onehot[np.arange(len(z)), assign] = 1.0
        sums = onehot.T @ z  # cluster sums (np.add.at is ~50x slower)
        empty = onehot.sum(axis=0) == 0
        sums[empty] = z[rng.choice(len(z), int(empty.sum()), replace=False)]  # re-seed empties
        c = l2_normalize(sums)
    return c, float(np.max(z @ c.T, axis=1).sum())


def two_opt(sa: np.ndarray, sb: np.ndarray, perm: np.ndarray, max_iter: int = 10000) -> tuple[np.ndarray, float]:
    """Best-improvement 2-opt for max_P sum_ij sa[i,j] sb[p_i,p_j] (symmetric, zero diagonal).

    Every pairwise swap's gain is computed at once from G = sa @ M (M = sb permuted by perm):
    gain(i,j) = 2 (G_ij + G_ji - G_ii - G_jj + 2 sa_ij M_ij). O(k^3) per swap, vectorised, so a
    20-cluster restart costs ~1 ms (scipy's 2-opt re-scores every candidate swap in Python).
    Returns (perm, objective).
    """
    perm = perm.copy()
    m = sb[np.ix_(perm, perm)]
    for _ in range(max_iter):
        g = sa @ m
        dg = np.diag(g)
        gain = 2 * (g + g.T - dg[:, None] - dg[None, :] + 2 * sa * m)
        i, j = np.unravel_index(np.argmax(gain), gain.shape)
        if gain[i, j] <= 1e-9:
            break
        perm[[i, j]] = perm[[j, i]]
        m[[i, j]] = m[[j, i]]
        m[:, [i, j]] = m[:, [j, i]]
    return perm, float(np.sum(sa * m))


def match_clusters(ca: np.ndarray, cb: np.ndarray, restarts: int, seed: int,
                   stop_hits: int = 10, solver: str = "fast") -> tuple[np.ndarray, float]:
    """Match centroids ca [k, d_a] to cb [k, d_b] by quadratic assignment (2-opt, maximise).

    Returns (perm [k] with a-cluster i <-> b-cluster perm[i], normalised objective in [-1, 1]).
    Both similarity matrices have a zeroed diagonal (see module docstring). ``restarts`` random
    starting permutations; stops early once the best objective has been reached ``stop_hits``
    times. ``solver``: "fast" (vectorised 2-opt above) or "scipy"
    (``scipy.optimize.quadratic_assignment(method="2opt")``, same local search, ~50x slower).
    """
    from scipy.optimize import quadratic_assignment

    sa, sb = (ca @ ca.T).astype(np.float64), (cb @ cb.T).astype(np.float64)
    np.fill_diagonal(sa, 0.0)
    np.fill_diagonal(sb, 0.0)
    rng = np.random.default_rng(seed)
    best_fun, best_perm, hits = -np.inf, None, 0
    for _ in range(restarts):
        if solver == "scipy":
            res = quadratic_assignment(sa, sb, method="2opt", options={"maximize": True, "rng": rng})
            perm, fun = res.col_ind, res.fun
        elif solver == "fast":
            perm, fun = two_opt(sa, sb, rng.permutation(len(sa)))
        else:
            raise ValueError(f"qap solver must be 'fast' or 'scipy', got {solver!r}")
        if fun > best_fun + 1e-9:
            best_fun, best_perm, hits = fun, perm, 1
        elif fun > best_fun - 1e-9:
            hits += 1
            if hits >= stop_hits:  # the same optimum found again and again: stop early
                break
    norm = np.linalg.norm(sa) * np.linalg.norm(sb)
    return np.asarray(best_perm), float(best_fun / max(norm, 1e-12))


def qap_anchors(za: np.ndarray, zb: np.ndarray, n_clusters: int, rounds: int, restarts: int,
                seed: int, kmeans_rows: int = 20000, solver: str = "fast") -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Anchor pairs from ``rounds`` independent k-means + QAP matchings.

    Returns (anchors_a [rounds*k, d_a], anchors_b [rounds*k, d_b], per-round QAP objectives).
    """
    from threadpoolctl import threadpool_limits

    aa, ab, scores = [], [], []
    # small matrices: a single BLAS thread is ~10x faster than a pool fighting for 2 busy cores
    with threadpool_limits(limits=1, user_api="blas"):
        return _qap_rounds(za, zb, n_clusters, rounds, restarts, seed, kmeans_rows, solver,
                           aa, ab, scores)


def _qap_rounds(za, zb, n_clusters, rounds, restarts, seed, kmeans_rows, solver, aa, ab, scores):
    for r in range(rounds):
        s = seed * 100003 + r * 7919
        ca = kmeans_centroids(za, n_clusters, s + 1, kmeans_rows)
        cb = kmeans_centroids(zb, n_clusters, s + 2, kmeans_rows)
        perm, score = match_clusters(ca, cb, restarts, s + 3, solver=solver)
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
    return l2_normalize(neighbour_mean(zb, idx))


def _space_pair(za: np.ndarray, zb: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put a (mapped) and b in one space of the smaller dim, so that inner products equal the
    cosines cos(l2n(za W), zb) at the lower cost. Returns (src [n_a, d], tgt [n_b, d])."""
    if w.shape[0] <= w.shape[1]:  # rows orthonormal: |za W| = 1, and (za W)·zb = za·(zb Wᵀ)
        return za, zb @ w.T
    return l2_normalize(za @ w), zb


def map_agreement(w1: np.ndarray, w2: np.ndarray) -> float:
    """tr(w1ᵀ w2) / min(d_a, d_b) for two semi-orthogonal maps [d_a, d_b]: 1 for the same map,
    ~0 for unrelated ones (the alignment ``diagnose_pair.py`` reports against the oracle)."""
    return float(np.sum(w1 * w2) / min(w1.shape))


def principal_axes(z: np.ndarray) -> np.ndarray:
    """Principal directions of centred unit rows z [n, d], by decreasing variance: [d, d]."""
    _, vecs = np.linalg.eigh(z.T.astype(np.float64) @ z)
    return np.ascontiguousarray(vecs[:, ::-1], dtype=np.float32)


def _subspace_pair(za: np.ndarray, zb: np.ndarray, w: np.ndarray, axes_a: np.ndarray,
                   axes_b: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Like ``_space_pair`` but each side keeps only its top-m principal directions (axes [d, d]).

    Inner products equal those of l2n(Pa(za) W) [n_a, d_b] with l2n(Pb(zb)) [n_b, d_b] (Pa, Pb
    the projections), but both come back in the m coordinates of b's top-m axes: [n_a, m] and
    [n_b, m]. Only the component of the mapped a-rows inside b's subspace meets l2n(Pb(zb)), so
    nothing is lost, and the neighbour search costs m/d of a full-space one (the early
    curriculum steps have m = 10..100 of d = 384..768; they were the costliest steps).
    """
    pa, pb = axes_a[:, :m], axes_b[:, :m]
    src = (za @ pa) @ (pa.T @ w)  # [n_a, d_b]; its norm needs all d_b coordinates
    norm = np.maximum(np.linalg.norm(src, axis=1, keepdims=True), 1e-12)
    return (src @ pb) / norm, l2_normalize(zb @ pb)


def knn_mean_step(za: np.ndarray, zb: np.ndarray, w: np.ndarray, k: int,
                  subspace: tuple[np.ndarray, np.ndarray, int] | None = None) -> np.ndarray:
    """One symmetric kNN-mean Procrustes step: returns the new (undamped) W [d_a, d_b].

    ``subspace`` = (axes_a [d_a, d_a], axes_b [d_b, d_b], m): search the neighbours in each
    space's top-m principal subspace only (the Procrustes fit still uses the full vectors).
    """
    src, tgt = _space_pair(za, zb, w) if subspace is None else _subspace_pair(za, zb, w, *subspace)
    _, ia, _, ib = topk_both(src, tgt, k)  # each a's k nearest b, each b's k nearest mapped a
    x = np.concatenate([za, l2_normalize(neighbour_mean(za, ib))])
    y = np.concatenate([l2_normalize(neighbour_mean(zb, ia)), zb])
    return procrustes(x, y)


def damped_step(za: np.ndarray, zb: np.ndarray, w: np.ndarray, k: int, damping: float,
                subspace: tuple[np.ndarray, np.ndarray, int] | None = None) -> np.ndarray:
    """One damped kNN-mean step: W <- polar((1 - damping) W + damping W_new), W_new from
    :func:`knn_mean_step` (``subspace`` as there). Returns the new semi-orthogonal W."""
    return orthogonalize((1 - damping) * w + damping * knn_mean_step(za, zb, w, k, subspace))


def csls_step(za: np.ndarray, zb: np.ndarray, w: np.ndarray, k: int = 10) -> tuple[np.ndarray, int]:
    """Procrustes on the mutual-NN CSLS dictionary under map w. Returns (new W, dictionary size)."""
    src, tgt = _space_pair(za, zb, w)
    i, j = mutual_nn_pairs(src, tgt, k)
    if len(i) < max(10, min(w.shape) // 4):  # too few pairs: keep the old map
        return w, len(i)
    return procrustes(za[i], zb[j]), len(i)


def geometric_ks(iters: int, k0: int, k1: int) -> list[int]:
    """Neighbour counts for ``iters`` steps, shrinking geometrically from k0 to k1."""
    return [int(round(k0 * (k1 / k0) ** (t / max(iters - 1, 1)))) for t in range(iters)]


def refine_schedule(iters: int, k0: int, k1: int, m0: int, d: int,
                    frac: float) -> list[tuple[int, int | None]]:
    """(k, m) for each kNN-mean step: k shrinks geometrically from k0 to k1; the neighbour
    search runs in the top-m principal subspaces, m growing geometrically from m0 to d over the
    first ``frac`` of the steps, then None (full spaces). m0 >= d (or frac 0) disables it."""
    grow = int(round(frac * iters)) if m0 < d else 0
    out = []
    for t, k in enumerate(geometric_ks(iters, k0, k1)):
        m = int(round(m0 * (d / m0) ** (t / max(grow - 1, 1)))) if t < grow else None
        out.append((k, None if m is None or m >= d else m))
    return out


def refine(za: np.ndarray, zb: np.ndarray, w: np.ndarray, iters: int, k_start: int, k_end: int,
           damping: float, csls_rounds: int, csls_k: int, history: list | None = None,
           snapshots: list | None = None) -> np.ndarray:
    """kNN-mean refinement (k shrinking geometrically from k_start to k_end, damped), then
    ``csls_rounds`` mutual-NN CSLS Procrustes rounds. Returns the final W.
    ``snapshots`` (if a list) receives (step name, W copy) after every step: the pipeline's
    "checkpoints", used to measure how well unsupervised selection tracks quality."""
    for t, k in enumerate(geometric_ks(iters, k_start, k_end)):
        w = damped_step(za, zb, w, k, damping)
        if history is not None:
            history.append({"step": f"knn{t}", "k": k})
        if snapshots is not None:
            snapshots.append((f"knn{t}", w.copy()))
    for t in range(csls_rounds):
        w, n_pairs = csls_step(za, zb, w, csls_k)
        if history is not None:
            history.append({"step": f"csls{t}", "pairs": n_pairs})
        if snapshots is not None:
            snapshots.append((f"csls{t}", w.copy()))
    return w


# ------------------------------------------------------------------------------------------
# the translator
# ------------------------------------------------------------------------------------------


@register("mini-vec2vec")
class MiniVec2Vec(LinearTranslator):
    """Unsupervised orthogonal map by k-means/QAP anchors and self-learning (module docstring).

    Config: ``seed`` 0; ``n_clusters`` 20; ``kmeans_rounds`` 15; ``qap_restarts`` 1000 (random
    2-opt starts; early stop when the best is hit 10 times), ``qap_solver`` "fast" | "scipy";
    ``rel_topk`` 50 (pseudo-pair neighbours); ``refine_iters`` 40 kNN-mean steps with k shrinking
    along ``refine_k`` [100, 5] and ``damping`` 1.0; neighbour search in the top-m principal
    subspaces, m growing from ``subspace_dims`` 10 to full over the first ``subspace_frac`` 0.8 of
    the steps (``refine_schedule``); ``final_iters`` 3 kNN-mean steps on up to ``max_rows`` 20000
    rows per side (also the k-means sample); ``csls_rounds`` 0 mutual-NN CSLS Procrustes rounds
    (they lowered top-1 on minilm->mpnet, 0.972 -> 0.958), ``csls_k`` 10; ``refine_rows`` 8000
    (rows per side for the pseudo-pair and kNN-mean steps); ``n_starts`` 4 independent anchor
    sets, each refined ``start_iters`` 40 steps (all of them), the best by ``start_score``
    "knn" (or "cov") continues. On minilm->minilm-l3 (5k/side) 2 of 4 single starts succeeded
    (0.89, 0.91), so one start alone fails often. ``agree_stop`` 0.8: stop starting new anchor
    sets once two starts agree that much (``map_agreement``; 0 runs all ``n_starts``). Measured
    on minilm->mpnet (5k/side): the three good starts of four agreed 0.96-0.97 with each other
    and 0.01 with the failed one; on minilm->minilm-l3 the partly right starts (top-1 0.02-0.62)
    agreed 0.03-0.16, so all four ran. At 30k/side (1 thread) the starts were 385 s of a 407 s
    fit, all four at the same objective (0.41305 +- 1e-5): stopping after two halves it.
    ``identity_start`` True: when both spaces have the same dimension, the identity map is one
    more start (before the anchor sets), scored like them: right when the two embedders share
    their coordinates, e.g. one distilled or fine-tuned from the other. ``fit(...,
    start_maps=)`` adds starts of the caller's (the ``pivot`` method's composed map). These given
    starts are refined by ``start_maps_schedule`` [steps, k0, k1] = [10, 10, 5]: kNN-mean steps
    in the full spaces, k shrinking from k0 to k1. A start that is already good needs small
    neighbourhoods; the anchor starts' curriculum (k from 100, top-10 subspace first) throws
    much of it away. Measured, top-1 @1024 both ways: minilm -> minilm-l3 from the identity
    (alone 0.85) 0.983 / 0.975 this way vs 0.977 / 0.968 by the curriculum at 5k/side (identity
    start alone, measured once), and
    0.82 / 0.79 vs 0.16 / 0.16 at 1k/side; minilm-l3 -> mpnet from the composed pivot map
    (0.77 / 0.81) 0.81 / 0.84 vs 0.73 / 0.76.
    """

    def __init__(self, seed: int = 0, n_clusters: int = 20, kmeans_rounds: int = 15,
                 qap_restarts: int = 1000, qap_solver: str = "fast", rel_topk: int = 50, refine_iters: int = 40,
                 refine_k: tuple[int, int] | list[int] = (100, 5), damping: float = 1.0,
                 final_iters: int = 3, csls_rounds: int = 0, csls_k: int = 10, max_rows: int = 20000,
                 refine_rows: int = 8000, n_starts: int = 4, start_iters: int = 40,
                 subspace_dims: int = 10, subspace_frac: float = 0.8, start_score: str = "knn",
                 agree_stop: float = 0.8, identity_start: bool = True,
                 start_maps_schedule: tuple[int, int, int] | list[int] = (10, 10, 5), **config):
        super().__init__(seed=seed, n_clusters=n_clusters, kmeans_rounds=kmeans_rounds,
                         qap_restarts=qap_restarts, qap_solver=qap_solver, rel_topk=rel_topk, refine_iters=refine_iters,
                         refine_k=list(refine_k), damping=damping, final_iters=final_iters, csls_rounds=csls_rounds,
                         csls_k=csls_k, max_rows=max_rows, refine_rows=refine_rows,
                         n_starts=n_starts, start_iters=start_iters, subspace_dims=subspace_dims,
                         subspace_frac=subspace_frac, start_score=start_score,
                         agree_stop=agree_stop, identity_start=identity_start,
                         start_maps_schedule=list(start_maps_schedule), **config)
        self.history: list[dict] = []
        self.snapshots: list[tuple[str, np.ndarray]] = []  # (step, W) after each stage; not saved
        self._start_maps: dict[str, np.ndarray] = {}

    def fit(self, xa: np.ndarray, xb: np.ndarray,
            start_maps: dict[str, np.ndarray] | None = None) -> "MiniVec2Vec":
        """As ``Translator.fit``. ``start_maps``: extra starts {name: W [d_a, d_b]}, maps between
        the *centred* unit spaces of xa and xb (as ``w_ab`` is), e.g. a composition of two fitted
        maps through a third space (``pivot``). They run before the identity and anchor starts,
        are refined by ``start_maps_schedule`` and scored without pairs like them (the start
        with the highest kNN-mean objective wins); ``n_starts=0`` keeps only these."""
        self._start_maps = {}
        for name, w in (start_maps or {}).items():
            w = np.asarray(w, dtype=np.float32)
            if w.shape != (np.shape(xa)[1], np.shape(xb)[1]) or not np.isfinite(w).all():
                raise ValueError(f"start map {name!r}: expected finite [{np.shape(xa)[1]}, "
                                 f"{np.shape(xb)[1]}], got {w.shape}")
            self._start_maps[name] = orthogonalize(w)  # the steps and scores assume |z W| = 1
        try:
            return super().fit(xa, xb)
        finally:
            self._start_maps = {}  # not part of the fitted translator

    def _fit(self, xa, xb):
        c = self.config
        if c["start_score"] not in ("knn", "cov"):
            raise ValueError(f"start_score must be 'knn' or 'cov', got {c['start_score']!r}")
        za, zb = self._set_stats(xa, xb)
        if min(len(za), len(zb)) < 2 * c["n_clusters"]:
            raise ValueError(f"mini-vec2vec needs >= {2 * c['n_clusters']} vectors per side "
                             f"(n_clusters={c['n_clusters']}); got {len(za)} and {len(zb)}")
        seed = int(c["seed"])
        t0 = time.time()
        za_s, zb_s = subsample(za, c["max_rows"], seed * 2 + 1), subsample(zb, c["max_rows"], seed * 2 + 2)
        # the coarse steps (pseudo-pairs, kNN-mean) run on fewer rows: their cost is quadratic
        za_r, zb_r = subsample(za_s, c["refine_rows"], seed * 2 + 3), subsample(zb_s, c["refine_rows"], seed * 2 + 4)
        k0, k1 = (min(int(k), len(zb_r)) for k in c["refine_k"])
        iters = int(c["refine_iters"])
        axes = (principal_axes(za_r), principal_axes(zb_r))
        sched = [(k, m, axes) for k, m in refine_schedule(iters, k0, k1, int(c["subspace_dims"]),
                                                           min(self.dims), float(c["subspace_frac"]))]
        n_start_iters = min(int(c["start_iters"]), iters)
        g_iters, g_k0, g_k1 = (int(v) for v in c["start_maps_schedule"])
        given_sched = [(min(k, len(zb_r)), None, axes) for k in geometric_ks(g_iters, g_k0, g_k1)]
        # several independent starts (anchor sets), each refined, scored without pairs; the best
        # continues. Anchors from independent k-means clusterings are often partly wrong, and a
        # start then settles in a wrong local optimum of the kNN-mean objective.
        # (name, map or anchor seed, refinement steps): given maps (the caller's and the identity)
        # are refined gently, anchor starts by the subspace curriculum
        given = dict(self._start_maps)
        if c["identity_start"] and self.dims[0] == self.dims[1]:
            given.setdefault("identity", np.eye(self.dims[0], dtype=np.float32))
        inits: list[tuple[str, object, list]] = [(f"start-{k}", w, given_sched)
                                                 for k, w in given.items()]
        inits += [(f"start{st}", seed * 1009 + st, sched[:n_start_iters])
                  for st in range(int(c["n_starts"]))]
        if not inits:
            raise ValueError("mini-vec2vec has no start: n_starts=0 needs start_maps or "
                             "identity_start with equal dimensions")
        self.history, starts = [], []
        for name, init, steps in inits:
            w0, snaps, info = ((init.copy(), [(name, init.copy())], {})
                               if isinstance(init, np.ndarray)
                               else self._anchor_init(za_s, zb_s, za_r, zb_r, init))
            starts.append(self._refine_start(za_r, zb_r, w0, steps, snaps, info))
            agree = max((map_agreement(starts[-1][1], x[1]) for x in starts[:-1]), default=0.0)
            self.history.append({"step": name, **starts[-1][3], "agreement": agree,
                                 "s": time.time() - t0})
            if c["agree_stop"] and agree >= c["agree_stop"]:
                break
        best = int(np.argmax([x[0] for x in starts]))
        _, w, self.snapshots, _ = starts[best]
        # independent starts that land on one map mark the right optimum (vec2vec.verdict)
        self.fit_evidence = {
            # one start (e.g. known pairs' alone) has nothing to agree with: no evidence either way
            "start_agreement": (max(h["agreement"] for h in self.history) if len(starts) > 1
                                else None),
            "starts": len(starts), "given_starts": sorted(given),
            "agreeing_pair": next(([inits[j][0], h["step"]] for j, h in enumerate(self.history)
                                   if c["agree_stop"] and h["agreement"] >= c["agree_stop"]),
                                  None)}
        self.history.append({"step": "chosen-start", "start": inits[best][0]})
        for t in range(n_start_iters, iters):
            w = self._refine_step(za_r, zb_r, w, sched[t])
            self.snapshots.append((f"knn{t}", w.copy()))
        self.history.append({"step": "knn-mean", "s": time.time() - t0})
        # polish on more rows: a few undamped kNN-mean steps at the final k, then (optionally)
        # mutual-NN CSLS rounds. Measured on minilm->mpnet (5k/side): kNN-mean alone 0.972
        # top-1@1024, after 3 CSLS rounds 0.958 (the mutual-NN dictionary is a biased subset).
        w = refine(za_s, zb_s, w, c["final_iters"], k1, k1, 1.0, c["csls_rounds"], c["csls_k"],
                   self.history, self.snapshots)
        self.history.append({"step": "done", "s": time.time() - t0})
        log.info("mini-vec2vec fitted in %.1fs", time.time() - t0)
        self._set_maps(w)

    def _anchor_init(self, za_s, zb_s, za_r, zb_r, s_seed: int) -> tuple:
        """A start from k-means/QAP anchors on (za_s, zb_s) and pseudo-pairs on (za_r, zb_r).
        Returns (W [d_a, d_b], snapshots, info dict)."""
        c = self.config
        anchors_a, anchors_b, qap = qap_anchors(za_s, zb_s, c["n_clusters"], c["kmeans_rounds"],
                                                c["qap_restarts"], s_seed, solver=c["qap_solver"])
        w = procrustes(za_r, pseudo_pairs(za_r, zb_r, anchors_a, anchors_b, min(c["rel_topk"], len(zb_r))))
        snaps = [("anchors", procrustes(anchors_a, anchors_b)), ("pseudo-pairs", w.copy())]
        return w, snaps, {"qap_objective_mean": float(np.mean(qap))}

    def _refine_start(self, za_r, zb_r, w: np.ndarray, sched: list, snaps: list, info: dict) -> tuple:
        """Refine one start W by the kNN-mean steps ``sched`` on (za_r, zb_r). Returns (score,
        W [d_a, d_b], snapshots, info dict).

        Score (pair-free, higher = better): ``start_score`` "knn" = the kNN-mean objective the
        refinement climbs (``linear.knn_objective``, k = 10): every anchor start ran the same
        steps and every given start the same gentle ones, each ending at small k in the full
        spaces, so the one on the highest local optimum wins. Measured on minilm->minilm-l3 (5k/side, 4
        seeds): it ranked both good starts (top-1 0.89, 0.91) above the three bad ones (0.0-0.31),
        while "cov" (covariance agreement) ranked a bad start (0.14) first.
        """
        for t, step in enumerate(sched):
            w = self._refine_step(za_r, zb_r, w, step)
            snaps.append((f"knn{t}", w.copy()))
        src, tgt = _space_pair(za_r, zb_r, w)
        info = {**info, "knn": knn_objective(src, tgt, 10),
                "cov": cov_agreement(l2_normalize(za_r @ w), zb_r)}
        return info[self.config["start_score"]], w, snaps, info

    def _refine_step(self, za: np.ndarray, zb: np.ndarray, w: np.ndarray, step: tuple) -> np.ndarray:
        """:func:`damped_step` for step = (k, m, (axes_a, axes_b)) from ``refine_schedule``
        (m = None: neighbours in the full spaces)."""
        k, m, (axes_a, axes_b) = step
        return damped_step(za, zb, w, k, self.config["damping"],
                           None if m is None else (axes_a, axes_b, m))
