"""Embedding throughput of each embedder through vec2vec's cache vs the engine's own call.

    python -m benchmarks embed [n=2000] [repeats=2] [embedders=[minilm,e5-small]]

See ``benchmarks/conf/embed.yaml``. Prints a table and writes JSON.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import output_path, write_result

DEFAULT_EMBEDDERS = ["minilm", "minilm-l3", "glove-50", "e5-small"]


def raw_call(e, texts, batch_size):
    """The engine's own call, bypassing vec2vec's Embedder.encode wrapper."""
    return e._encode(texts, batch_size, False)


@contextlib.contextmanager
def cold_cache():
    """A temporary cache root (``VEC2VEC_CACHE``) with no embeddings that shares everything
    else of the real one (assembled models, ...); the variable is restored afterwards."""
    from vec2vec.data.embedders import cache_root

    real, before = cache_root(), os.environ.get("VEC2VEC_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        (real / "models").mkdir(parents=True, exist_ok=True)
        for entry in real.iterdir():
            if entry.name != "embeddings":
                (Path(tmp) / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        os.environ["VEC2VEC_CACHE"] = tmp
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("VEC2VEC_CACHE", None)
            else:
                os.environ["VEC2VEC_CACHE"] = before


def bench(name: str, texts: list[str], repeats: int, batch_size: int) -> dict:
    from vec2vec.data.cache import embed
    from vec2vec.data.embedders import get_embedder

    e = get_embedder(name)
    raw_call(e, texts[:64], batch_size)  # warm-up (lazy allocations, first-call costs)
    raw_t, ours_t = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        ref = raw_call(e, texts, batch_size)
        raw_t.append(time.perf_counter() - t)
        with cold_cache():
            t = time.perf_counter()
            ours = embed(name, "gcide-definitions", "eval", limit=len(texts),
                         batch_size=batch_size, progress=False)
            ours_t.append(time.perf_counter() - t)
        if not np.allclose(ours, ref, atol=1e-4):
            raise AssertionError(f"{name}: vectors through the cache differ from the raw call")
    raw, mine = min(raw_t), min(ours_t)
    return {"embedder": name, "id": e.id, "n": len(texts), "raw_texts_per_s": len(texts) / raw,
            "ours_texts_per_s": len(texts) / mine, "overhead_pct": 100 * (mine / raw - 1),
            "raw_s": raw_t, "ours_s": ours_t}


def run(cfg: dict) -> dict:
    from vec2vec.data.corpora import get_texts

    names = list(cfg["embedders"])
    out = output_path(cfg, "embed.json" if names == DEFAULT_EMBEDDERS
                      else f"embed_{'_'.join(names)}.json")
    texts = get_texts("gcide-definitions", "eval", limit=cfg["n"])
    rows = []
    print(f"{'embedder':<10} {'raw texts/s':>12} {'ours texts/s':>13} {'overhead':>9}")
    for name in names:
        row = bench(name, texts, cfg["repeats"], cfg["batch_size"])
        rows.append(row)
        print(f"{name:<10} {row['raw_texts_per_s']:>12.1f} {row['ours_texts_per_s']:>13.1f} "
              f"{row['overhead_pct']:>8.1f}%", flush=True)
    payload = {"config": cfg, "n": len(texts), "batch_size": cfg["batch_size"], "rows": rows}
    write_result(out, payload)
    print(f"wrote {out}")
    return payload
