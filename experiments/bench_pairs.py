"""Pair matrix: the best unsupervised method against each pair's own supervised oracle.

    python experiments/bench_pairs.py --embedders minilm e5-small minilm-l3 glove-50 mpnet \
        --n 5000 --n-eval 2048

For every ordered pair (source, target) of distinct embedders, fits ``--method`` (default
mini-vec2vec, seed 0) on unpaired vectors (source on split ``a``, target on split ``b``) and
reports top-1 @1024 in both directions beside the Procrustes and least-squares
oracles (fitted out of fold on the paired eval split) and the ratio to the better oracle
(target: >= 0.8). One fit serves both directions of an unordered pair. ``--small-n NAME=N`` caps
the rows of an expensive embedder (mpnet embeds at ~29 texts/s on 2 cores).

``--pivot P`` fits method ``pivot`` through embedder P instead, for every pair without P (its
vectors: split ``a`` rows after the source's, texts disjoint from both sides): mini-vec2vec on
the pair with the composed map a -> P -> b as one more start, chosen or not without pairs;
``chosen_start`` says which start won.

Writes ``experiments/results/pairs.json`` ({"config", "pairs": [...]}) after each pair and prints
a table.
The source of each pair is the embedder listed first, fitted on its split ``a``: list mpnet last
(only its ``b`` and ``eval`` splits are cached).
"""
from __future__ import annotations

import argparse
import os
import itertools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vec2vec.embed import embed  # noqa: E402
from vec2vec.evaluate import all_metrics, centring_means, oracle_predictions  # noqa: E402
from vec2vec.io import write_json  # noqa: E402
from vec2vec.selection import unsupervised_score  # noqa: E402
from vec2vec.translators.pivot import load_pivot_vectors  # noqa: E402
from vec2vec.translators import get_translator  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embedders", nargs="+",
                    default=["minilm", "mpnet", "e5-small", "minilm-l3", "glove-50"])
    ap.add_argument("--corpus", default="gcide-definitions")
    ap.add_argument("--n", type=int, default=10000, help="unpaired rows per side")
    ap.add_argument("--n-eval", type=int, default=2048)
    ap.add_argument("--small-n", nargs="*", default=[], help="NAME=N caps for costly embedders")
    ap.add_argument("--method", default="mini-vec2vec")
    ap.add_argument("--pivot", default=None,
                    help="fit method pivot through this embedder for pairs without it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "pairs.json"))
    args = ap.parse_args(argv)
    caps = {k: int(v) for k, v in (s.split("=") for s in args.small_n)}
    n_of = {e: min(args.n, caps.get(e, args.n)) for e in args.embedders + ([args.pivot] if args.pivot else [])}
    data = {}

    def vecs(e: str, split: str) -> np.ndarray:
        """Cached vectors of embedder e on split; loaded on first use only (an embedder that is
        never a source needs no split ``a``: mpnet has only ``b`` and ``eval`` cached)."""
        if (e, split) not in data:
            data[e, split] = embed(e, args.corpus, split, progress=False,
                                   limit=n_of[e] if split != "eval" else args.n_eval)
        return data[e, split]

    record = {"config": {**vars(args), "n_per_embedder": n_of,
                         "loadavg_start": list(os.getloadavg())}, "pairs": []}
    for src, tgt in itertools.combinations(args.embedders, 2):
        xa, xb = vecs(src, "a"), vecs(tgt, "b")
        ea, eb = vecs(src, "eval"), vecs(tgt, "eval")
        t0 = time.time()
        method, chosen_start = args.method, None
        if args.pivot and args.pivot not in (src, tgt):
            method, p = "pivot", args.pivot
            xp = load_pivot_vectors({"n_a": len(xa), "corpus": args.corpus, "data_seed": 0,
                                     "progress": False}, p, n_of[p])
            t = get_translator("pivot", pivot=p, seed=args.seed).fit(xa, xb, xp=xp)
            chosen_start = next(h["start"] for h in t.history if h.get("step") == "chosen-start"
                                and h["stage"] == "a->b")
        else:
            t = get_translator(method, seed=args.seed).fit(xa, xb)
        fit_s = time.time() - t0
        sel = unsupervised_score(t, xa, xb)
        means = centring_means(xa, xb)
        for d, (s_name, t_name) in (("ab", (src, tgt)), ("ba", (tgt, src))):
            x_src, x_tgt = (ea, eb) if d == "ab" else (eb, ea)
            mean_t = means[d]
            res = all_metrics(t.translate(x_src, d), x_tgt, mean_t, (1024,))[0]
            orc = {m: all_metrics(oracle_predictions(m, ea, eb, d), x_tgt, mean_t, (1024,))[0]
                   for m in ("procrustes-oracle", "lstsq-oracle")}
            best_oracle = max(o["top1"] for o in orc.values())
            rec = {"source": s_name, "target": t_name, "method": method, "seed": args.seed,
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
        write_json(args.out, record)
    print(f"\n{'source':>10}    {'target':<10}{'method':<15}{'top1':>7}{'oracle':>8}{'ratio':>7}  >=0.8")
    for r in record["pairs"]:
        print(f"{r['source']:>10} -> {r['target']:<10}{r['method']:<15}{r['top1']:>7.3f}{max(r['oracle_top1'], r['lstsq_oracle_top1']):>8.3f}"
              f"{r['ratio_to_oracle']:>7.2f}  {'yes' if r['ratio_to_oracle'] >= 0.8 else 'MISS'}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
