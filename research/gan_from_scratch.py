"""Does the vec2vec GAN find a translation from random init, with no linear warm start, on a CPU?

    python experiments/gan_from_scratch.py target=mpnet steps=30000
    python experiments/gan_from_scratch.py target=e5-small steps=30000

The paper's recipe at CPU size: no warm start, no self-training targets; adversarial losses on both
output spaces and on the latent, reconstruction, cycle (x10) and VSP (cycle VSP x10); batch norm
in the residual blocks. Fits ``source`` on split a against ``target`` on split b (``n`` unpaired
texts a side, gcide-definitions) and every ``eval_every`` steps logs the pair-free score the
train CLI uses (``vec2vec.selection``) and, as a *diagnostic only*, top-1 @1024 on ``n_eval``
paired eval texts in both directions. Writes ``out`` (JSON) at every evaluation, so a long run
that is stopped keeps its curve. One CPU thread by default: it is meant to run in the background.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments._args import parse_kv  # noqa: E402
from vec2vec.embed import embed  # noqa: E402
from vec2vec.evaluate import retrieval_metrics  # noqa: E402
from vec2vec.io import write_json  # noqa: E402
from vec2vec.train import selection_scorer, train_gan  # noqa: E402
from vec2vec.translators import get_translator  # noqa: E402

DEFAULTS = dict(source="minilm", target="mpnet", corpus="gcide-definitions", n=30000, n_eval=2048,
                steps=30000, eval_every=1000, seed=0, threads=1, config="{}", out="")

# the paper's losses and weights (DESIGN.md section 1) on a CPU-sized generator
SCRATCH = dict(warm_start=None, width=512, in_depth=1, backbone_depth=2, out_depth=1, norm="batch",
               residual_gain_init=1.0, disc_width=512, disc_depth=3, w_rec=1, w_cycle=10, w_vsp=1,
               w_cycle_vsp=10, w_gan=1, w_latent_gan=1, w_pseudo=0, batch_size=256, lr_g=1e-4,
               lr_d=5e-5, warmup_steps=500, log_every=200)


def main(argv: list[str]) -> int:
    args = parse_kv(argv, DEFAULTS)
    cfg = {**SCRATCH, **json.loads(args["config"]), "steps": args["steps"],
           "eval_every": args["eval_every"], "threads": args["threads"]}
    out = Path(args["out"] or f"experiments/results/gan_from_scratch_{args['source']}_{args['target']}.json")
    xa = embed(args["source"], args["corpus"], "a", limit=args["n"], progress=False)
    xb = embed(args["target"], args["corpus"], "b", limit=args["n"], progress=False)
    ea = embed(args["source"], args["corpus"], "eval", limit=args["n_eval"], progress=False)
    eb = embed(args["target"], args["corpus"], "eval", limit=args["n_eval"], progress=False)
    tr = get_translator("vec2vec", seed=args["seed"], **cfg)
    pair_free = selection_scorer(xa[:4096], xb[:4096])
    record = {"args": args, "config": tr.config, "curve": []}
    t0 = time.time()

    def score(t) -> float:
        """Pair-free score (returned to the loop) + the paired diagnostic, logged and saved."""
        s = pair_free(t)
        top1 = [retrieval_metrics(t.translate(ea, "ab"), eb, 1024, hungarian=False)["top1"],
                retrieval_metrics(t.translate(eb, "ba"), ea, 1024, hungarian=False)["top1"]]
        step = min(len(record["curve"]) * args["eval_every"], args["steps"])  # step 0, then every N
        record["curve"].append({"step": step, "seconds": round(time.time() - t0), "score": s,
                                "top1_1024": top1})
        print(f"{record['curve'][-1]}", flush=True)
        write_json(out, record)
        return s

    train_gan(tr, xa, xb, score_fn=score)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
