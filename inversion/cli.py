"""Command-line entry points: ``vec2vec invert-train key=value ...`` and ``vec2vec invert ...``."""
from __future__ import annotations


def _cfg(name: str, overrides: list[str]) -> dict:
    from vec2vec.config import compose, to_dict

    return to_dict(compose(name, overrides, module="inversion.conf"))


def train_cli(overrides: list[str]) -> int:
    """Train (or resume) an inverter: ``vec2vec invert-train embedder=minilm run_dir=DIR``."""
    from .train import train

    cfg = _cfg("train", overrides)
    train(cfg)
    return 0


def invert_cli(overrides: list[str]) -> int:
    """Invert vectors: ``vec2vec invert vectors=X.npy embedder=minilm out=Y.jsonl steps=10 beam=4``."""
    from .infer import run_cli

    return run_cli(_cfg("invert", overrides))
