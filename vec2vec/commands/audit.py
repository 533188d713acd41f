"""``vec2vec audit``: what does a leaked vector set reveal?"""
from __future__ import annotations

from pathlib import Path

from vec2vec.audit.pipeline import run, summary_text


def main(cfg: dict) -> int:
    """``vec2vec audit input=X.npy|index.faiss public_corpus=NAME|PATH known=minilm
    out_dir=DIR``: translate leaked vectors of an unknown embedder into a known one without
    pairs, infer attributes, invert them to text, and write DIR/report.html + DIR/report.json."""
    rep = run(cfg)
    print(summary_text(rep))
    print(f"report: {Path(cfg['out_dir']) / 'report.html'}")
    return 0
