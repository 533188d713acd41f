"""Invert *translated* vectors: leaked vectors -> the inverter's space (no pairs) -> text.

    python -m benchmarks invert_translated n=100 method=mini-vec2vec steps=10 beam=4
    python -m benchmarks invert_translated translator_dir=RUN/translator direction=ba

See ``benchmarks/conf/invert_translated.yaml``. Prints table rows, writes JSON.
"""
from __future__ import annotations

import time

import numpy as np

from benchmarks.common import output_path, polish_variants, write_result
from benchmarks.invert import inversion_defaults


def run(cfg: dict) -> dict:
    from inversion.data import embed_texts
    from inversion.infer import invert
    from inversion.metrics import score
    from inversion.train import load_inverter
    from vec2vec.data.cache import embed
    from vec2vec.data.corpora import get_texts
    from vec2vec.data.validation import l2_normalize
    from vec2vec.runtime import set_seed, thread_limit
    from vec2vec.translators import Translator, get_translator, method_class

    inversion_defaults(cfg)
    out = output_path(cfg, "invert_translated.json")
    known, leak = cfg["embedder"], cfg["leaked_embedder"]
    rows = []
    with thread_limit(cfg["threads"]):
        set_seed(cfg["seed"])
        if cfg["translator_dir"]:
            tr = Translator.load(cfg["translator_dir"])
        else:
            xa = embed(leak, "gcide-definitions", "b", limit=cfg["fit_n"], progress=False)
            xb = embed(known, "gcide-definitions", "a", limit=cfg["fit_n"], progress=False)
            t0 = time.time()
            seeded = "seed" in method_class(cfg["method"]).config_keys()
            tr = get_translator(cfg["method"], **({"seed": cfg["seed"]} if seeded else {}))
            tr.fit(xa, xb)
            print(f"[invert_translated] fitted {cfg['method']} in {time.time() - t0:.0f} s",
                  flush=True)
        model = load_inverter(cfg["run_dir"], embedder=known)
        lim = cfg["offset"] + 3 * cfg["n"]
        texts = get_texts("gcide-definitions", "eval", limit=lim)
        ok = [i for i in range(cfg["offset"], min(lim, len(texts)))
              if len(model.tokenizer(texts[i], add_special_tokens=False).input_ids)
              <= model.cfg.max_tokens][:cfg["n"]]
        refs = [texts[i] for i in ok]
        direct = embed(known, "gcide-definitions", "eval", limit=lim, progress=False)[ok]
        leaked = embed(leak, "gcide-definitions", "eval", limit=lim, progress=False)[ok]
        translated = tr.translate(leaked, cfg["direction"])
        via = cfg["translator_dir"] or cfg["method"]
        for name, vecs in ((f"direct {known}", direct), (f"{leak} -> {via} -> {known}", translated)):
            t0 = time.time()
            res = invert(vecs, model, known, steps=cfg["steps"], beam=cfg["beam"],
                         temperature=cfg["temperature"], polish=cfg["polish"], progress=True)
            secs = time.time() - t0
            cos_in = float(np.mean(np.sum(l2_normalize(vecs) * l2_normalize(direct), 1)))
            for variant, preds, info in polish_variants(name, res):
                pv = embed_texts(known, [p or " " for p in preds])
                sc = score(preds, refs, pv, direct)        # cosine to the TRUE vector
                sc["cos_translated_to_true"] = cos_in
                rows.append({"input": variant, **sc, "seconds": secs, **info})
                print(f"| {variant} | {sc['n']} | {sc['token_f1']:.3f} | {sc['bleu']:.1f} | "
                      f"{sc['exact']:.3f} | {sc['cosine']:.3f} | "
                      f"{sc['cos_translated_to_true']:.3f} |", flush=True)
    payload = {"config": cfg, "rows": rows}
    write_result(out, payload)
    print(f"wrote {out}")
    return payload
