"""Inversion on held-out texts: retrieval baseline, hypothesiser alone, + correction (+ polish).

    python -m benchmarks invert n=100 steps=10 beam=4 corpora=[gcide-definitions,foldoc]

See ``benchmarks/conf/invert.yaml``. Prints a table, writes JSON (config, rows, per-text outputs).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from benchmarks.common import output_path, polish_variants, write_result

METHODS = ("retrieval", "hyp_greedy", "hyp_beam", "corrected", "corrected_retrieval")


def inversion_defaults(cfg: dict) -> dict:
    """``cfg`` with its null inversion knobs (temperature, patience, polish, polish_words) set to
    the inversion package's defaults, and the temperature checked."""
    from inversion.infer import DEFAULT_PATIENCE, DEFAULT_TEMPERATURE, check_temperature
    from inversion.polish import DEFAULT_ROUNDS, DEFAULT_WORDS

    for key, default in (("temperature", DEFAULT_TEMPERATURE), ("patience", DEFAULT_PATIENCE),
                         ("polish", DEFAULT_ROUNDS), ("polish_words", DEFAULT_WORDS)):
        if key in cfg and cfg[key] is None:
            cfg[key] = default
    if "temperature" in cfg:
        cfg["temperature"] = check_temperature(cfg["temperature"])
    return cfg


def heldout(corpus: str, cfg: dict, tokenizer, max_tokens: int) -> tuple[list[str], np.ndarray]:
    """n held-out texts (<= max_tokens tokens) of a corpus's eval split and their vectors."""
    from inversion.data import load_corpus_vectors

    texts, vecs = load_corpus_vectors(cfg["embedder"], corpus, "eval",
                                      limit=cfg["offset"] + 7 * cfg["n"])
    keep = [i for i in range(cfg["offset"], len(texts))
            if len(tokenizer(texts[i], add_special_tokens=False).input_ids) <= max_tokens]
    keep = keep[:cfg["n"]]
    if len(keep) < cfg["n"]:
        print(f"[invert] {corpus}: only {len(keep)} held-out texts available", flush=True)
    return [texts[i] for i in keep], vecs[keep]


def evaluate(preds: list[str], refs: list[str], targets: np.ndarray, embedder: str) -> dict:
    from inversion import metrics
    from inversion.data import embed_texts

    pv = embed_texts(embedder, [p if p else " " for p in preds])
    return metrics.score(preds, refs, pv, targets)


def run(cfg: dict) -> dict:
    from inversion.data import load_corpus_vectors
    from inversion.infer import RetrievalIndex, invert
    from inversion.train import load_inverter
    from vec2vec.runtime import set_seed, thread_limit

    bad = set(cfg["methods"]) - set(METHODS)
    if bad:
        raise ValueError(f"methods={cfg['methods']}: unknown {sorted(bad)}; valid: {METHODS}")
    inversion_defaults(cfg)            # before loading anything
    out = output_path(cfg, "invert.json")
    rows, outputs = [], {}
    with thread_limit(cfg["threads"]):
        set_seed(cfg["seed"])
        model = load_inverter(cfg["run_dir"], embedder=cfg["embedder"])
        rt, rv = [], []
        for split in ("a", "b"):
            t, v = load_corpus_vectors(cfg["embedder"], "gcide-definitions", split,
                                       cfg["retrieval_limit"])
            rt += t
            rv.append(v)
        retrieval = RetrievalIndex(rt, np.concatenate(rv))
        for corpus in cfg["corpora"]:
            refs, targets = heldout(corpus, cfg, model.tokenizer, model.cfg.max_tokens)
            for m in cfg["methods"]:
                t0 = time.time()
                if m == "retrieval":
                    _, idx = retrieval.search(targets, 1)
                    results = [(m, [retrieval.texts[j] for j in idx[:, 0]], {})]
                else:
                    kw = dict(steps=0, beam=1, polish=0)
                    if m == "hyp_beam":
                        kw = dict(steps=0, beam=cfg["beam"], proposals=cfg["proposals"],
                                  temperature=cfg["temperature"], polish=0)
                    elif m.startswith("corrected"):
                        kw = dict(steps=cfg["steps"], beam=cfg["beam"], expand=cfg["expand"],
                                  hyp_samples=cfg["hyp_samples"], proposals=cfg["proposals"],
                                  temperature=cfg["temperature"], budget=cfg["budget"],
                                  patience=cfg["patience"], polish=cfg["polish"],
                                  polish_words=cfg["polish_words"])
                        if m == "corrected_retrieval":
                            kw.update(retrieval=retrieval, retrieval_k=cfg["retrieval_k"])
                    res = invert(targets, model, cfg["embedder"], batch_size=cfg["batch_size"],
                                 progress=True, **kw)
                    results = polish_variants(m, res)
                secs = time.time() - t0
                for name, texts, info in results:
                    sc = evaluate(texts, refs, targets, cfg["embedder"])
                    rows.append({"corpus": corpus, "method": name, **sc, "seconds": secs, **info})
                    outputs[f"{corpus}/{name}"] = [{"ref": r, "pred": p} for r, p in zip(refs, texts)]
                    print(f"[invert] {corpus:18s} {name:20s} F1 {sc['token_f1']:.3f} BLEU "
                          f"{sc['bleu']:5.1f} exact {sc['exact']:.3f} cos {sc['cosine']:.3f} "
                          f"{secs:6.0f}s", flush=True)
    print("\n| corpus | method | n | token F1 | BLEU | exact | cosine | seconds | queries/vector |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['corpus']} | {r['method']} | {r['n']} | {r['token_f1']:.3f} | {r['bleu']:.1f} "
              f"| {r['exact']:.3f} | {r['cosine']:.3f} | {r['seconds']:.0f} | "
              f"{r.get('mean_queries', 0):.1f} |")
    inverter = json.loads((Path(cfg["run_dir"]) / "inverter.json").read_text())
    payload = {"config": cfg, "inverter": inverter, "rows": rows, "outputs": outputs}
    write_result(out, payload)
    print(f"wrote {out}")
    return payload
