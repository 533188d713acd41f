"""``vec2vec train``: fit a translator on unpaired vectors, one or several seeds."""
from __future__ import annotations

import time

from vec2vec.runtime import thread_limit
from vec2vec.selection import score_value
from vec2vec.train import run


def main(cfg: dict) -> int:
    """``vec2vec train method=vec2vec source=minilm target=mpnet corpus=gcide-definitions
    run_dir=DIR seed=0`` (or ``seeds=[0,1,2]``): fit on unpaired splits a / b, keep the seed
    chosen by the pair-free score in DIR/translator."""
    t0 = time.time()
    with thread_limit(int(cfg.get("threads") or 0)):
        sel = run(cfg)
    if not sel:  # a torchrun rank other than 0: rank 0 reports
        return 0
    print(f"{'seed':>6} {'score':>9} {'seconds':>8}")
    for s, rec in sel["per_seed"].items():
        mark = "  <- chosen" if int(s) == sel["chosen_seed"] else ""
        print(f"{s:>6} {score_value(rec):>9.4f} {rec['seconds']:>8.1f}{mark}")
    print(f"verdict (no pairs used): {sel['verdict']['explain']}")
    kp = sel.get("known_pairs")
    if kp and kp["chosen"].get("ab"):
        print(f"known pairs: {kp['n_fit']} seeded the fit; on the {kp['n_holdout']} held out, "
              f"top-1 {kp['chosen']['ab']['top1']:.2f} / {kp['chosen']['ba']['top1']:.2f} "
              f"(chance {kp['chosen']['top1_chance']:.2f}), cosine {kp['chosen']['ab']['cos']:.3f}"
              f" / {kp['chosen']['ba']['cos']:.3f} (the pairs' own map: "
              f"{kp['pairs_only']['ab']['cos']:.3f} / {kp['pairs_only']['ba']['cos']:.3f})")
    print(f"run dir: {cfg['run_dir']} ({time.time() - t0:.1f} s); next: vec2vec evaluate "
          f"run_dir={cfg['run_dir']}")
    return 0
