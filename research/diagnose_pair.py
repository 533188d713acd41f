"""Why does unsupervised translation fail for a pair? Diagnostics that use the true pairs.

    python research/diagnose_pair.py source=minilm target=e5-small n=5000 starts=4
    python research/diagnose_pair.py source=minilm target=e5-small parts=geometry
    python research/diagnose_pair.py source=minilm target=e5-small parts=width output=...
    python research/diagnose_pair.py source=minilm target=e5-small parts=spectral output=...
    python research/diagnose_pair.py source=minilm target=e5-small parts=[moments] output=...

Uses the paired ``eval`` split only to diagnose (never to fit the unsupervised method):

0. geometry (on ``geometry_n`` paired rows): each space's top-10 principal-component variance
   shares; how well each top PC is predicted linearly from the *other* space (held-out R^2 of a
   least-squares fit on 75% of the rows): high R^2 with unequal variance shares means the two
   spaces are related linearly but not by an isometry; the overlap of the top-m principal
   subspaces under the oracle orthogonal map (1 = the same subspace), which the refinement's
   subspace curriculum relies on; and the 10-NN agreement of the two spaces (mean overlap
   |N_a(i) & N_b(i)| / 10), the structure every unsupervised method matches;
1. anchors: k-means (20 clusters) in each space, matched by the QAP of ``mini-vec2vec``; the
   "true" matching assigns each source centroid, mapped by the Procrustes oracle, to a target
   centroid (Hungarian). Prints how many clusters the QAP matched right and the QAP objective of
   both matchings (if the wrong one scores higher, more restarts cannot help);
2. basin: the kNN-mean objective (``linear.knn_objective``, what the refinement climbs and what
   picks among starts) of a random map, of the oracle map, and of the oracle map after 5
   kNN-mean steps (with its top-1), against ``starts`` unsupervised starts (k-means/QAP anchors
   + the default refinement schedule) on the same rows. If the oracle basin scores higher than
   every failed start, the objective is right and the search is what fails;
3. width: how close must a start be? Starts W_t = polar((1 - t) oracle + t random) for each t in
   ``widths``, and "skeleton" starts that keep only the oracle's signed matching of the top-k
   principal components, or the oracle's top-k x top-k block as a rotation (k in ``skeleton_k``;
   pseudo-pairs = nearest neighbours in those k coordinates), each refined by the default schedule (subspace curriculum) and by the same
   kNN-mean steps in the full space. Reports each start's alignment with the oracle
   (tr(W^T oracle) / d) and top-1 before and after: the alignment an initialiser has to reach.
   With ``wp_starts`` > 0, also a pair-free search for the top-k rotation (Wasserstein-Procrustes
   from random starts, best transport cost) and whether the oracle block has a lower cost.

4. spectral: is the problem smaller in the kNN graphs' Laplacian eigenbases? Each space's
   normalised-Laplacian eigenvectors (10-NN graph, the first K of ``spectral_k``) and a
   functional map C [K, K] (Phi_a ~ Phi_b C) give a point map (nearest rows of Phi_a and
   Phi_b C) -> Procrustes on those pseudo-pairs -> the full-space kNN-mean steps. C from the
   oracle's point map shows whether K coordinates suffice; C from rotation-invariant per-point
   descriptors (typicality = cosine to the mean, kNN in-degree, kNN radius, heat-kernel
   signatures; ranked) plus Laplacian commutativity is the pair-free try, and the descriptors'
   residual under the oracle's C says how far they determine it.
5. moments: do higher-order statistics pin down the top-k rotation? In each space's top-k
   principal coordinates (each scaled to unit variance), the third-moment tensor and the fourth
   cumulant tensor; the rotation R [k, k] that best maps one space's tensors onto the other's
   (1 - cosine between tensors, scale-free because noise shrinks higher moments) is searched from
   ``moment_starts`` random rotations. If the oracle block (Procrustes on the paired rows'
   coordinates) scores worse than the rotations found, these statistics cannot find the start.

Prints a table and writes JSON (``output``, default benchmarks/results/diagnose_<src>_<tgt>.json);
every key with its default: ``python research/diagnose_pair.py --help``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import output_path, write_result  # noqa: E402
from research._cli import main as cli_main  # noqa: E402
from vec2vec.data.cache import embed  # noqa: E402
from vec2vec.data.validation import l2_normalize  # noqa: E402
from vec2vec.neighbors import knn, neighbour_mean, subsample  # noqa: E402
from vec2vec.translators.linear import (  # noqa: E402
    center_normalize,
    knn_objective,
    orthogonalize,
    procrustes,
)
from vec2vec.translators.minivec2vec import (  # noqa: E402
    MiniVec2Vec,
    _space_pair,
    damped_step,
    kmeans_centroids,
    map_agreement,
    match_clusters,
    principal_axes,
    pseudo_pairs,
    qap_anchors,
    refine_schedule,
)

PARTS = ("geometry", "anchors", "basin", "width", "spectral", "moments")


def geometry(ga: np.ndarray, gb: np.ndarray, ms=(5, 10, 20, 50, 100), k: int = 10) -> dict:
    """Paired-row geometry of two centred unit-row spaces ga [n, da], gb [n, db] (see doc, 0.)."""
    oracle = procrustes(ga, gb)
    n_fit = int(0.75 * len(ga))
    out: dict = {}
    axes = {}
    for name, (y, x) in {"source": (ga, gb), "target": (gb, ga)}.items():
        _, s, vt = np.linalg.svd(y, full_matrices=False)
        axes[name] = vt
        scores = y @ vt[:10].T                                  # [n, 10] PC scores
        coef = np.linalg.lstsq(x[:n_fit], scores[:n_fit], rcond=None)[0]
        resid = scores[n_fit:] - x[n_fit:] @ coef
        held = scores[n_fit:] - scores[n_fit:].mean(0)
        out[name] = {"pc_var_share": (s[:10] ** 2 / np.sum(s ** 2)).round(4).tolist(),
                     "pc_r2_from_other": (1 - (resid ** 2).sum(0) / (held ** 2).sum(0)).round(3).tolist()}
    m_max = min(ga.shape[1], gb.shape[1])
    out["subspace_overlap"] = {int(m): float(np.linalg.norm(axes["source"][:m] @ oracle @
                                                             axes["target"][:m].T) ** 2 / m)
                               for m in ms if m <= m_max}
    na, nb = knn(ga, ga, k + 1)[1][:, 1:], knn(gb, gb, k + 1)[1][:, 1:]
    out["knn_agreement"] = float(np.mean([len(set(r) & set(t)) / k for r, t in zip(na, nb)]))
    return out


def top1(w: np.ndarray, qa: np.ndarray, qb: np.ndarray) -> float:
    """Top-1 retrieval of paired rows (pool = all of qb) under map w, centred unit rows."""
    return float(np.mean(np.argmax(l2_normalize(qa @ w) @ qb.T, 1) == np.arange(len(qa))))


def run_schedule(za, zb, w, sched, axes=None, eta: float = 1.0) -> np.ndarray:
    """Damped kNN-mean steps (k, m) of ``sched`` from map w; with ``axes`` the steps with m set
    search neighbours in the top-m principal subspaces (the curriculum), else the full spaces."""
    for k, m in sched:
        w = damped_step(za, zb, w, k, eta, None if axes is None or m is None else (*axes, m))
    return w


def _sample_rows(ca: np.ndarray, cb: np.ndarray, rng, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` random rows of each cloud (fewer if a cloud is smaller)."""
    return tuple(c[rng.choice(len(c), min(rows, len(c)), replace=False)] for c in (ca, cb))


def _matching(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Optimal one-to-one matching (Hungarian on squared distances) of a @ q to b.
    Returns (a-row indices, b-row indices, mean matched cost)."""
    cost = cdist(a @ q, b, "sqeuclidean")
    r, c = linear_sum_assignment(cost)
    return r, c, float(cost[r, c].mean())


def transport_cost(ca: np.ndarray, cb: np.ndarray, q: np.ndarray, rng, rows: int) -> float:
    """Mean squared distance of the optimal matching of ``rows`` random rows of ca @ q to
    ``rows`` random rows of cb: how well rotation q [k, k] matches the two clouds."""
    return _matching(*_sample_rows(ca, cb, rng, rows), q)[2]


def wasserstein_procrustes(ca: np.ndarray, cb: np.ndarray, q: np.ndarray, rng, rows: int = 400,
                           iters: int = 15) -> np.ndarray:
    """Alternate a one-to-one matching (on ``rows`` sampled rows) and Procrustes, from rotation
    q [k, k]: the Wasserstein-Procrustes local search in k dims. Returns q."""
    a, b = _sample_rows(ca, cb, rng, rows)
    for _ in range(iters):
        r, c, _ = _matching(a, b, q)
        q = procrustes(a[r], b[c])
    return q


def basin_width(za, zb, qa, qb, oracle, widths, skeleton_ks, sched, seed,
                wp_starts: int = 0) -> list[dict]:
    """Part 3 (module doc): refine starts at known distances from the oracle map. za, zb: centred
    unit rows (unpaired, what the refinement sees); qa, qb: paired rows (top-1 only).
    ``wp_starts`` > 0 adds the best of that many random Wasserstein-Procrustes searches in the top-k
    principal coordinates (k = the largest skeleton k), ranked by transport cost (no pairs), and
    prints its cost beside the oracle block's."""
    axes = (principal_axes(za), principal_axes(zb))
    rand = orthogonalize(np.random.default_rng(seed).standard_normal(oracle.shape).astype(np.float32))
    starts = {f"t={t}": orthogonalize((1 - t) * oracle + t * rand) for t in widths}
    pcs = axes[0].T @ oracle @ axes[1]                   # the oracle in principal coordinates

    def lift(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
        """Full map from matched low-dim coordinates: kNN-mean pseudo-pairs, then Procrustes."""
        _, idx = knn(l2_normalize(ca), l2_normalize(cb), 50)
        return procrustes(za, l2_normalize(neighbour_mean(zb, idx)))

    for k in skeleton_ks:
        rows, cols = linear_sum_assignment(-np.abs(pcs[:k, :3 * k]))
        sign = np.sign(pcs[rows, cols]).astype(np.float32)
        starts[f"skeleton k={k}"] = lift(za @ axes[0][:, :k], (zb @ axes[1][:, cols]) * sign)
        # the oracle's whole top-k x top-k block as a rotation (what a low-dim search would find)
        starts[f"top-{k} block"] = lift(za @ axes[0][:, :k] @ orthogonalize(pcs[:k, :k]),
                                        zb @ axes[1][:, :k])
    out = []
    if wp_starts and skeleton_ks:
        k = max(skeleton_ks)
        rng = np.random.default_rng(seed)
        ca, cb = za @ axes[0][:, :k], zb @ axes[1][:, :k]
        ca, cb = ca / np.sqrt((ca ** 2).sum(1).mean()), cb / np.sqrt((cb ** 2).sum(1).mean())
        block = orthogonalize(pcs[:k, :k])
        found = [wasserstein_procrustes(ca, cb, np.linalg.qr(rng.standard_normal((k, k)))[0]
                                        .astype(np.float32), rng) for _ in range(wp_starts)]
        costs = [transport_cost(ca, cb, q, rng, 2000) for q in found]
        best = found[int(np.argmin(costs))]
        row = {"start": f"wp cost, top-{k}", "oracle_block_cost": transport_cost(ca, cb, block, rng, 2000),
               "best_cost": float(min(costs)), "best_alignment_to_block": map_agreement(best, block)}
        out.append(row)
        print(f"   Wasserstein-Procrustes in the top-{k} coordinates, {wp_starts} random starts: best "
              f"cost {row['best_cost']:.4f} (alignment to the oracle block {row['best_alignment_to_block']:+.3f})"
              f", the oracle block's cost {row['oracle_block_cost']:.4f}")
        starts[f"wp best k={k}"] = lift(ca @ best, cb)
    for name, w0 in starts.items():
        row = {"start": name, "alignment": map_agreement(w0, oracle), "top1_start": top1(w0, qa, qb)}
        for label, use_axes in (("curriculum", axes), ("full", None)):
            w = run_schedule(za, zb, w0, sched, use_axes)
            row[f"top1_{label}"] = top1(w, qa, qb)
            row[f"objective_{label}"] = knn_objective(*_space_pair(za, zb, w), 10)
        out.append(row)
        print(f"   {name:<14} alignment {row['alignment']:+.3f}  top-1 {row['top1_start']:.3f} -> "
              f"curriculum {row['top1_curriculum']:.3f} (obj {row['objective_curriculum']:.4f}), "
              f"full space {row['top1_full']:.3f} (obj {row['objective_full']:.4f})", flush=True)
    return out


def graph_spectrum(z: np.ndarray, x: np.ndarray, n_eig: int, k: int = 10, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Laplacian eigenpairs and invariant descriptors of one space's kNN graph.

    z: centred unit rows [n, d]; x: the raw vectors (for typicality). Returns (eigenvalues [K]
    scaled to mean 1, eigenvectors [n, K] scaled so that PhiᵀPhi / n = I, without the constant
    one; descriptors [n, q] ranked to zero mean and unit variance)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla
    from scipy.stats import rankdata

    n = len(z)
    sims, idx = knn(z, z, k + 1)                       # the first neighbour is the row itself
    sims, idx = sims[:, 1:], idx[:, 1:]
    adj = sp.csr_matrix((np.ones(n * k), (np.repeat(np.arange(n), k), idx.ravel())), (n, n))
    in_degree = np.asarray(adj.sum(0)).ravel()
    adj = ((adj + adj.T) > 0).astype(np.float64)
    inv_sqrt = sp.diags(1 / np.sqrt(np.asarray(adj.sum(1)).ravel()))
    lap = sp.eye(n) - inv_sqrt @ adj @ inv_sqrt
    # a seeded start vector: ARPACK's default is random, and near-degenerate eigenvectors (so
    # the descriptor map) then differ from run to run
    v0 = np.random.default_rng(seed).standard_normal(n)
    lam, phi = sla.eigsh(lap, k=n_eig + 1, sigma=-1e-3, which="LM", v0=v0)
    order = np.argsort(lam)[1:]
    lam, phi = lam[order], phi[:, order] * np.sqrt(n)
    xn = l2_normalize(x)
    heat = [(np.exp(-lam * t) * phi ** 2).sum(1) for t in np.geomspace(2, 100, 6)]
    desc = np.stack([xn @ xn.mean(0), in_degree, sims.mean(1), *heat], 1)
    desc = (np.apply_along_axis(rankdata, 0, desc) / n - 0.5) * np.sqrt(12)
    return lam / lam.mean(), phi, desc


def spectral(za, zb, xa, xb, qa, qb, oracle, ks, sched, mu: float = 0.1, seed: int = 0) -> list[dict]:
    """Part 4 (module doc). za, zb: centred unit rows (unpaired); xa, xb: their raw vectors;
    qa, qb: paired rows (top-1 only); ks: numbers of eigenvectors K. One row per (K, C source)."""
    from scipy.spatial import cKDTree

    k_max = max(ks)
    la, pa, fa = graph_spectrum(za, xa, k_max, seed=seed)
    lb, pb, fb = graph_spectrum(zb, xb, k_max, seed=seed)
    _, truth = knn(l2_normalize(za @ oracle), zb, 1)   # the oracle's point map a -> b
    truth = truth[:, 0]
    out = []
    for k in ks:
        c_true = np.linalg.lstsq(pb[truth, :k], pa[:, :k], rcond=None)[0]   # [K_b, K_a]
        # descriptor coefficients: A ~ C_trueᵀ B if the descriptors correspond
        ca, cb = pa[:, :k].T @ fa / len(pa), pb[:, :k].T @ fb / len(pb)
        residual = float(np.linalg.norm(ca - c_true.T @ cb) / np.linalg.norm(ca))
        c_desc = np.zeros((k, k))
        for i in range(k):                # column i: descriptors + commutativity (ridge rows)
            reg = mu * np.diag((la[i] - lb[:k]) ** 2) + 1e-6 * np.eye(k)
            c_desc[:, i] = np.linalg.solve(cb @ cb.T + reg, cb @ ca[i])
        for name, c in (("oracle C", c_true), ("descriptor C", c_desc)):
            a_to_b = cKDTree(pb[:, :k] @ c).query(pa[:, :k], k=1)[1]
            w0 = procrustes(za, zb[a_to_b])
            w = run_schedule(za, zb, w0, sched)
            row = {"k": k, "c": name, "descriptor_residual": residual,
                   "c_corr_to_oracle_c": float(np.corrcoef(c.ravel(), c_true.ravel())[0, 1]),
                   "point_map_right": float(np.mean(a_to_b == truth)),
                   "alignment": map_agreement(w0, oracle), "top1_start": top1(w0, qa, qb),
                   "top1_full": top1(w, qa, qb),
                   "objective_full": knn_objective(*_space_pair(za, zb, w), 10)}
            out.append(row)
            print(f"   K={k:<3} {name:<13} corr to oracle C {row['c_corr_to_oracle_c']:+.2f}  "
                  f"alignment {row['alignment']:+.3f}  top-1 {row['top1_start']:.3f} -> full space "
                  f"{row['top1_full']:.3f} (obj {row['objective_full']:.4f}); descriptor residual "
                  f"under the oracle C {residual:.2f}", flush=True)
    return out


def moment_tensors(c: np.ndarray):
    """Third-moment tensor [k, k, k] and fourth-cumulant tensor [k, k, k, k] of rows c [n, k]
    with uncorrelated unit-variance columns (float64 torch tensors)."""
    import torch

    c = torch.as_tensor(c, dtype=torch.float64)
    m3 = torch.einsum("ni,nj,nk->ijk", c, c, c) / len(c)
    eye = torch.eye(c.shape[1], dtype=torch.float64)
    gauss = sum(torch.einsum(f"{x},{y}->ijkl", eye, eye) for x, y in (("ij", "kl"), ("ik", "jl"), ("il", "jk")))
    return m3, torch.einsum("ni,nj,nk,nl->ijkl", c, c, c, c) / len(c) - gauss


def moment_mismatch(r, ta, tb, w4: float):
    """(1 - cosine) between tb's third moments and ta's rotated by r [k, k] (rows of a @ r
    against b), plus w4 times the same for the fourth cumulants."""
    import torch

    cos = lambda x, y: (x * y).sum() / (x.norm() * y.norm())  # noqa: E731
    t3 = torch.einsum("ijk,ip,jq,kr->pqr", ta[0], r, r, r)
    t4 = torch.einsum("ijkl,ip,jq,kr,ls->pqrs", ta[1], r, r, r, r)
    return (1 - cos(t3, tb[0])) + w4 * (1 - cos(t4, tb[1]))


def moments(za, zb, qa, qb, ks, starts: int, seed: int = 0, w4s=(0.0, 1.0)) -> list[dict]:
    """Part 5 (module doc): za, zb centred unit rows (unpaired); qa, qb paired rows (for the
    oracle block only). One row per (k, fourth-cumulant weight)."""
    import torch

    torch.set_num_threads(1)
    axes = (principal_axes(za), principal_axes(zb))
    gen = torch.Generator().manual_seed(seed)
    out = []
    for k in ks:
        ca, cb = za @ axes[0][:, :k], zb @ axes[1][:, :k]
        sa, sb = ca.std(0), cb.std(0)
        ta, tb = moment_tensors(ca / sa), moment_tensors(cb / sb)
        block = procrustes((qa @ axes[0][:, :k]) / sa, (qb @ axes[1][:, :k]) / sb)
        for w4 in w4s:
            found = []
            for _ in range(starts):     # Adam on a skew-symmetric X, R = R0 exp(X - X^T)
                r0 = torch.linalg.qr(torch.randn(k, k, generator=gen, dtype=torch.float64))[0]
                x = torch.zeros(k, k, dtype=torch.float64, requires_grad=True)
                opt = torch.optim.Adam([x], lr=0.05)
                for _ in range(300):
                    loss = moment_mismatch(r0 @ torch.linalg.matrix_exp(x - x.T), ta, tb, w4)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                with torch.no_grad():
                    r = r0 @ torch.linalg.matrix_exp(x - x.T)
                    found.append((float(moment_mismatch(r, ta, tb, w4)), r.numpy().astype(np.float32)))
            best = min(found, key=lambda t: t[0])
            row = {"k": k, "w4": w4, "oracle_block_mismatch": float(moment_mismatch(
                       torch.as_tensor(block, dtype=torch.float64), ta, tb, w4)),
                   "best_mismatch": best[0], "best_alignment_to_block": map_agreement(best[1], block)}
            out.append(row)
            print(f"   k={k} w4={w4}: oracle block {row['oracle_block_mismatch']:.3f}, best of {starts} "
                  f"searches {row['best_mismatch']:.3f} (alignment to the block "
                  f"{row['best_alignment_to_block']:+.2f})", flush=True)
    return out


def run(cfg: dict) -> int:
    from threadpoolctl import threadpool_limits

    parts = set(cfg["parts"])
    if parts - set(PARTS):
        raise ValueError(f"parts: choose from {', '.join(PARTS)}; got {cfg['parts']!r}")
    out = output_path(cfg, f"diagnose_{cfg['source']}_{cfg['target']}.json")
    get = lambda e, split, n: embed(e, cfg["corpus"], split, limit=n, progress=False)  # noqa: E731
    xa, xb = get(cfg["source"], "a", cfg["n"]), get(cfg["target"], "b", cfg["n"])
    ea, eb = get(cfg["source"], "eval", cfg["n_eval"]), get(cfg["target"], "eval", cfg["n_eval"])
    rec = {"config": cfg, "geometry": {}, "anchors": [], "basin": {}, "starts": [], "width": [],
           "spectral": [], "moments": []}
    with threadpool_limits(1):
        za, ma = center_normalize(xa)
        zb, mb = center_normalize(xb)
        qa, qb = center_normalize(ea, ma)[0], center_normalize(eb, mb)[0]
        oracle = procrustes(qa, qb)
        # the default method's schedule (40 damped kNN-mean steps, subspace curriculum)
        sched = refine_schedule(40, 100, 5, 10, min(za.shape[1], zb.shape[1]), 0.8)
        numbers = lambda v, kind=float: [kind(x) for x in v]  # noqa: E731
        print(f"{cfg['source']} -> {cfg['target']}, {len(za)}/{len(zb)} unpaired rows; "
              f"oracle top-1 (pool {len(qa)}) {top1(oracle, qa, qb):.3f}")
        if "geometry" in parts:
            ga = center_normalize(get(cfg["source"], "eval", cfg["geometry_n"]))[0]
            gb = center_normalize(get(cfg["target"], "eval", cfg["geometry_n"]))[0]
            rec["geometry"] = g = geometry(ga, gb)
            print(f"\n0. geometry ({len(ga)} paired rows)")
            for side in ("source", "target"):
                print(f"   {side:<7} top-10 PC variance %  "
                      + " ".join(f"{100 * v:4.1f}" for v in g[side]["pc_var_share"]))
                print(f"   {'':<7} R^2 from the other space "
                      + " ".join(f"{v:4.2f}" for v in g[side]["pc_r2_from_other"]))
            print("   top-m subspace overlap under the oracle map: "
                  + ", ".join(f"m={m}: {v:.2f}" for m, v in g["subspace_overlap"].items()))
            print(f"   10-NN agreement of the paired rows: {g['knn_agreement']:.3f}")
        rounds = int(cfg["rounds"]) if "anchors" in parts else 0
        if rounds:
            print("\n1. k-means/QAP anchors: clusters matched right, QAP objective (true vs found)")
        for r in range(rounds):
            ca = kmeans_centroids(za, cfg["clusters"], 10 * r + 1)
            cb = kmeans_centroids(zb, cfg["clusters"], 10 * r + 2)
            _, true = linear_sum_assignment(-(l2_normalize(ca @ oracle) @ cb.T))
            found, score = match_clusters(ca, cb, 1000, r)
            sa, sb = ca @ ca.T, cb @ cb.T
            np.fill_diagonal(sa, 0)
            np.fill_diagonal(sb, 0)
            true_score = float(np.sum(sa * sb[np.ix_(true, true)]) / (np.linalg.norm(sa) * np.linalg.norm(sb)))
            row = {"round": r, "right": float(np.mean(found == true)), "qap_true": true_score,
                   "qap_found": score}
            rec["anchors"].append(row)
            print(f"   round {r}: {row['right']:.0%} right, QAP true {true_score:.3f} found {score:.3f}")
        if "basin" in parts:
            za_r, zb_r = subsample(za, cfg["rows"], 3), subsample(zb, cfg["rows"], 4)
            eta = MiniVec2Vec().config["damping"]             # the default method's damping
            axes = (principal_axes(za_r), principal_axes(zb_r))
            obj = lambda w: knn_objective(*_space_pair(za_r, zb_r, w), 10)  # noqa: E731
            rng = np.random.default_rng(cfg["seed"])
            dim = max(za.shape[1], zb.shape[1])
            rand = np.linalg.qr(rng.standard_normal((dim, dim)))[0][:za.shape[1], :zb.shape[1]]
            polished = oracle
            for _ in range(5):
                polished = damped_step(za_r, zb_r, polished, 5, eta)
            rec["basin"] = {"random": obj(rand), "oracle": obj(oracle), "oracle_refined": obj(polished),
                            "oracle_refined_top1": top1(polished, qa, qb)}
            print("\n2. kNN-mean objective (higher = preferred by the search and by start selection)")
            for k, v in rec["basin"].items():
                print(f"   {k:<20} {v:.4f}")
            for st in range(int(cfg["starts"])):
                t0 = time.time()
                aa, ab, _ = qap_anchors(za, zb, cfg["clusters"], 15, 1000, cfg["seed"] * 1009 + st)
                w = run_schedule(za_r, zb_r, procrustes(za_r, pseudo_pairs(za_r, zb_r, aa, ab, 50)),
                                 sched, axes, eta)
                row = {"start": st, "objective": obj(w), "top1": top1(w, qa, qb), "seconds": time.time() - t0}
                rec["starts"].append(row)
                print(f"   start {st:<14} {row['objective']:.4f}  (top-1 {row['top1']:.3f}, {row['seconds']:.0f} s)")
        if "width" in parts:
            print("\n3. basin width: refining starts at known distances from the oracle")
            rec["width"] = basin_width(za, zb, qa, qb, oracle, numbers(cfg["widths"]),
                                       numbers(cfg["skeleton_k"], int), sched, cfg["seed"],
                                       int(cfg["wp_starts"]))
        if "spectral" in parts:
            print("\n4. spectral: functional maps between the kNN graphs' Laplacian eigenbases")
            rec["spectral"] = spectral(za, zb, xa, xb, qa, qb, oracle,
                                       numbers(cfg["spectral_k"], int), sched, seed=int(cfg["seed"]))
        if "moments" in parts:
            print("\n5. moments: 3rd/4th-order tensors of the top-k principal coordinates "
                  "(mismatch, lower = better)")
            rec["moments"] = moments(za, zb, qa, qb, numbers(cfg["moment_k"], int),
                                     int(cfg["moment_starts"]), int(cfg["seed"]))
    write_result(out, rec)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main("diagnose_pair", run))
