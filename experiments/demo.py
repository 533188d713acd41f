"""`make demo`: the main job on the embedded default data and models, with its results printed.

1. Embed gcide-definitions' splits with minilm and mpnet through the cache: split ``a`` with
   minilm and ``b`` with mpnet (disjoint texts: unpaired training data), ``eval`` with both
   (paired, for evaluation only). Prints counts, timings and cache locations.
2. (when the translation methods are installed) train the default unsupervised translator
   minilm <-> mpnet and print the method table.

Sizes are set so a fresh 2-core machine finishes in under 20 minutes (mpnet embeds ~29 texts/s).
Environment: DEMO_N_TRAIN (per side, default 8000), DEMO_N_EVAL (default 2048).
"""
from __future__ import annotations

import os
import time

from vec2vec.embed import embed, entry_dir

N_TRAIN = int(os.environ.get("DEMO_N_TRAIN", 8000))
N_EVAL = int(os.environ.get("DEMO_N_EVAL", 2048))
CORPUS = "gcide-definitions"
PLAN = [("minilm", "a", N_TRAIN), ("mpnet", "b", N_TRAIN), ("minilm", "eval", N_EVAL),
        ("mpnet", "eval", N_EVAL)]


def embed_step() -> dict:
    print(f"== 1. embeddings of {CORPUS} (cached; a second run is instant)")
    print(f"{'embedder':<8} {'split':<5} {'count':>6} {'dim':>4} {'seconds':>8}  cache")
    out = {}
    for name, split, n in PLAN:
        t = time.perf_counter()
        x = embed(name, CORPUS, split, limit=n, seed=0)
        dt = time.perf_counter() - t
        out[(name, split)] = x
        print(f"{name:<8} {split:<5} {x.shape[0]:>6} {x.shape[1]:>4} {dt:>8.1f}  "
              f"{entry_dir(name, CORPUS, split, 0, None)}", flush=True)
    return out


def main() -> None:
    t0 = time.perf_counter()
    embed_step()
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
