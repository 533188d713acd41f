"""`make demo`: the main job on the embedded default data and models, with its results printed.

1. Embed gcide-definitions' splits with minilm and mpnet through the cache: split ``a`` with
   minilm and ``b`` with mpnet (disjoint texts: unpaired training data), ``eval`` with both
   (paired, for evaluation only). Prints counts, timings and cache locations.
2. Train unsupervised translators minilm <-> mpnet on those unpaired vectors -- the linear
   ``mini-vec2vec`` pipeline and the ``vec2vec`` GAN warm-started from it -- and print each
   one's paired evaluation on the held-out ``eval`` texts beside the supervised oracles.
3. Audit a simulated leak: the held-out texts' mpnet vectors, as if leaked from a database whose
   embedder we cannot query. ``vec2vec audit`` translates them into minilm without pairs, labels
   them zero-shot, inverts the first DEMO_N_INVERT to text with the shipped minilm inverter, and
   writes an HTML report; the true texts measure the leakage against its ceilings.

Sizes are set so a fresh 2-core machine finishes in under 20 minutes (mpnet embeds ~29 texts/s).
Environment: DEMO_N_TRAIN (per side, default 5000), DEMO_N_EVAL (default 2048), DEMO_N_INVERT
(default 32).
"""
from __future__ import annotations

import os
import time

from vec2vec.embed import embed, entry_dir

N_TRAIN = int(os.environ.get("DEMO_N_TRAIN", 5000))
N_EVAL = int(os.environ.get("DEMO_N_EVAL", 2048))
N_INVERT = int(os.environ.get("DEMO_N_INVERT", 32))
CORPUS = "gcide-definitions"
RUNS = os.environ.get("DEMO_RUNS", "runs/demo")
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


def translate_step() -> None:
    from vec2vec import evaluate, train

    print(f"\n== 2. unsupervised translation minilm <-> mpnet ({N_TRAIN} unpaired texts a side; "
          f"evaluated on {N_EVAL} paired held-out texts)")
    linear_dir = os.path.join(RUNS, "mini-vec2vec-minilm-mpnet")
    for method in ("mini-vec2vec", "vec2vec"):
        run_dir = os.path.join(RUNS, f"{method}-minilm-mpnet")
        # the GAN starts from the linear run's translator instead of fitting it a second time
        extra = [f"method.warm_start={linear_dir}/translator"] if method == "vec2vec" else []
        t = time.perf_counter()
        train.cli([f"method={method}", "source=minilm", "target=mpnet", f"corpus={CORPUS}",
                   f"n_a={N_TRAIN}", f"n_b={N_TRAIN}", f"run_dir={run_dir}", "seed=0",
                   "progress=false", *extra])
        print(f"-- {method}: trained in {time.perf_counter() - t:.0f} s; evaluation:")
        evaluate.cli([f"run_dir={run_dir}", f"n_eval={N_EVAL}", "pools=[1024]",
                      f"baselines={'true' if method == 'vec2vec' else 'false'}"])


def audit_step() -> None:
    from vec2vec import audit

    print(f"\n== 3. audit of a simulated leak: {N_EVAL} mpnet vectors of held-out texts, attacker "
          f"holds minilm + {N_TRAIN} other texts")
    leaked, truth = audit.simulate_leak("mpnet", CORPUS, "eval", N_EVAL, os.path.join(RUNS, "leak"))
    out = os.path.join(RUNS, "audit")
    audit.cli([f"leaked={leaked}", f"truth={truth}", f"out={out}", "known=minilm",
               f"public_corpus={CORPUS}", "public_split=a", f"public_n={N_TRAIN}",
               f"min_leaked={min(N_EVAL, 1000)}", "methods=[mini-vec2vec]",
               f"invert_n={N_INVERT}", f"ceiling_invert_n={N_INVERT}", "progress=false",
               # the unknown-embedder case (the default, said aloud): identify=auto would recognise
               # the leak as mpnet's and skip the unsupervised translation
               "identify=[]"])


def main() -> None:
    t0 = time.perf_counter()
    embed_step()
    translate_step()
    audit_step()
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
