"""``vec2vec demo`` (``make demo``): the main job on the embedded defaults, results printed."""
from __future__ import annotations

import json
import os
import time

from vec2vec.audit.leak import simulate_leak
from vec2vec.audit.pipeline import run as run_audit
from vec2vec.audit.pipeline import summary_text
from vec2vec.config import load
from vec2vec.data.cache import embed, entry_dir
from vec2vec.data.io import atomic_path
from vec2vec.evaluate import evaluate_run, format_table
from vec2vec.runtime import thread_limit
from vec2vec.train import run as run_train


def embed_step(cfg: dict) -> None:
    corpus, seed = cfg["corpus"], int(cfg["seed"])
    print(f"== 1. embeddings of {corpus} (cached; a second run is instant)")
    print(f"{'embedder':<8} {'split':<5} {'count':>6} {'dim':>4} {'seconds':>8}  cache")
    plan = [("minilm", "a", cfg["n_train"]), ("mpnet", "b", cfg["n_train"]),
            ("minilm", "eval", cfg["n_eval"]), ("mpnet", "eval", cfg["n_eval"])]
    for name, split, n in plan:
        t = time.perf_counter()
        x = embed(name, corpus, split, limit=int(n), seed=seed)
        print(f"{name:<8} {split:<5} {x.shape[0]:>6} {x.shape[1]:>4} "
              f"{time.perf_counter() - t:>8.1f}  {entry_dir(name, corpus, split, seed, None)}",
              flush=True)


def translate_step(cfg: dict) -> None:
    runs, n = cfg["out_dir"], int(cfg["n_train"])
    print(f"\n== 2. unsupervised translation minilm <-> mpnet ({n} unpaired texts a side; "
          f"evaluated on {cfg['n_eval']} paired held-out texts)")
    linear_dir = os.path.join(runs, "mini-vec2vec-minilm-mpnet")
    for method in ("mini-vec2vec", "vec2vec"):
        run_dir = os.path.join(runs, f"{method}-minilm-mpnet")
        # the GAN starts from the linear run's translator instead of fitting it a second time
        extra = [f"method.warm_start={linear_dir}/translator"] if method == "vec2vec" else []
        t = time.perf_counter()
        run_train(load("train", [f"method={method}", "source=minilm", "target=mpnet",
                                 f"corpus={cfg['corpus']}", f"n_a={n}", f"n_b={n}",
                                 f"run_dir={run_dir}", f"seed={cfg['seed']}", "resume=true",
                                 f"progress={str(cfg['progress']).lower()}", *extra]))
        print(f"-- {method}: trained in {time.perf_counter() - t:.0f} s; evaluation:")
        out = evaluate_run(run_dir, n_eval=int(cfg["n_eval"]), pools=(1024,),
                           baselines=method == "vec2vec")
        print(format_table(out["results"]), flush=True)


def audit_step(cfg: dict, leak: str = "mpnet", step: str = "3", known_pairs: int = 0) -> None:
    runs, n_eval = cfg["out_dir"], int(cfg["n_eval"])
    pairs_txt = f" and {known_pairs} known documents of the leak" if known_pairs else ""
    print(f"\n== {step}. audit of a simulated leak: {n_eval} {leak} vectors of held-out texts, "
          f"attacker holds minilm + {cfg['n_train']} other texts{pairs_txt}")
    folder = os.path.join(runs, f"leak-{leak}")
    leaked, truth = simulate_leak(leak, cfg["corpus"], "eval", n_eval, folder)
    extra = []
    if known_pairs:
        extra = [f"known_pairs={write_known_pairs(truth, known_pairs, folder)}"]
    name = f"audit-{leak}" + (f"-{known_pairs}pairs" if known_pairs else "")
    audit_cfg = load("audit", [*extra,
        f"input={leaked}", f"truth={truth}", f"out_dir={os.path.join(runs, name)}",
        "known=minilm", f"public_corpus={cfg['corpus']}", "public_split=a",
        f"public_n={cfg['n_train']}", f"min_leaked={min(n_eval, 1000)}", "methods=[mini-vec2vec]",
        f"invert_n={cfg['n_invert']}", f"ceiling_invert_n={cfg['n_invert']}",
        f"progress={str(cfg['progress']).lower()}",
        # the unknown-embedder case (the default, said aloud): identify=auto would recognise
        # the leak as mpnet's and skip the unsupervised translation
        "identify=[]"])
    rep = run_audit(audit_cfg)
    print(summary_text(rep))
    print(f"report: {os.path.join(runs, name, 'report.html')}")


def write_known_pairs(truth: str, n: int, folder: str) -> str:
    """The first ``n`` leaked rows' texts as known pairs (``{"index", "text"}`` lines)."""
    path = os.path.join(folder, f"known_pairs_{n}.jsonl")
    with open(truth, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()][:n]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps({"index": i, "text": t}) + "\n"
                               for i, t in enumerate(texts)), encoding="utf-8")
    return path


def main(cfg: dict) -> int:
    """``vec2vec demo [n_train=5000 n_eval=2048 n_invert=32 out_dir=runs/demo]``: embed, train
    minilm <-> mpnet without pairs and evaluate it, audit a simulated mpnet leak, then an
    e5-small leak without pairs (the verdict says whether to trust it) and with known pairs.
    A second run reuses every cached embedding and finished run."""
    t0 = time.perf_counter()
    with thread_limit(int(cfg.get("threads") or 0)):
        embed_step(cfg)
        translate_step(cfg)
        audit_step(cfg)
        # a leak the minilm auditor cannot translate without pairs: the verdict says so; then
        # the same leak with known documents, which seed and measure the translation
        audit_step(cfg, leak="e5-small", step="4")
        audit_step(cfg, leak="e5-small", step="5", known_pairs=int(cfg["known_pairs"]))
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s")
    return 0
