"""Known-pairs curve: how many known documents make a pair that fails without pairs translatable?

    python -m benchmarks known_pairs embedders=[minilm,e5-small] pairs=[10,30,100]

See ``benchmarks/conf/known_pairs.yaml``. Writes JSON after each fit and prints a table.
"""
from __future__ import annotations

import itertools
import time

from benchmarks.common import output_path, size_tag, write_result


def run(cfg: dict) -> dict:
    from vec2vec.data.cache import embed
    from vec2vec.data.validation import l2_normalize
    from vec2vec.evaluate import oracle_predictions, retrieval_metrics
    from vec2vec.runtime import thread_limit
    from vec2vec.translators import get_translator
    from vec2vec.translators.pairs import PairsMap, known_pairs_plan

    out = output_path(cfg, f"known_pairs_{cfg['corpus']}_{size_tag(cfg['n'])}.json")
    n, counts = int(cfg["n"]), [int(c) for c in cfg["pairs"]]
    record = {"config": cfg, "rows": []}
    emb = lambda e, split, lim: embed(e, cfg["corpus"], split, limit=lim, progress=False)  # noqa: E731
    with thread_limit(int(cfg["threads"])):
        for a, b in itertools.combinations(cfg["embedders"], 2):
            xa, xb = emb(a, "a", n), emb(b, "b", n)
            ea, eb = emb(a, "eval", cfg["n_eval"]), emb(b, "eval", cfg["n_eval"])
            # the known pairs: split-a texts after the first n, embedded by both
            pa_all, pb_all = emb(a, "a", n + max(counts))[n:], emb(b, "a", n + max(counts))[n:]
            truth = {"ab": eb, "ba": ea}
            src = {"ab": ea, "ba": eb}
            oracle = {d: retrieval_metrics(oracle_predictions("procrustes-oracle", ea, eb, d, 2, 0),
                                           truth[d], hungarian=False)["top1"] for d in truth}

            def score(tr, name, k, seconds):
                for d in ("ab", "ba"):
                    pred = tr.translate(src[d], d)
                    m = retrieval_metrics(pred, truth[d], hungarian=False)
                    cos = float((l2_normalize(pred) * l2_normalize(truth[d])).sum(1).mean())
                    row = {"source": a if d == "ab" else b, "target": b if d == "ab" else a,
                           "pairs": k, "fit": name, "top1": m["top1"], "cos": cos,
                           "oracle_top1": oracle[d], "ratio": m["top1"] / max(oracle[d], 1e-9),
                           "seconds": seconds}
                    record["rows"].append(row)
                    print(f"{row['source']:>9} -> {row['target']:<9} pairs {k:>5} {name:<11} "
                          f"top-1 {m['top1']:.3f} ({row['ratio']:.0%} of oracle {oracle[d]:.3f}) "
                          f"cos {cos:.3f}  {seconds:.0f} s", flush=True)

            for k in ([0] if cfg["unsupervised"] else []) + counts:
                t0 = time.time()
                params = {"seed": int(cfg["seed"])}
                if k == 0:
                    tr = get_translator("mini-vec2vec", **params).fit(xa, xb)
                    score(tr, "no-pairs", 0, time.time() - t0)
                else:
                    pa, pb = pa_all[:k], pb_all[:k]
                    knobs, extra, base = known_pairs_plan("mini-vec2vec", params, xa, xb, pa, pb)
                    tr = get_translator("mini-vec2vec", **knobs).fit(xa, xb, **extra)
                    score(tr, "refined", k, time.time() - t0)
                    score(PairsMap(base.w_ab).fit(xa, xb), "pairs-only", k, 0.0)
                write_result(out, record)
    # the smallest number of pairs reaching 90% of the oracle, per direction
    best = {}
    for r in record["rows"]:
        key = f"{r['source']}->{r['target']}"
        if r["fit"] == "refined" and r["ratio"] >= 0.9:
            best[key] = min(best.get(key, r["pairs"]), r["pairs"])
    record["pairs_for_90pct"] = {f"{r['source']}->{r['target']}": best.get(
        f"{r['source']}->{r['target']}") for r in record["rows"]}
    print(record["pairs_for_90pct"])
    write_result(out, record)
    return record
