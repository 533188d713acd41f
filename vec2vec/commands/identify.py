"""``vec2vec identify``: which embedder you can run made a vector set?"""
from __future__ import annotations

from pathlib import Path

from vec2vec.audit.identify import candidate_names, embed_candidates, format_result, identify
from vec2vec.data.corpora import resolve_split
from vec2vec.data.io import write_json
from vec2vec.data.vectors import load_vectors


def main(cfg: dict) -> int:
    """``vec2vec identify input=X.npy|index.faiss public_corpus=NAME|PATH candidates=auto``: each
    candidate embeds the same public texts of the leak's domain; the leak matches the one whose
    embeddings have its nearest-neighbour structure and mean."""
    if not cfg.get("input"):
        raise ValueError("input=PATH.npy|PATH.faiss is required (the vectors to identify)")
    out = cfg.get("output")
    if out and not str(out).endswith(".json"):
        raise ValueError(f"output={out}: must end in .json")
    if out and Path(out).exists() and not cfg["overwrite"]:
        raise ValueError(f"output={out} exists; pass overwrite=true to replace it, or choose "
                         "another output")
    leaked = load_vectors(cfg["input"], min_rows=2)
    cfg["public_split"] = resolve_split(str(cfg["public_corpus"]), cfg.get("public_split"), "a")
    names = candidate_names(cfg["candidates"], leaked.shape[1])
    if not names:
        raise ValueError(f"no candidate embedder of dimension {leaked.shape[1]}: list some with "
                         f"candidates=[name,...]")
    vecs = embed_candidates(names, str(cfg["public_corpus"]), cfg["public_split"],
                            cfg["public_n"], seed=int(cfg["seed"]), dim=leaked.shape[1])
    res = identify(leaked, vecs, seed=int(cfg["seed"]))
    print(format_result(res))
    if out:
        write_json(out, {"config": cfg, **res})
        print(f"wrote {out}")
    return 0
