"""The one training utility shared by the GAN translator and the inverter.

- :func:`lr_at`: the learning-rate schedule (linear warm-up, cosine decay to a floor);
- :func:`write_checkpoint` / :func:`read_checkpoint`: a checkpoint is ONE directory holding
  ``state.safetensors`` (model, optimiser and RNG tensors) and ``state.json`` (step, config,
  optimiser scalars, history), written to a temporary directory and moved into place whole, so a
  kill at any moment leaves either the previous checkpoint or the new one, never a mix;
- :func:`optimizer_tensors` / :func:`optimizer_state`: an optimiser's state split into tensors
  and JSON (nothing pickled);
- :func:`rng_tensors` / :func:`set_rng`: torch's global RNG and a data generator, saved and
  restored, so a resumed run draws the same batches it would have drawn;
- :func:`plot_curves`: one panel per logged quantity.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from vec2vec.data.io import load_safetensors, read_json, replace_dir, save_safetensors, write_json

STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


def lr_at(step: int, base: float, warmup: int, total: int, floor: float = 0.1) -> float:
    """Learning rate at ``step``: linear warm-up over ``warmup`` steps, then cosine decay from
    ``base`` to ``floor * base`` at ``total`` steps (held there after)."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (floor + (1 - floor) * 0.5 * (1.0 + math.cos(math.pi * frac)))


# ----- optimiser and RNG state ---------------------------------------------------------------------
def optimizer_tensors(prefix: str, opt) -> tuple[dict, dict]:
    """A torch optimiser's state -> (tensors ``{prefix/param_id/key: tensor}``, JSON-able rest)."""
    import torch

    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}/{pid}/{k}"] = v
            else:
                scalars.setdefault(str(pid), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_state(prefix: str, tensors: dict, meta: dict) -> dict:
    """Inverse of :func:`optimizer_tensors`: the ``state_dict`` to load into the optimiser."""
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "/"):
            _, pid, k = key.split("/", 2)
            state.setdefault(int(pid), {})[k] = v
    for pid, st in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(st)
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_tensors(gen=None) -> dict:
    """torch's global RNG state (and ``gen``'s, a ``torch.Generator``) as tensors."""
    import torch

    out = {"rng/torch": torch.get_rng_state()}
    if gen is not None:
        out["rng/data"] = gen.get_state()
    return out


def set_rng(tensors: dict, gen=None) -> None:
    """Restore what :func:`rng_tensors` saved."""
    import torch

    torch.set_rng_state(tensors["rng/torch"])
    if gen is not None:
        gen.set_state(tensors["rng/data"])


# ----- checkpoint directories ---------------------------------------------------------------------
def write_checkpoint(path: str | Path, tensors: dict, meta: dict, fmt: str, version: int) -> None:
    """Write ``tensors`` and ``meta`` (JSON) as one checkpoint directory ``path``, atomically:
    everything goes to ``path.tmp`` first, which then replaces ``path`` whole."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_safetensors(tmp / STATE_TENSORS, tensors, metadata={"format": fmt})
    write_json(tmp / STATE_JSON, {"format": fmt, "version": version, **meta})
    replace_dir(tmp, path)


def has_checkpoint(path: str | Path) -> bool:
    """True when ``path`` holds a complete checkpoint (both files)."""
    path = Path(path)
    return (path / STATE_JSON).is_file() and (path / STATE_TENSORS).is_file()


def read_checkpoint_meta(path: str | Path, fmt: str, version: int, what: str = "") -> dict:
    """``state.json`` of a checkpoint directory, after checking its format and version; foreign or
    truncated files raise ValueError naming the directory and ``what`` was expected."""
    path = Path(path)
    meta = read_json(path / STATE_JSON)
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise ValueError(f"{path}: not a {what or fmt} checkpoint (state.json format "
                         f"{meta.get('format') if isinstance(meta, dict) else type(meta).__name__!r})")
    if meta.get("version") != version:
        raise ValueError(f"{path}: checkpoint version {meta.get('version')} unsupported "
                         f"(expected {version}); start a new run directory")
    return meta


def read_checkpoint(path: str | Path, fmt: str, version: int,
                    what: str = "") -> tuple[dict, dict]:
    """(tensors, meta) of a checkpoint written by :func:`write_checkpoint` (``what``: how errors
    name the expected kind, e.g. "vec2vec training")."""
    meta = read_checkpoint_meta(path, fmt, version, what)
    return load_safetensors(Path(path) / STATE_TENSORS), meta


def prefixed(tensors: dict, prefix: str) -> dict:
    """The entries of ``tensors`` under ``prefix/``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + "/")}


# ----- curves ------------------------------------------------------------------------------------
def plot_curves(history: list[dict] | dict[str, list[dict]], path: str | Path) -> None:
    """One panel per logged quantity (losses, pair counts, scores) vs step, written atomically to
    ``path`` (PNG). ``history``: one run's log entries ``{"step": s, name: value, ...}``, or
    ``{label: entries}`` to overlay several runs (seeds). Keys ending in ``seconds`` are skipped."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: dict[str, Any] = history if isinstance(history, dict) else {"": history}
    keys = sorted({k for hist in runs.values() for h in hist for k in h
                   if k != "step" and not k.endswith("seconds")})
    if not keys:
        return
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, k in zip(axes.flat, keys):
        for label, hist in runs.items():
            pts = [(h["step"], h[k]) for h in hist if k in h]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label or None,
                    marker="." if len(pts) < 30 else None)
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    if len(runs) > 1:
        axes.flat[0].legend(fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    tmp.replace(path)
