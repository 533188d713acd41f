"""``vec2vec invert-train`` and ``vec2vec invert``: train an inverter, reconstruct texts."""
from __future__ import annotations

from inversion.infer import run_invert
from inversion.train import train
from vec2vec.runtime import thread_limit


def train_main(cfg: dict) -> int:
    """``vec2vec invert-train embedder=minilm run_dir=DIR``: train (``resume=true``: continue) an
    inverter for one embedder; checkpoints, logs and curves go to DIR."""
    with thread_limit(int(cfg.get("threads") or 0)):
        train(cfg)
    return 0


def invert_main(cfg: dict) -> int:
    """``vec2vec invert input=X.npy embedder=minilm output=Y.jsonl steps=10 beam=4``: reconstruct
    one text per vector (hypothesis, then corrections scored by re-embedding)."""
    with thread_limit(int(cfg.get("threads") or 0)):
        return run_invert(cfg)
