"""Benchmark inversion on held-out texts: retrieval baseline, hypothesiser alone, + correction.

    python experiments/bench_invert.py run_dir=inversion/weights/minilm n=100 steps=10 beam=4 \
        corpora=gcide-definitions,foldoc out=experiments/results/bench_invert.json

Held-out texts: rows ``offset .. offset+n`` of each corpus's ``eval`` split (the first 160 eval
rows of gcide-definitions are the training run's held-out loss set, hence offset=256), keeping
texts of <= max_tokens backbone tokens. foldoc (computing) is never trained on: out of domain.
Retrieval baseline: nearest neighbour among ``retrieval_limit`` texts of gcide-definitions splits
a and b (disjoint from every eval split). The ``corrected*`` methods run with the word-level
polish (``polish`` rounds; 0 = off) and report two rows from the one run: ``<method>`` (the best
text before the polish, its queries) and ``<method>+polish``. The hypothesiser baselines never
polish. Prints a table, writes JSON (config + rows + per-text outputs).
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
from experiments._invert import polish_variants  # noqa: E402
from inversion import metrics  # noqa: E402
from inversion.data import embed_texts, load_corpus_vectors  # noqa: E402
from inversion.infer import (DEFAULT_PATIENCE, DEFAULT_TEMPERATURE, RetrievalIndex,  # noqa: E402
                             check_temperature, invert)
from inversion.polish import DEFAULT_ROUNDS, DEFAULT_WORDS  # noqa: E402
from inversion.train import load_inverter  # noqa: E402
from vec2vec.io import write_json  # noqa: E402
from vec2vec.runtime import set_seed  # noqa: E402

DEFAULTS = dict(run_dir="inversion/weights/minilm", embedder="minilm", n=100, offset=256,
                steps=10, beam=4, expand=None, hyp_samples=None, proposals="sample",
                temperature=DEFAULT_TEMPERATURE, patience=DEFAULT_PATIENCE, budget=None,
                polish=DEFAULT_ROUNDS, polish_words=DEFAULT_WORDS,
                corpora="gcide-definitions,foldoc", retrieval_limit=30000, retrieval_k=1, seed=0,
                threads=2,
                methods="retrieval,hyp_greedy,hyp_beam,corrected,corrected_retrieval",
                out="experiments/results/bench_invert.json", batch_size=64)


def heldout(corpus: str, cfg: dict, tokenizer, max_tokens: int) -> tuple[list[str], np.ndarray]:
    """n held-out texts (<= max_tokens tokens) of a corpus's eval split and their vectors."""
    texts, vecs = load_corpus_vectors(cfg["embedder"], corpus, "eval",
                                      limit=cfg["offset"] + 7 * cfg["n"])
    keep = [i for i in range(cfg["offset"], len(texts))
            if len(tokenizer(texts[i], add_special_tokens=False).input_ids) <= max_tokens]
    keep = keep[:cfg["n"]]
    if len(keep) < cfg["n"]:
        print(f"[bench] {corpus}: only {len(keep)} held-out texts available", flush=True)
    return [texts[i] for i in keep], vecs[keep]


def evaluate(preds: list[str], refs: list[str], targets: np.ndarray, embedder: str) -> dict:
    pv = embed_texts(embedder, [p if p else " " for p in preds])
    return metrics.score(preds, refs, pv, targets)


def main(argv: list[str]) -> int:
    cfg = parse_kv(argv, DEFAULTS)
    cfg["temperature"] = check_temperature(cfg["temperature"])   # before loading anything
    torch.set_num_threads(cfg["threads"])
    set_seed(cfg["seed"])
    model = load_inverter(cfg["run_dir"], embedder=cfg["embedder"])
    rt, rv = [], []
    for split in ("a", "b"):
        t, v = load_corpus_vectors(cfg["embedder"], "gcide-definitions", split,
                                   cfg["retrieval_limit"])
        rt += t
        rv.append(v)
    retrieval = RetrievalIndex(rt, np.concatenate(rv))
    methods = cfg["methods"].split(",")
    rows, outputs = [], {}
    for corpus in cfg["corpora"].split(","):
        refs, targets = heldout(corpus, cfg, model.tokenizer, model.cfg.max_tokens)
        for m in methods:
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
                row = {"corpus": corpus, "method": name, **sc, "seconds": secs, **info}
                rows.append(row)
                outputs[f"{corpus}/{name}"] = [{"ref": r, "pred": p} for r, p in zip(refs, texts)]
                print(f"[bench] {corpus:18s} {name:20s} F1 {sc['token_f1']:.3f} BLEU "
                      f"{sc['bleu']:5.1f} exact {sc['exact']:.3f} cos {sc['cosine']:.3f} "
                      f"{secs:6.0f}s", flush=True)
    print("\n| corpus | method | n | token F1 | BLEU | exact | cosine | seconds | queries/vector |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['corpus']} | {r['method']} | {r['n']} | {r['token_f1']:.3f} | {r['bleu']:.1f} "
              f"| {r['exact']:.3f} | {r['cosine']:.3f} | {r['seconds']:.0f} | "
              f"{r.get('mean_queries', 0):.1f} |")
    write_json(cfg["out"], {"config": cfg, "inverter": json.loads(
        (Path(cfg["run_dir"]) / "inverter.json").read_text()), "rows": rows, "outputs": outputs})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
