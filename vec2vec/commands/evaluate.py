"""``vec2vec evaluate``: score a training run on paired held-out texts, beside the oracles."""
from __future__ import annotations

import time
from pathlib import Path

from vec2vec.evaluate import evaluate_run, format_table, verdict_vs_truth
from vec2vec.runtime import thread_limit


def main(cfg: dict) -> int:
    """``vec2vec evaluate run_dir=DIR [n_eval=8192 pools=[1024,8192] ...]``: score the run's chosen
    translator (and each seed's) in both directions on the paired eval split, beside identity and
    the out-of-fold Procrustes / least-squares oracles; write DIR/eval.json; print a table."""
    if not cfg.get("run_dir"):
        raise ValueError("run_dir=DIR is required (a `vec2vec train` run directory)")
    t0 = time.time()
    with thread_limit(int(cfg.get("threads") or 0)):
        out = evaluate_run(cfg["run_dir"], n_eval=int(cfg["n_eval"]), pools=tuple(cfg["pools"]),
                           pool_seed=int(cfg["pool_seed"]), baselines=bool(cfg["baselines"]),
                           all_seeds=bool(cfg["all_seeds"]), oracle_folds=int(cfg["oracle_folds"]),
                           hungarian_max_pool=int(cfg["hungarian_max_pool"]),
                           eval_rows=str(cfg["eval_rows"]))
    print(f"{out['source']} <-> {out['target']} on {out['corpus']} (n_eval={out['n_eval']}, "
          f"{out['eval_rows']} rows), method {out['method']}")
    print(format_table(out["results"]))
    print(verdict_vs_truth(out))
    print(f"wrote {Path(cfg['run_dir']) / 'eval.json'} in {time.time() - t0:.1f}s")
    return 0
