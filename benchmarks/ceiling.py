"""Supervised ceilings with many pairs: what a paired map reaches as its training set grows.

    python -m benchmarks ceiling source=minilm target=mpnet pairs=[4096,30000]

The method table (``methods``) fits its oracles out of fold on the eval pairs, so on 4,096 pairs
at most; here each oracle is fitted on ``pairs`` texts of split b embedded by both models and
scored on the eval split (``benchmarks/conf/ceiling.yaml``). Prints a table, writes JSON.
"""
from __future__ import annotations

from benchmarks.common import output_path, write_result


def run(cfg: dict) -> dict:
    from vec2vec.data.cache import embed
    from vec2vec.evaluate import ORACLES, centring_means, format_table, score_directions
    from vec2vec.translators import get_translator

    sizes = [int(s) for s in cfg["pairs"]]
    src, tgt, corpus = cfg["source"], cfg["target"], cfg["corpus"]
    out = output_path(cfg, f"ceiling_{src}_{tgt}.json")
    xa = embed(src, corpus, "b", limit=max(sizes), progress=False)
    xb = embed(tgt, corpus, "b", limit=max(sizes), progress=False)
    ea = embed(src, corpus, "eval", limit=cfg["n_eval"], progress=False)
    eb = embed(tgt, corpus, "eval", limit=cfg["n_eval"], progress=False)
    means = centring_means(xa, xb)
    names = {"ab": f"{src}->{tgt}", "ba": f"{tgt}->{src}"}
    results = []
    for n in sizes:
        for method in ORACLES:
            t = get_translator(method).fit(xa[:n], xb[:n])
            results += score_directions(t, ea, eb, means, names, method=f"{method}@{n}", pairs=n)
    print(format_table(results))
    payload = {"config": cfg, "results": results}
    write_result(out, payload)
    print(f"wrote {out}")
    return payload
