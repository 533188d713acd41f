"""``vec2vec embed``: embed a corpus split (or a whole user file) through the on-disk cache."""
from __future__ import annotations

import time

import numpy as np

from vec2vec.data.cache import embed, entry_dir
from vec2vec.data.corpora import resolve_split


def main(cfg: dict) -> int:
    """``vec2vec embed embedder=minilm corpus=gcide-definitions split=eval limit=512
    output=x.npy``: the vectors go to the cache (resumable chunks) and, with ``output``, to a .npy
    file with a JSON manifest beside it."""
    t0 = time.perf_counter()
    cfg["split"] = resolve_split(cfg["corpus"], cfg.get("split"), "eval")
    sizes = {k: v for k, v in (cfg.get("sizes") or {}).items() if v is not None}
    corpus_opts = {k: v for k, v in (cfg.get("corpus_opts") or {}).items() if v is not None}
    vectors = embed(embedder=cfg["embedder"], corpus=cfg["corpus"], split=cfg["split"],
                    limit=cfg.get("limit"), seed=cfg["split_seed"], out=cfg.get("output"),
                    sizes=sizes or None, batch_size=cfg["batch_size"], progress=cfg["progress"],
                    overwrite=cfg["overwrite"], **corpus_opts)
    where = cfg.get("output") or entry_dir(cfg["embedder"], cfg["corpus"], cfg["split"],
                                           cfg["split_seed"], sizes or None)
    norms = np.linalg.norm(vectors, axis=1)
    print(f"{cfg['embedder']} on {cfg['corpus']}[{cfg['split']}]: {vectors.shape[0]} x "
          f"{vectors.shape[1]} {vectors.dtype}, norms {norms.min():.3f}..{norms.max():.3f}, "
          f"{time.perf_counter() - t0:.2f} s -> {where}")
    return 0
