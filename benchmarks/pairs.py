"""Pair matrix: the best unsupervised method against each pair's own supervised oracle.

    python -m benchmarks pairs embedders=[minilm,e5-small,minilm-l3,glove-50,mpnet] n=5000 n_eval=2048

See ``benchmarks/conf/pairs.yaml``. Writes JSON after each pair and prints a table.
"""
from __future__ import annotations

import itertools
import os
import time

import numpy as np

from benchmarks.common import output_path, write_result


def run(cfg: dict) -> dict:
    from vec2vec.data.cache import embed
    from vec2vec.evaluate import all_metrics, centring_means, oracle_predictions
    from vec2vec.selection import unsupervised_score
    from vec2vec.translators import get_translator, method_class
    from vec2vec.translators.pivot import load_pivot_vectors

    out = output_path(cfg, "pairs.json")
    embedders, pivot = list(cfg["embedders"]), cfg["pivot"]
    caps = {k: int(v) for k, v in cfg["small_n"].items()}
    n_of = {e: min(cfg["n"], caps.get(e, cfg["n"])) for e in embedders + ([pivot] if pivot else [])}
    data: dict = {}

    def vecs(e: str, split: str) -> np.ndarray:
        """Cached vectors of embedder e on split; loaded on first use only (an embedder that is
        never a source needs no split ``a``)."""
        if (e, split) not in data:
            data[e, split] = embed(e, cfg["corpus"], split, progress=False,
                                   limit=n_of[e] if split != "eval" else cfg["n_eval"])
        return data[e, split]

    record = {"config": cfg, "n_per_embedder": n_of, "pairs": []}
    for src, tgt in itertools.combinations(embedders, 2):
        xa, xb = vecs(src, "a"), vecs(tgt, "b")
        ea, eb = vecs(src, "eval"), vecs(tgt, "eval")
        t0 = time.time()
        method, chosen_start = cfg["method"], None
        if pivot and pivot not in (src, tgt):
            method = "pivot"
            xp = load_pivot_vectors({"n_a": len(xa), "corpus": cfg["corpus"], "split_seed": 0,
                                     "progress": False}, pivot, n_of[pivot])
            t = get_translator("pivot", pivot=pivot, seed=cfg["seed"]).fit(xa, xb, xp=xp)
            chosen_start = next(h["start"] for h in t.history if h.get("step") == "chosen-start"
                                and h["stage"] == "a->b")
        else:
            seeded = "seed" in method_class(method).config_keys()
            t = get_translator(method, **({"seed": cfg["seed"]} if seeded else {})).fit(xa, xb)
        fit_s = time.time() - t0
        sel = unsupervised_score(t, xa, xb)
        means = centring_means(xa, xb)
        for d, (s_name, t_name) in (("ab", (src, tgt)), ("ba", (tgt, src))):
            x_src, x_tgt = (ea, eb) if d == "ab" else (eb, ea)
            res = all_metrics(t.translate(x_src, d), x_tgt, means[d], (1024,))[0]
            orc = {m: all_metrics(oracle_predictions(m, ea, eb, d), x_tgt, means[d], (1024,))[0]
                   for m in ("procrustes-oracle", "lstsq-oracle")}
            best_oracle = max(o["top1"] for o in orc.values())
            rec = {"source": s_name, "target": t_name, "method": method, "seed": cfg["seed"],
                   "n_a": len(xa), "n_b": len(xb), "n_eval": len(ea), "fit_seconds": fit_s,
                   "top1": res["top1"], "top5": res["top5"], "cos": res["cos"],
                   "cos_centered": res["cos_centered"], "hungarian": res["hungarian"],
                   "oracle_top1": orc["procrustes-oracle"]["top1"],
                   "lstsq_oracle_top1": orc["lstsq-oracle"]["top1"],
                   "ratio_to_oracle": res["top1"] / max(best_oracle, 1e-9),
                   "selection_score": sel["score"], "chosen_start": chosen_start,
                   "loadavg_1min": os.getloadavg()[0]}
            record["pairs"].append(rec)
            print(f"{s_name:>10} -> {t_name:<10} {method:<14} top1@1024 {rec['top1']:.3f}  oracle "
                  f"{rec['oracle_top1']:.3f} / lstsq {rec['lstsq_oracle_top1']:.3f}  ratio "
                  f"{rec['ratio_to_oracle']:.2f}  fit {fit_s:.0f}s", flush=True)
        write_result(out, record)
    print(f"\n{'source':>10}    {'target':<10}{'method':<15}{'top1':>7}{'oracle':>8}{'ratio':>7}  >=0.8")
    for r in record["pairs"]:
        best = max(r["oracle_top1"], r["lstsq_oracle_top1"])
        print(f"{r['source']:>10} -> {r['target']:<10}{r['method']:<15}{r['top1']:>7.3f}{best:>8.3f}"
              f"{r['ratio_to_oracle']:>7.2f}  {'yes' if r['ratio_to_oracle'] >= 0.8 else 'MISS'}")
    print(f"wrote {out}")
    return record
