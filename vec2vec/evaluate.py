"""Translation quality on *paired* held-out vectors, and the ``vec2vec evaluate`` command.

Metric functions take ``pred`` [n, d] (translations of source vectors into the target space) and
``true`` [n, d] (the target embedder's vectors of the same texts, row for row):

- retrieval among pools: the n rows are shuffled (seeded) and cut into pools of ``pool`` rows; in
  each pool every prediction ranks the pool's true vectors by cosine; top-1, top-5 and the mean
  rank (1 = best) of its own true vector; Hungarian one-to-one accuracy: the share of rows that a
  maximum-total-cosine one-to-one assignment within the pool (scipy ``linear_sum_assignment``)
  matches to their own true vector. Chance: top-1 = 1/pool, mean rank = (pool+1)/2.
- mean cosine, raw and centred: centring removes the target space's mean vector (estimated on
  unpaired training vectors of that space), which otherwise inflates raw cosine for any map.

``vec2vec evaluate run_dir=DIR`` scores the run's chosen translator (and every seed's) in both
directions next to the identity (equal dims) and the oracle baselines, writes ``DIR/eval.json``
and prints a table. Oracles are fitted on the eval pairs *out of fold* (k-fold: each row is
predicted by a map fitted on the other folds), so they never see the rows they are scored on.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vec2vec import rundir
from vec2vec.data.cache import embed
from vec2vec.data.io import read_json, write_json
from vec2vec.data.validation import check_paired, check_vectors, l2_normalize
from vec2vec.selection import CRITERION, unsupervised_score
from vec2vec.translators import get_translator
from vec2vec.verdict import verdict

log = logging.getLogger(__name__)

POOLS = (1024, 8192)
ORACLES = ("procrustes-oracle", "lstsq-oracle")


# ------------------------------------------------------------------------------------------
# metric functions
# ------------------------------------------------------------------------------------------


def _check_pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    pred = check_vectors(pred, "pred")
    true = check_vectors(true, "true", dim=pred.shape[1])
    check_paired(pred, true, ("pred", "true"))
    return l2_normalize(pred), l2_normalize(true)


def pool_indices(n: int, pool: int, seed: int = 0) -> list[np.ndarray]:
    """Seeded shuffle of range(n) cut into n // pool pools of ``pool`` rows (remainder dropped)."""
    if pool < 2:
        raise ValueError(f"pool size must be >= 2, got {pool}")
    if n < pool:
        raise ValueError(f"pool {pool} needs at least {pool} paired rows; got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return [perm[i * pool:(i + 1) * pool] for i in range(n // pool)]


def ranks_in_pool(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """1-based rank of true[i] among all rows of ``true`` by cosine to pred[i]. [n] int.

    Ties count against the prediction (rank = 1 + number of candidates scoring >= the true one,
    other than itself), so a constant prediction gets the worst rank, not the best.
    """
    sim = pred @ true.T
    own = np.diag(sim)
    return (sim >= own[:, None]).sum(axis=1)  # includes itself -> 1-based


def hungarian_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """Share of rows matched to their own true vector by the max-cosine one-to-one assignment."""
    from scipy.optimize import linear_sum_assignment

    _, col = linear_sum_assignment(pred @ true.T, maximize=True)
    return float(np.mean(col == np.arange(len(pred))))


def retrieval_metrics(pred: np.ndarray, true: np.ndarray, pool: int = 1024, seed: int = 0,
                      hungarian: bool = True) -> dict[str, float]:
    """top1, top5, mean_rank (averaged over every row of every pool) and hungarian accuracy."""
    pred, true = _check_pair(pred, true)
    ranks, hung = [], []
    for idx in pool_indices(len(pred), pool, seed):
        ranks.append(ranks_in_pool(pred[idx], true[idx]))
        if hungarian:
            hung.append(hungarian_accuracy(pred[idx], true[idx]))
    r = np.concatenate(ranks)
    return {"top1": float(np.mean(r == 1)), "top5": float(np.mean(r <= 5)),
            "mean_rank": float(r.mean()),
            "hungarian": float(np.mean(hung)) if hungarian else None}


def cosine_metrics(pred: np.ndarray, true: np.ndarray, target_mean: np.ndarray | None = None
                   ) -> dict[str, float]:
    """Mean row-wise cosine, raw and after removing ``target_mean`` [d] from both sides."""
    pred, true = _check_pair(pred, true)
    out = {"cos": float(np.mean(np.sum(pred * true, axis=1)))}
    if target_mean is not None:
        mu = check_vectors(np.asarray(target_mean)[None, :], "target_mean", dim=pred.shape[1])[0]
        out["cos_centered"] = float(np.mean(np.sum(l2_normalize(pred - mu) * l2_normalize(true - mu),
                                                   axis=1)))
    return out


def all_metrics(pred: np.ndarray, true: np.ndarray, target_mean: np.ndarray | None,
                pools=POOLS, seed: int = 0, hungarian_max_pool: int = 8192) -> list[dict]:
    """One dict per usable pool size (pools larger than n are skipped) with every metric."""
    pred, true = _check_pair(pred, true)
    cos = cosine_metrics(pred, true, target_mean)
    rows = []
    for pool in pools:
        if pool > len(pred):
            continue
        m = retrieval_metrics(pred, true, pool, seed, hungarian=pool <= hungarian_max_pool)
        rows.append({"pool": pool, **m, **cos})
    if not rows:
        raise ValueError(f"{len(pred)} paired rows are fewer than every pool size {list(pools)}")
    return rows


def centring_means(xa: np.ndarray, xb: np.ndarray) -> dict[str, np.ndarray]:
    """Means removed by the centred cosine, per direction: ``"ab"`` scores in B's space, so it
    takes the mean of the unit-normalised rows of xb [n_b, d_b]; ``"ba"`` that of xa [n_a, d_a]."""
    return {"ab": l2_normalize(xb).mean(0), "ba": l2_normalize(xa).mean(0)}


def score_directions(t, ea: np.ndarray, eb: np.ndarray, means: dict, names: dict,
                     pools=POOLS, hungarian_max_pool: int = 8192, **extra) -> list[dict]:
    """Every metric of translator ``t`` in both directions on paired eval rows ea [n, d_a],
    eb [n, d_b]: one row per direction and pool, ``{"direction": names[d], **extra, ...}``
    (Hungarian accuracy only for pools <= ``hungarian_max_pool``)."""
    rows = []
    for d, src, tgt in (("ab", ea, eb), ("ba", eb, ea)):
        for r in all_metrics(t.translate(src, d), tgt, means[d], pools,
                             hungarian_max_pool=hungarian_max_pool):
            rows.append({"direction": names[d], **extra, **r})
    return rows


def oracle_predictions(method: str, x: np.ndarray, y: np.ndarray, direction: str,
                       folds: int = 2, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions of a paired oracle: each fold is predicted by a map fitted on the
    other folds. x, y: paired [n, d_x], [n, d_y]; returns translations of x (ab) or y (ba)."""

    check_paired(x, y, ("source eval", "target eval"))
    n = len(x)
    out = np.empty((n, y.shape[1] if direction == "ab" else x.shape[1]), np.float32)
    parts = np.array_split(np.random.default_rng(seed).permutation(n), folds)
    for f, test in enumerate(parts):
        train = np.concatenate([p for g, p in enumerate(parts) if g != f])
        t = get_translator(method).fit(x[train], y[train])
        out[test] = t.translate(x[test] if direction == "ab" else y[test], direction)
    return out


# ------------------------------------------------------------------------------------------
# table
# ------------------------------------------------------------------------------------------


def verdict_vs_truth(out: dict) -> str:
    """The pair-free verdict of a run beside its paired truth: chosen top-1 vs the Procrustes
    oracle's, per direction, at the first pool."""
    rows = out["results"]
    pool = min(r["pool"] for r in rows)
    lines = [f"verdict without pairs: {out['verdict']['label']} -- {out['verdict']['explain']}"]
    for d in dict.fromkeys(r["direction"] for r in rows):
        mine = next((r["top1"] for r in rows if r["direction"] == d and r.get("chosen")
                     and r["pool"] == pool), None)
        ora = next((r["top1"] for r in rows if r["direction"] == d
                    and r["method"] == "procrustes-oracle" and r["pool"] == pool), None)
        if mine is not None:
            vs = f", {mine / ora:.0%} of the paired oracle's {ora:.3f}" if ora else ""
            lines.append(f"  paired truth {d}: top-1 @{pool} {mine:.3f}{vs}")
    return "\n".join(lines)


def format_table(results: list[dict]) -> str:
    """Plain-text table of eval.json ``results`` rows."""
    head = f"{'direction':<22}{'method':<28}{'pool':>6}{'top1':>8}{'top5':>8}{'rank':>9}" \
           f"{'cos':>8}{'cos_c':>8}{'hung':>8}"
    lines = [head, "-" * len(head)]
    for r in results:
        name = r["method"] + (f"[seed={r['seed']}]" if r.get("seed") is not None else "")
        hung = "-" if r.get("hungarian") is None else f"{r['hungarian']:.3f}"
        lines.append(f"{r['direction']:<22}{name:<28}{r['pool']:>6}{r['top1']:>8.3f}{r['top5']:>8.3f}"
                     f"{r['mean_rank']:>9.1f}{r['cos']:>8.3f}{r.get('cos_centered', float('nan')):>8.3f}"
                     f"{hung:>8}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# evaluate a run directory
# ------------------------------------------------------------------------------------------


def evaluate_run(run_dir: str | Path, n_eval: int = 8192, pools=POOLS, pool_seed: int = 0,
                 baselines: bool = True, all_seeds: bool = True, oracle_folds: int = 2,
                 hungarian_max_pool: int = 8192, eval_rows: str = "test") -> dict:
    """Score the run's translator(s) and baselines on the paired eval split; write DIR/eval.json.

    ``eval_rows``: ``test`` = the first ``n_eval`` rows of split eval (the headline figures);
    ``dev`` = the rows of split eval after them (tune defaults there, not on test)."""
    if eval_rows not in ("test", "dev"):
        raise ValueError(f"eval_rows={eval_rows!r}: use test (headline rows) or dev (tuning rows)")
    cfg = rundir.read_config(run_dir)
    src, tgt, corpus, dseed = cfg["source"], cfg["target"], cfg["corpus"], int(cfg["split_seed"])
    limit = n_eval if eval_rows == "test" else None
    ea = embed(src, corpus, "eval", limit=limit, seed=dseed)
    eb = embed(tgt, corpus, "eval", limit=limit, seed=dseed)
    if eval_rows == "dev":
        ea, eb = ea[n_eval:], eb[n_eval:]
        if len(ea) < 2:
            raise ValueError(f"eval_rows=dev: split eval of {corpus} has no rows after the first "
                             f"n_eval={n_eval} (the test rows); lower n_eval")
    check_paired(ea, eb, (f"{src} eval", f"{tgt} eval"))
    # target-space means for centred cosine: each space's own unpaired training split
    xa = embed(src, corpus, "a", limit=int(cfg["n_a"]), seed=dseed)
    xb = embed(tgt, corpus, "b", limit=int(cfg["n_b"]), seed=dseed)
    means = centring_means(xa, xb)
    names = {"ab": f"{src}->{tgt}", "ba": f"{tgt}->{src}"}

    def score(pred, direction, method, **extra):
        true = eb if direction == "ab" else ea
        rows = all_metrics(pred, true, means[direction], pools, pool_seed, hungarian_max_pool)
        return [{"direction": names[direction], "method": method, **extra, **r} for r in rows]

    results: list[dict] = []
    chosen = rundir.load_translator(run_dir)
    sel_path = rundir.selection_path(run_dir)
    selection = read_json(sel_path) if sel_path.is_file() else {}
    if not selection:  # a run written without selection.json: score the translator here
        selection = {"criterion": CRITERION, "chosen": unsupervised_score(chosen, xa, xb)}
    # the pair-free verdict, shown beside the paired truth below (runs from before verdicts
    # existed get one computed now)
    pair_free = selection.get("verdict") or verdict(chosen, xa, xb)
    seeds = [int(s) for s in cfg["seeds"]] if all_seeds else []
    for d in ("ab", "ba"):
        src_x = ea if d == "ab" else eb
        results += score(chosen.translate(src_x, d), d, cfg["method"], chosen=True)
        for s in seeds:
            if (rundir.translator_dir(run_dir, s) / "translator.json").is_file() and len(seeds) > 1:
                t = rundir.load_translator(run_dir, s)
                results += score(t.translate(src_x, d), d, cfg["method"], seed=s)
        if baselines:
            if ea.shape[1] == eb.shape[1] and cfg["method"] != "identity":
                results += score(l2_normalize(src_x), d, "identity")
            for m in ORACLES:
                results += score(oracle_predictions(m, ea, eb, d, oracle_folds, pool_seed), d, m,
                                 oracle_fit_pairs=len(ea) * (oracle_folds - 1) // oracle_folds)
    out = {"source": src, "target": tgt, "method": cfg["method"], "corpus": corpus,
           "n_eval": len(ea), "eval_rows": eval_rows, "selection": selection,
           "verdict": pair_free, "results": results}
    write_json(rundir.eval_path(run_dir), out)
    return out
