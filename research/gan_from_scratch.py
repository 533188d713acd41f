"""Does the vec2vec GAN find a translation from random init, with no linear warm start, on a CPU?

    python research/gan_from_scratch.py target=mpnet steps=30000
    python research/gan_from_scratch.py target=e5-small steps=20000 seed=1

The paper's recipe at CPU size: no warm start, no self-training targets; adversarial losses on both
output spaces and on the latent, reconstruction, cycle (x10) and VSP (cycle VSP x10); batch norm
in the residual blocks. Fits ``source`` on split a against ``target`` on split b (``n`` unpaired
texts a side) and every ``eval_every`` steps logs the pair-free score the train command uses
(``vec2vec.selection``) and, as a *diagnostic only*, top-1 @1024 on ``n_eval`` paired eval texts
in both directions. Writes ``output`` (JSON) at every evaluation, so a long run that is stopped
keeps its curve (``research/conf/gan_from_scratch.yaml``).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import output_path, write_result  # noqa: E402
from research._cli import main as cli_main  # noqa: E402

# the paper's losses and weights (Jha et al. 2025) on a CPU-sized generator
SCRATCH = dict(warm_start=None, width=512, in_depth=1, backbone_depth=2, out_depth=1, norm="batch",
               residual_gain_init=1.0, disc_width=512, disc_depth=3, w_rec=1, w_cycle=10, w_vsp=1,
               w_cycle_vsp=10, w_gan=1, w_latent_gan=1, w_pseudo=0, batch_size=256, lr_g=1e-4,
               lr_d=5e-5, warmup_steps=500, log_every=200)


def run(cfg: dict) -> int:
    from vec2vec.data.cache import embed
    from vec2vec.evaluate import retrieval_metrics
    from vec2vec.selection import scorer
    from vec2vec.translators import get_translator

    knobs = {**SCRATCH, **cfg["config"], "steps": cfg["steps"], "eval_every": cfg["eval_every"],
             "threads": cfg["threads"]}
    out = output_path(cfg, f"gan_from_scratch_{cfg['source']}_{cfg['target']}.json")
    xa = embed(cfg["source"], cfg["corpus"], "a", limit=cfg["n"], progress=False)
    xb = embed(cfg["target"], cfg["corpus"], "b", limit=cfg["n"], progress=False)
    ea = embed(cfg["source"], cfg["corpus"], "eval", limit=cfg["n_eval"], progress=False)
    eb = embed(cfg["target"], cfg["corpus"], "eval", limit=cfg["n_eval"], progress=False)
    tr = get_translator("vec2vec", seed=cfg["seed"], **knobs)
    pair_free = scorer(xa[:4096], xb[:4096])
    record = {"config": cfg, "translator_config": tr.config, "curve": []}
    pool = min(1024, len(ea))
    t0 = time.time()

    def score(t) -> float:
        """Pair-free score (returned to the loop) + the paired diagnostic, logged and saved."""
        s = pair_free(t)
        top1 = [retrieval_metrics(t.translate(ea, "ab"), eb, pool, hungarian=False)["top1"],
                retrieval_metrics(t.translate(eb, "ba"), ea, pool, hungarian=False)["top1"]]
        step = min(len(record["curve"]) * cfg["eval_every"], cfg["steps"])  # step 0, then every N
        record["curve"].append({"step": step, "seconds": round(time.time() - t0), "score": s,
                                "top1_1024": top1})
        print(f"{record['curve'][-1]}", flush=True)
        write_result(out, record)
        return s

    tr.fit(xa, xb, score_fn=score)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main("gan_from_scratch", run))
