"""Layout of a training run directory, shared by ``vec2vec train`` (writer) and
``vec2vec evaluate`` / ``vec2vec translate`` (readers). One place names every file.

::

    DIR/
      config.json              full resolved config of the run (written first, by train)
      translator/              the translator chosen WITHOUT pairs (best seed/checkpoint by the
                               unsupervised criterion): translator.json + weights.safetensors
      selection.json           {"criterion": name, "chosen_seed": s, "per_seed": {s: {...scores}}}
      seeds/<seed>/translator/ per-seed final translators (one per seed in ``seeds``)
      seeds/<seed>/...         anything else per seed (checkpoints, curves) is the trainer's business
      eval.json                written by ``vec2vec evaluate``

``config.json`` keys every reader relies on (see ``REQUIRED_CONFIG_KEYS``):
``method`` (registry name), ``source`` / ``target`` (embedder names: space a / space b),
``corpus``, ``seeds`` (list of int; a single-seed run has ``[seed]``), ``n_a`` / ``n_b`` (unpaired
rows per side used for fitting, split ``a`` for the source and ``b`` for the target), and
``split_seed`` (seed of the corpus split; defaults to 0; ``data_seed`` in older runs). Extra keys are kept and ignored here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vec2vec.data.io import read_json, write_json
from vec2vec.translators.base import Translator

CONFIG = "config.json"
SELECTION = "selection.json"
EVAL = "eval.json"
TRANSLATOR = "translator"
SEEDS = "seeds"

REQUIRED_CONFIG_KEYS = ("method", "source", "target", "corpus", "seeds", "n_a", "n_b")


def config_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CONFIG


def selection_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / SELECTION


def eval_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / EVAL


def translator_dir(run_dir: str | Path, seed: int | None = None) -> Path:
    """The chosen translator (``seed=None``) or one seed's final translator."""
    run_dir = Path(run_dir)
    return run_dir / TRANSLATOR if seed is None else seed_dir(run_dir, seed) / TRANSLATOR


def seed_dir(run_dir: str | Path, seed: int) -> Path:
    return Path(run_dir) / SEEDS / str(int(seed))


def normalize_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Fill derived keys: ``seeds`` from a lone ``seed``; ``split_seed`` default 0."""
    cfg = dict(cfg)
    if "seeds" not in cfg and "seed" in cfg:
        cfg["seeds"] = [int(cfg["seed"])]
    if isinstance(cfg.get("seeds"), (int, str)):
        cfg["seeds"] = [int(cfg["seeds"])]
    if "split_seed" not in cfg:   # runs written before the key was renamed call it data_seed
        cfg["split_seed"] = cfg.pop("data_seed", 0)
    cfg.pop("data_seed", None)
    return cfg


def write_config(run_dir: str | Path, cfg: dict[str, Any]) -> Path:
    """Write the run's resolved config (atomically), after checking the required keys."""
    cfg = normalize_config(cfg)
    missing = [k for k in REQUIRED_CONFIG_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"run config lacks required key(s) {missing}")
    path = config_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, cfg)
    return path


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """Read ``DIR/config.json``; errors name the run dir and any missing key."""
    path = config_path(run_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {CONFIG}; is this a `vec2vec train` run directory?")
    cfg = normalize_config(read_json(path))
    missing = [k for k in REQUIRED_CONFIG_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"{path}: missing required key(s) {missing}")
    return cfg


def load_translator(run_dir: str | Path, seed: int | None = None):
    """Load the chosen translator of a run (or one seed's). Falls back to the only seed's."""

    path = translator_dir(run_dir, seed)
    if seed is None and not (path / "translator.json").is_file():
        seeds = sorted((Path(run_dir) / SEEDS).glob("*/" + TRANSLATOR + "/translator.json"))
        if len(seeds) == 1:
            path = seeds[0].parent
    if not (path / "translator.json").is_file():
        raise FileNotFoundError(f"{path}: no translator.json; has training finished?")
    return Translator.load(path)


def resolve_direction(direction: str, cfg: dict) -> str:
    """``ab``/``ba``, or ``src:tgt`` / ``'src->tgt'`` with the run's embedder names -> ``ab``/``ba``."""
    if direction in ("ab", "ba"):
        return direction
    src, tgt = cfg["source"], cfg["target"]
    named = {f"{src}{sep}{tgt}": "ab" for sep in ("->", ":")}
    named |= {f"{tgt}{sep}{src}": "ba" for sep in ("->", ":")}
    if direction in named:
        return named[direction]
    raise ValueError(f"direction={direction!r}: use ab, ba, {src}:{tgt} or {tgt}:{src}")
