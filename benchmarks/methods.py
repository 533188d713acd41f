"""Method table: every translation method x direction x seed for one embedder pair.

    python -m benchmarks methods source=minilm target=mpnet n_a=30000 n_b=30000 n_eval=8192 \
        seeds=[0,1,2] methods=[mini-vec2vec,gw,muse]

See ``benchmarks/conf/methods.yaml`` for every key. Writes JSON after every fit and prints a table.
"""
from __future__ import annotations

import copy
import time

import numpy as np

from benchmarks.common import output_path, write_result


def spearman(x, y) -> float | None:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def at_1024(rows) -> list[dict]:
    """The rows at pool 1024 (at the smallest pool when 1024 was not scored: small smoke runs)."""
    pool = 1024 if any(r["pool"] == 1024 for r in rows) else min(r["pool"] for r in rows)
    return [r for r in rows if r["pool"] == pool]


def top1_1024(rows) -> float:
    return float(np.mean([r["top1"] for r in at_1024(rows)]))


def paired_rows(predict, ea, eb, means, names, pools) -> list[dict]:
    """Both directions of a baseline scored on the eval pairs: ``predict(d)`` gives its predictions
    for direction d ("ab": of eb from ea; "ba": of ea from eb)."""
    from vec2vec.evaluate import all_metrics

    rows = []
    for d, tgt in (("ab", eb), ("ba", ea)):
        rows += [{"direction": names[d], **r} for r in all_metrics(predict(d), tgt, means[d], pools)]
    return rows


def post_oracle_rows(t, ea, eb, means, names, pools) -> list[dict]:
    """Paired ceiling of post-processing one fit: a least-squares map from t's translations to the
    true vectors, fitted out of fold on the eval pairs (uses pairs: a ceiling, not a method)."""
    from vec2vec.data.validation import l2_normalize
    from vec2vec.evaluate import oracle_predictions

    def predict(d):
        src, tgt = (ea, eb) if d == "ab" else (eb, ea)
        return oracle_predictions("lstsq-oracle", l2_normalize(t.translate(src, d)), tgt, "ab")
    return paired_rows(predict, ea, eb, means, names, pools)


def fit_logging_checkpoints(t, xa, xb, ea, eb, means, names, snapshots: list) -> float:
    """Fit the GAN ``t``, logging at step 0 (the warm start) and every ``eval_every`` steps its
    pair-free score and, as diagnostics, its paired top-1 @1024 and mean cosine (both directions
    averaged): one snapshot per checkpoint, for the score-vs-metric rank correlations.
    Returns the seconds spent on the paired diagnostics (not part of the fit's time)."""
    from vec2vec.evaluate import score_directions
    from vec2vec.selection import unsupervised_score

    every, steps = int(t.config["eval_every"]), int(t.config["steps"])
    spent = [0.0]

    def probe(u) -> float:
        score = unsupervised_score(u, xa, xb)["score"]
        t0 = time.time()
        n = sum(x["method"] == u.method and x["seed"] == u.config["seed"] for x in snapshots)
        rows = score_directions(u, ea, eb, means, names, (min(1024, len(ea)),))
        snapshots.append({"method": u.method, "seed": u.config["seed"], "step": min(n * every, steps),
                          "score": score, "top1_1024": top1_1024(rows),
                          "cos": float(np.mean([r["cos"] for r in rows]))})
        spent[0] += time.time() - t0
        return score

    t.fit(xa, xb, score_fn=probe)
    return spent[0]


def run_pair(name, xa, xb, ea, eb, methods, seeds, pools, method_kw, snapshots, log,
             shrink: int = 0, post_oracle: bool = False):
    """All methods x seeds on one (a, b) data set; yields {"runs", "baselines", "snapshots",
    "summary"} after every fit, then once more with the baselines and the summary.
    shrink > 0: every fit is also scored with its outputs shrunk (method name + "+shrink").
    post_oracle: every fit also gets a baseline row "<method>+lstsq-post s<seed>"."""
    from vec2vec.data.validation import l2_normalize
    from vec2vec.evaluate import ORACLES, centring_means, oracle_predictions, score_directions
    from vec2vec.selection import unsupervised_score
    from vec2vec.translators import get_translator, method_class

    names = {"ab": f"{name[0]}->{name[1]}", "ba": f"{name[1]}->{name[0]}"}
    means = centring_means(xa, xb)
    out = {"runs": [], "baselines": [], "snapshots": [], "summary": {}}
    for m in methods:
        for s in seeds:
            t0 = time.time()
            seeded = {"seed": s} if "seed" in method_class(m).config_keys() else {}
            t = get_translator(m, **seeded, **method_kw.get(m, {}))
            diagnostics_s = 0.0
            if snapshots and s == seeds[0] and t.trains_in_steps:
                diagnostics_s = fit_logging_checkpoints(t, xa, xb, ea, eb, means, names,
                                                        out["snapshots"])
            else:
                t.fit(xa, xb)
            fit_s = time.time() - t0 - diagnostics_s
            sel = unsupervised_score(t, xa, xb)
            rows = score_directions(t, ea, eb, means, names, pools)
            out["runs"].append({"method": m, "seed": s, "fit_seconds": fit_s, "selection": sel,
                                "results": rows, "history": getattr(t, "history", None)})
            log(f"  {m:<14} seed {s}: top1@1024 {top1_1024(rows):.3f} score {sel['score']:.4f} "
                f"fit {fit_s:.1f}s")
            if shrink:   # the same fit with its outputs shrunk, scored alike
                u = copy.copy(t)
                u.config = dict(t.config)
                t1 = time.time()
                u.fit_shrinkage(xa, xb, shrink)
                sel_u = unsupervised_score(u, xa, xb)
                rows_u = score_directions(u, ea, eb, means, names, pools)
                out["runs"].append({"method": f"{m}+shrink", "seed": s, "selection": sel_u,
                                    "fit_seconds": fit_s + time.time() - t1, "results": rows_u})
                log(f"  {m + '+shrink':<14} seed {s}: top1@1024 {top1_1024(rows_u):.3f} "
                    f"score {sel_u['score']:.4f}")
            if post_oracle:
                out["baselines"].append({"method": f"{m}+lstsq-post s{s}",
                                         "results": post_oracle_rows(t, ea, eb, means, names, pools)})
            if snapshots and s == seeds[0] and getattr(t, "snapshots", None):
                for step, w in t.snapshots:
                    u = t.with_map(w)
                    rows_1024 = score_directions(u, ea, eb, means, names, (min(1024, len(ea)),))
                    out["snapshots"].append({"method": m, "seed": s, "step": step,
                                             "score": unsupervised_score(u, xa, xb)["score"],
                                             "top1_1024": top1_1024(rows_1024)})
            yield out
    for m in (["identity"] if ea.shape[1] == eb.shape[1] else []) + list(ORACLES):
        def predict(d, m=m):
            return (l2_normalize(ea if d == "ab" else eb) if m == "identity" else
                    oracle_predictions(m, ea, eb, d))
        out["baselines"].append({"method": m,
                                 "results": paired_rows(predict, ea, eb, means, names, pools)})
    summarize(out)
    yield out


def summarize(out: dict) -> None:
    """Chosen seed per method (max unsupervised score), success rate, rank correlations."""
    for m in sorted({r["method"] for r in out["runs"]}):
        runs = [r for r in out["runs"] if r["method"] == m]
        best = max(runs, key=lambda r: r["selection"]["score"])
        per_seed = [top1_1024(r["results"]) for r in runs]
        succ = [all(x["top1"] >= 0.95 for x in at_1024(r["results"])) for r in runs]
        out["summary"][m] = {
            "chosen_seed": best["seed"], "chosen_top1_1024": top1_1024(best["results"]),
            "best_seed_by_top1": runs[int(np.argmax(per_seed))]["seed"],
            "picked_best": top1_1024(best["results"]) >= max(per_seed) - 1e-9,
            "success_rate": float(np.mean(succ)), "top1_1024_per_seed": per_seed,
            "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in runs])),
            "spearman_score_vs_top1_seeds": spearman([r["selection"]["score"] for r in runs], per_seed)}
    runs = out["runs"]
    out["summary"]["spearman_score_vs_top1_all_runs"] = spearman(
        [r["selection"]["score"] for r in runs], [top1_1024(r["results"]) for r in runs])
    snaps = out["snapshots"]
    out["summary"]["spearman_score_vs_top1_snapshots"] = spearman(
        [s["score"] for s in snaps], [s["top1_1024"] for s in snaps])
    for m in sorted({s["method"] for s in snaps}):   # per method: pipeline steps / GAN checkpoints
        mine = [s for s in snaps if s["method"] == m]
        out["summary"].setdefault(m, {})["spearman_score_vs_top1_snapshots"] = spearman(
            [s["score"] for s in mine], [s["top1_1024"] for s in mine])
        if all("cos" in s for s in mine):   # GAN checkpoints: the refinement moves cos, not top-1
            out["summary"][m]["spearman_score_vs_cos_snapshots"] = spearman(
                [s["score"] for s in mine], [s["cos"] for s in mine])


def table(out: dict, title: str) -> str:
    lines = [title, f"{'method':<28}{'seed':>5}{'direction':>20}{'pool':>6}{'top1':>7}{'top5':>7}"
             f"{'rank':>8}{'cos':>7}{'cos_c':>7}{'hung':>7}{'fit_s':>8}{'score':>8}"]

    def fmt(method, seed, r, fit, score):
        h = "-" if r.get("hungarian") is None else f"{r['hungarian']:.3f}"
        return (f"{method:<28}{seed:>5}{r['direction']:>20}{r['pool']:>6}{r['top1']:>7.3f}"
                f"{r['top5']:>7.3f}{r['mean_rank']:>8.1f}{r['cos']:>7.3f}{r['cos_centered']:>7.3f}"
                f"{h:>7}{fit:>8}{score:>8}")
    for run in out["runs"]:
        chosen = out["summary"].get(run["method"], {}).get("chosen_seed") == run["seed"]
        for r in run["results"]:
            lines.append(fmt(run["method"] + ("*" if chosen else ""), run["seed"], r,
                             f"{run['fit_seconds']:.1f}", f"{run['selection']['score']:.3f}"))
    for b in out["baselines"]:
        for r in b["results"]:
            lines.append(fmt(b["method"], "-", r, "-", "-"))
    s = out["summary"]
    for m, v in s.items():
        if isinstance(v, dict) and "chosen_seed" in v:
            lines.append(f"{m}: chosen seed {v['chosen_seed']} (top1@1024 {v['chosen_top1_1024']:.3f}),"
                         f" picked the best: {v['picked_best']}, success {v['success_rate']:.2f}, "
                         f"mean fit {v['fit_seconds_mean']:.1f}s; Spearman(score, top1) over its "
                         f"snapshots {v.get('spearman_score_vs_top1_snapshots')}, (score, cos) "
                         f"{v.get('spearman_score_vs_cos_snapshots')}")
    lines.append(f"Spearman(score, top1@1024): all runs {s.get('spearman_score_vs_top1_all_runs')}, "
                 f"snapshots {s.get('spearman_score_vs_top1_snapshots')}")
    return "\n".join(lines)


def run(cfg: dict) -> dict:
    from vec2vec.data.cache import embed
    from vec2vec.translators import method_class

    for m in cfg["methods"]:
        method_class(m)                      # unknown method names fail before any work
    unknown = set(cfg["method_kw"]) - set(cfg["methods"])
    if unknown:
        raise ValueError(f"method_kw names methods not in methods={cfg['methods']}: {sorted(unknown)}")
    src, tgt, corpus = cfg["source"], cfg["target"], cfg["corpus"]
    out_path = output_path(cfg, f"methods_{src}_{tgt}.json")
    t0 = time.time()
    xa = embed(src, corpus, "a", limit=cfg["n_a"], progress=False)
    k = int(cfg["b_from_eval"])
    xb = None if k else embed(tgt, corpus, "b", limit=cfg["n_b"], progress=False)
    ea = embed(src, corpus, "eval", limit=cfg["n_eval"], progress=False)
    eb = embed(tgt, corpus, "eval", limit=cfg["n_eval"], progress=False)
    if k:
        # target's unpaired vectors = eval rows [k:] (texts disjoint from the paired eval rows
        # [:k] and from split a); used when the target's split b is not embedded yet
        xb, ea, eb = eb[k:k + cfg["n_b"]], ea[:k], eb[:k]
    pools = [p for p in cfg["pools"] if p <= len(ea)]
    record = {"config": cfg, "sizes": {"n_a": len(xa), "n_b": len(xb), "n_eval": len(ea),
                                       "pools": pools}, "pair": None, "rotation": None}
    print(f"{src} ({len(xa)}) vs {tgt} ({len(xb)}), eval {len(ea)} paired; "
          f"data ready in {time.time() - t0:.0f}s", flush=True)
    log = lambda s: print(s, flush=True)  # noqa: E731
    for part in run_pair((src, tgt), xa, xb, ea, eb, cfg["methods"], cfg["seeds"], pools,
                         cfg["method_kw"], not cfg["no_snapshots"], log, cfg["shrink"],
                         cfg["post_oracle"]):
        record["pair"] = part
        write_result(out_path, record)
    print(table(record["pair"], f"\n== {src} <-> {tgt} =="))
    if cfg["rotation"]:
        q, _ = np.linalg.qr(np.random.default_rng(99).standard_normal((xa.shape[1],) * 2))
        q = q.astype(np.float32)
        xb_rot = embed(src, corpus, "b", limit=cfg["n_b"], progress=False) @ q
        ea = embed(src, corpus, "eval", limit=cfg["n_eval"], progress=False)[:len(ea)]
        for part in run_pair((src, src + "-rotated"), xa, xb_rot, ea, ea @ q, cfg["methods"],
                             cfg["seeds"][:1], pools, cfg["method_kw"], False, log):
            record["rotation"] = part
            write_result(out_path, record)
        print(table(record["rotation"], f"\n== rotation control: {src} vs rotated copy =="))
    print(f"wrote {out_path} ({time.time() - t0:.0f}s total)")
    return record
