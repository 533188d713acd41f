"""Supervised ceilings with many pairs: what a paired map reaches as its training set grows.

    python experiments/bench_ceiling.py source=minilm target=mpnet pairs=4096,30000

The method table's oracles are fitted out of fold on the eval pairs, so only on ~4k pairs. The
issue's bar (the supervised least-squares map, cos 0.765 / 0.69) came from more. Here each
oracle (``procrustes-oracle``, ``lstsq-oracle``) is fitted on the first ``pairs`` texts of split
``b`` embedded by *both* models (they are disjoint from eval) and scored on the eval split in both
directions with the same metrics as every method. Prints a table, writes JSON.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments._args import parse_kv  # noqa: E402
from vec2vec.embed import embed  # noqa: E402
from vec2vec.evaluate import ORACLES, all_metrics, format_table  # noqa: E402
from vec2vec.io import write_json  # noqa: E402
from vec2vec.translators import get_translator  # noqa: E402

DEFAULTS = dict(source="minilm", target="mpnet", corpus="gcide-definitions", pairs="4096,30000",
                n_eval=8192, out="")


def main(argv: list[str]) -> int:
    cfg = parse_kv(argv, DEFAULTS)
    sizes = [int(s) for s in cfg["pairs"].split(",")]
    src, tgt = cfg["source"], cfg["target"]
    xa = embed(src, cfg["corpus"], "b", limit=max(sizes))
    xb = embed(tgt, cfg["corpus"], "b", limit=max(sizes))
    ea = embed(src, cfg["corpus"], "eval", limit=cfg["n_eval"])
    eb = embed(tgt, cfg["corpus"], "eval", limit=cfg["n_eval"])
    # centred cosine removes each target space's mean over the fitting texts (split b)
    means = {"ab": xb.mean(0), "ba": xa.mean(0)}
    names = {"ab": f"{src}->{tgt}", "ba": f"{tgt}->{src}"}
    results = []
    for n in sizes:
        for method in ORACLES:
            t0 = time.time()
            t = get_translator(method).fit(xa[:n], xb[:n])
            secs = time.time() - t0
            for d, x, y in (("ab", ea, eb), ("ba", eb, ea)):
                for r in all_metrics(t.translate(x, d), y, means[d]):
                    results.append({"direction": names[d], "method": f"{method} ({n} pairs)",
                                    "pairs": n, "fit_seconds": round(secs, 2), **r})
    print(format_table(results))
    out = cfg["out"] or f"experiments/results/bench_ceiling_{src}_{tgt}.json"
    write_json(out, {"config": cfg, "results": results})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
