"""Supervised ceilings with many pairs: what a paired map reaches as its training set grows.

    python experiments/bench_ceiling.py source=minilm target=mpnet pairs=4096,30000

The method table (``bench_methods.py``) fits its oracles out of fold on the eval pairs, so on
4,096 pairs at most; the supervised least-squares figure the translation issue compares with
(cos 0.765 / 0.69, DESIGN.md section 1) came from a map fitted on more pairs. Here each oracle
(``procrustes-oracle``, ``lstsq-oracle``) is fitted on the first ``pairs`` texts of split ``b``
embedded by *both* models (disjoint from eval) and scored on the eval split in both directions
with the method table's metrics and pools. The centred cosine removes each space's mean over all
``max(pairs)`` split-b texts (the method table uses split a for the source space: same
distribution, other texts). Prints a table, writes JSON.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments._args import parse_kv  # noqa: E402
from vec2vec.embed import embed  # noqa: E402
from vec2vec.evaluate import ORACLES, centring_means, format_table, score_directions  # noqa: E402
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
    means = centring_means(xa, xb)
    names = {"ab": f"{src}->{tgt}", "ba": f"{tgt}->{src}"}
    results = []
    for n in sizes:
        for method in ORACLES:
            t = get_translator(method).fit(xa[:n], xb[:n])
            results += score_directions(t, ea, eb, means, names, method=f"{method}@{n}", pairs=n)
    print(format_table(results))
    out = cfg["out"] or f"experiments/results/bench_ceiling_{src}_{tgt}.json"
    write_json(out, {"config": cfg, "results": results})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
