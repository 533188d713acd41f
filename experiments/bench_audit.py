"""Audit benchmark (issue 6): how much does a leak of unknown-embedder vectors reveal?

    python experiments/bench_audit.py leaked_embedder=mpnet n=5000
    python experiments/bench_audit.py leaked_embedder=e5-small n=5000

The leak: ``leaked_embedder``'s vectors of the first ``n`` held-out WordNet definitions (split
eval), with their texts and lexicographer categories as ground truth. The attacker runs minilm
(whose inverter ships) and holds ``public_n`` *other* WordNet definitions (split a). The whole
``vec2vec audit`` runs (translators fitted without pairs, chosen by the pair-free score, zero-shot
attributes, inversion), then the leakage is compared with its ceilings on the same rows.
Targets: attribute accuracy >= 80% of oracle (paired) translation's; inversion token F1 >= 70% of
direct inversion's; the whole audit on 5,000 vectors in <= 30 minutes with cached public
embeddings. Prints a table and writes ``out`` (JSON).

``identify=auto`` lets the audit first test whether the leak comes from an embedder it can run
(``vec2vec/identify.py``; here it does: both leaked embedders are offline models) and translate an
identified leak with a map fitted on public texts embedded by both. The default ``identify=[]``
keeps the unknown-embedder threat model the targets are about.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments._args import identify_tag, parse_kv  # noqa: E402
from vec2vec.audit import run, simulate_leak, summary_text  # noqa: E402
from vec2vec.config import compose, to_dict  # noqa: E402
from vec2vec.io import write_json  # noqa: E402

DEFAULTS = dict(leaked_embedder="mpnet", n=5000, known="minilm", public_n=10000,
                methods="mini-vec2vec,vec2vec", invert_n=None, ceiling_invert_n=500,
                invert_steps=0, invert_beam=1, invert_polish=0, inverter="", threads=0, seed=0,
                identify="[]", work="runs/bench-audit",
                out="")


def main(argv: list[str]) -> int:
    args = parse_kv(argv, DEFAULTS)
    work = Path(args["work"]) / f"{args['leaked_embedder']}-{args['n']}{identify_tag(args)}"
    leaked, truth = simulate_leak(args["leaked_embedder"], "wordnet-definitions", "eval",
                                  args["n"], work / "leak", seed=args["seed"])
    cfg = to_dict(compose("audit", [
        f"leaked={leaked}", f"truth={truth}", f"out={work / 'audit'}", f"known={args['known']}",
        "public_corpus=wordnet-definitions", "public_split=a", f"public_n={args['public_n']}",
        f"methods=[{args['methods']}]", f"invert_n={'null' if args['invert_n'] is None else args['invert_n']}",
        f"ceiling_invert_n={args['ceiling_invert_n']}", f"invert_steps={args['invert_steps']}",
        f"invert_beam={args['invert_beam']}", f"invert_polish={args['invert_polish']}",
        f"threads={args['threads']}", f"seed={args['seed']}", f"identify={args['identify']}",
        f"inverter={args['inverter'] or 'null'}"]))
    t0 = time.time()
    rep = run(cfg)
    wall = time.time() - t0
    print(summary_text(rep))
    r_or, r_di = rep["ratios"]["oracle_translation"], rep["ratios"]["direct_inversion"]
    rows = [("attribute accuracy vs oracle translation", r_or.get("attribute_accuracy"), 0.80),
            ("inversion token F1 vs direct inversion", r_di.get("token_f1"), 0.70)]
    print(f"\n{'target':<44} {'measured':>9} {'needed':>7}")
    for name, v, need in rows:
        print(f"{name:<44} {v if v is not None else float('nan'):>9.1%} {need:>7.0%}"
              f"  {'ok' if v is not None and v >= need else 'MISS'}")
    print(f"{'wall time of the audit (s)':<44} {wall:>9.0f} {1800:>7}  "
          f"{'ok' if wall <= 1800 else 'MISS'}   (timings: {rep['timings_seconds']})")
    out = Path(args["out"] or
               f"experiments/results/bench_audit_{args['leaked_embedder']}{identify_tag(args)}.json")
    write_json(out, {"args": args, "config": cfg, "wall_seconds": wall,
                     "selection": rep["selection"], "leakage": rep["leakage"],
                     "leakage_on_ceiling_rows": rep["leakage_on_ceiling_rows"],
                     "ceilings": rep["ceilings"], "ratios": rep["ratios"],
                     "translation_cosine_to_truth": rep["translation_cosine_to_truth"],
                     "timings_seconds": rep["timings_seconds"],
                     "inversion": rep["inversion"]})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
