"""Ablate the word-level polish on saved inversion outputs (no generation: minilm queries only).

    python experiments/bench_polish.py src=experiments/results/bench_invert_polish_foldoc_n300.json \
        corpus=foldoc settings=4x12,4x6,2x12 out=experiments/results/bench_polish_foldoc.json

Takes the ``<corpus>/corrected`` texts (the best texts before the polish) of a ``bench_invert.py``
JSON, and their references' vectors as targets, and polishes the same texts with each setting
``ROUNDSxWORDS`` (``inversion.infer.polish_texts``). Token F1 and BLEU per setting, the paired
F1 difference to the first setting (+- one standard error), embedder queries per vector and
seconds. The polish is deterministic given its start texts, so this isolates its settings from
the sampled correction loop.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments._args import parse_kv  # noqa: E402
from inversion.backbone import load_backbone  # noqa: E402
from inversion.data import embed_texts  # noqa: E402
from inversion.infer import polish_texts  # noqa: E402
from inversion.metrics import sentence_bleu, token_f1  # noqa: E402
from inversion.polish import WordVocabulary, tokenizer_words  # noqa: E402
from vec2vec.io import read_json, write_json  # noqa: E402

DEFAULTS = dict(src="experiments/results/bench_invert_polish_foldoc_n300.json", corpus="foldoc",
                embedder="minilm", settings="4x12,4x6,2x12", n=None, threads=1,
                out="experiments/results/bench_polish.json")


def main(argv: list[str]) -> int:
    cfg = parse_kv(argv, DEFAULTS)
    torch.set_num_threads(int(cfg["threads"]))
    outputs = read_json(cfg["src"])["outputs"]
    key = f"{cfg['corpus']}/corrected"
    if key not in outputs:
        raise ValueError(f"{cfg['src']}: no {key!r} outputs (has {sorted(outputs)})")
    rows_in = outputs[key][:cfg["n"]]
    refs, starts = [r["ref"] for r in rows_in], [r["pred"] or " " for r in rows_in]
    targets = embed_texts(cfg["embedder"], refs)
    vocab = WordVocabulary.build(cfg["embedder"], tokenizer_words(load_backbone().tokenizer))
    rows, base = [], None
    for setting in str(cfg["settings"]).split(","):
        rounds, words = (int(v) for v in setting.split("x"))
        t0 = time.time()
        res = polish_texts(starts, targets, cfg["embedder"], vocab, rounds=rounds, n_words=words)
        f1 = np.array([token_f1(r["text"], ref) for r, ref in zip(res, refs)])
        base = f1 if base is None else base
        diff = f1 - base
        rows.append({"setting": setting, "rounds": rounds, "words": words, "n": len(refs),
                     "token_f1": float(f1.mean()),
                     "bleu": float(np.mean([sentence_bleu(r["text"], ref)
                                            for r, ref in zip(res, refs)])),
                     "paired_vs_first": float(diff.mean()),
                     "paired_se": float(diff.std() / np.sqrt(len(diff))),
                     "queries": float(np.mean([r["queries"] for r in res])),
                     "seconds": time.time() - t0})
        print(json.dumps(rows[-1]), flush=True)
    f1_start = float(np.mean([token_f1(s, ref) for s, ref in zip(starts, refs)]))
    print(f"\n{cfg['corpus']}, {len(refs)} texts; before the polish token F1 {f1_start:.3f}")
    print("| rounds x words | token F1 | BLEU | paired vs first | queries/vector | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {r['token_f1']:.3f} | {r['bleu']:.1f} | "
              f"{r['paired_vs_first']:+.4f} +- {r['paired_se']:.4f} | {r['queries']:.0f} | "
              f"{r['seconds']:.0f} |")
    write_json(cfg["out"], {"config": cfg, "start_token_f1": f1_start, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
