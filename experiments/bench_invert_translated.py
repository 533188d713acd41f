"""Invert *translated* vectors: mpnet vectors of held-out texts -> minilm space -> text.

    python experiments/bench_invert_translated.py run_dir=inversion/weights/minilm n=100 \
        method=mini-vec2vec steps=10 beam=4

The translator is fitted here without pairs (``method``: any registered unsupervised method) on
minilm vectors of gcide-definitions split a and mpnet vectors of split b (disjoint texts), unless
``translator_dir`` points to an already trained one (``vec2vec train``). The held-out texts are
eval rows ``offset..offset+n`` embedded by mpnet (the leaked vectors) and by minilm (only for the
"direct" reference row). The inversion package itself never sees the translator: it gets vectors.
``direction`` is the translator's direction from mpnet to minilm: "ab" for one fitted here (a =
mpnet), "ba" for a ``vec2vec train source=minilm target=mpnet`` run. With ``polish`` > 0 each
input gets two rows from its one run: before and after the word-level polish.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments._args import parse_kv  # noqa: E402
from experiments._invert import polish_variants  # noqa: E402
from inversion.data import embed_texts  # noqa: E402
from inversion.infer import DEFAULT_TEMPERATURE, check_temperature, invert  # noqa: E402
from inversion.metrics import score  # noqa: E402
from inversion.polish import DEFAULT_ROUNDS  # noqa: E402
from inversion.train import load_inverter  # noqa: E402
from vec2vec.corpora import get_texts  # noqa: E402
from vec2vec.embed import embed  # noqa: E402
from vec2vec.io import write_json  # noqa: E402
from vec2vec.runtime import set_seed  # noqa: E402
from vec2vec.validation import l2_normalize  # noqa: E402

DEFAULTS = dict(run_dir="inversion/weights/minilm", n=100, offset=256, steps=10, beam=4,
                temperature=DEFAULT_TEMPERATURE, polish=DEFAULT_ROUNDS,
                method="mini-vec2vec", translator_dir="", direction="ab", fit_n=8192, seed=0, threads=2,
                out="experiments/results/bench_invert_translated.json")


def main(argv: list[str]) -> int:
    cfg = parse_kv(argv, DEFAULTS)
    cfg["temperature"] = check_temperature(cfg["temperature"])
    torch.set_num_threads(cfg["threads"])
    set_seed(cfg["seed"])
    from vec2vec.translators.base import Translator, get_translator

    if cfg["translator_dir"]:
        tr = Translator.load(cfg["translator_dir"])
    else:
        import vec2vec.translators._load_all  # noqa: F401  (registers the methods)

        xa = embed("mpnet", "gcide-definitions", "b", limit=cfg["fit_n"], progress=False)
        xb = embed("minilm", "gcide-definitions", "a", limit=cfg["fit_n"], progress=False)
        t0 = time.time()
        tr = get_translator(cfg["method"], seed=cfg["seed"])
        tr.fit(xa, xb)
        print(f"[translated] fitted {cfg['method']} in {time.time() - t0:.0f} s", flush=True)
    model = load_inverter(cfg["run_dir"], embedder="minilm")
    lim = cfg["offset"] + 3 * cfg["n"]
    texts = get_texts("gcide-definitions", "eval", limit=lim)
    ok = [i for i in range(cfg["offset"], lim)
          if len(model.tokenizer(texts[i], add_special_tokens=False).input_ids)
          <= model.cfg.max_tokens][:cfg["n"]]
    refs = [texts[i] for i in ok]
    direct = embed("minilm", "gcide-definitions", "eval", limit=lim, progress=False)[ok]
    leaked = embed("mpnet", "gcide-definitions", "eval", limit=lim, progress=False)[ok]
    translated = tr.translate(leaked, cfg["direction"])
    rows = []
    via = cfg["translator_dir"] or cfg["method"]
    for name, vecs in (("direct minilm", direct), (f"mpnet -> {via} -> minilm", translated)):
        t0 = time.time()
        res = invert(vecs, model, "minilm", steps=cfg["steps"], beam=cfg["beam"],
                     temperature=cfg["temperature"], polish=cfg["polish"], progress=True)
        secs = time.time() - t0
        cos_in = float(np.mean(np.sum(l2_normalize(vecs) * direct, 1)))
        for variant, preds, info in polish_variants(name, res):
            pv = embed_texts("minilm", [p or " " for p in preds])
            sc = score(preds, refs, pv, direct)        # cosine to the TRUE minilm vector
            sc["cos_translated_to_true"] = cos_in
            rows.append({"input": variant, **sc, "seconds": secs, **info})
            print(f"| {variant} | {sc['n']} | {sc['token_f1']:.3f} | {sc['bleu']:.1f} | "
                  f"{sc['exact']:.3f} | {sc['cosine']:.3f} | {sc['cos_translated_to_true']:.3f} |",
                  flush=True)
    write_json(cfg["out"], {"config": cfg, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
