"""Permutation nulls, gallery-size sweeps and all-pairs matrices of the alignment metrics.

The null shuffles the pairing (rows of Y) and keeps each space's geometry; each metric's per-space
state is prepared once, so a permutation of a kNN metric costs O(n k) (:mod:`vec2vec.align.metrics`).
"""
from __future__ import annotations

import logging
import time
from typing import Iterable, Sequence

import numpy as np

from vec2vec.align import metrics as M
from vec2vec.align.metrics import METRICS, Metric, Space, _check_pair, get_metric
from vec2vec.data.validation import check_vectors
from vec2vec.neighbors.certified import _check_k

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# null calibration
# --------------------------------------------------------------------------------------------

_PUBLIC = {M.mutual_knn: "mutual_knn", M.cycle_knn: "cycle_knn", M.jaccard_knn: "jaccard_knn",
           M.cknna: "cknna", M.svcca: "svcca", M.rsa: "rsa"}


def _resolve(metric, kwargs: dict) -> tuple[Metric | None, dict, dict]:
    """Map a metric name or public function (+ kwargs) to a registered metric, the Space kwargs,
    and extra score kwargs; (None, ...) for an arbitrary callable."""
    kwargs = dict(kwargs)
    space_kw = {key: kwargs.pop(key) for key in ("k", "max_n", "seed", "sigma") if key in kwargs}
    if metric is M.cka:
        kernel, unb = kwargs.pop("kernel", "linear"), kwargs.pop("unbiased", False)
        metric = f"cka_{kernel}" + ("_unbiased" if unb else "")
    elif metric is M.procrustes_distance:
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
