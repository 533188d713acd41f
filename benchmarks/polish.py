"""Ablate the word-level polish on saved inversion outputs (no generation: embedder queries only).

    python -m benchmarks polish src=benchmarks/results/invert_polish_foldoc_n300.json \
        corpus=foldoc settings=[4x12,4x6,2x12]

See ``benchmarks/conf/polish.yaml``. Prints a table, writes JSON.
"""
from __future__ import annotations

import json
import time

import numpy as np

from benchmarks.common import output_path, write_result


def run(cfg: dict) -> dict:
    from inversion.backbone import load_backbone
    from inversion.data import embed_texts
    from inversion.infer import polish_texts
    from inversion.metrics import sentence_bleu, token_f1
    from inversion.polish import WordVocabulary, tokenizer_words
    from vec2vec.data.io import read_json
    from vec2vec.runtime import thread_limit

    settings = [str(s) for s in cfg["settings"]]
    parsed = []
    for s in settings:
        rounds, sep, words = s.partition("x")
        if not (sep and rounds.isdigit() and words.isdigit()):
            raise ValueError(f"settings: {s!r} is not ROUNDSxWORDS, e.g. 4x12")
        parsed.append((int(rounds), int(words)))
    out = output_path(cfg, f"polish_{cfg['corpus'].split('-')[0]}.json")
    outputs = read_json(cfg["src"])["outputs"]
    key = f"{cfg['corpus']}/corrected"
    if key not in outputs:
        raise ValueError(f"{cfg['src']}: no {key!r} outputs (has {sorted(outputs)})")
    rows_in = outputs[key][:cfg["n"]]
    refs, starts = [r["ref"] for r in rows_in], [r["pred"] or " " for r in rows_in]
    rows, base = [], None
    with thread_limit(cfg["threads"]):
        targets = embed_texts(cfg["embedder"], refs)
        vocab = WordVocabulary.build(cfg["embedder"], tokenizer_words(load_backbone().tokenizer))
        for setting, (rounds, words) in zip(settings, parsed):
            t0 = time.time()
            res = polish_texts(starts, targets, cfg["embedder"], vocab, rounds=rounds,
                               n_words=words)
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
    payload = {"config": cfg, "start_token_f1": f1_start, "rows": rows}
    write_result(out, payload)
    print(f"wrote {out}")
    return payload
