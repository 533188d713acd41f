"""Seeds, devices and mixed precision: one place decides them for every module."""
from __future__ import annotations

import os
import random

import numpy as np


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for a reproducible run."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def pick_device(device: str | None = "auto") -> str:
    """``"cuda"`` when available (or asked for), else ``"cpu"``; an explicit value is validated."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} asked for, but no CUDA device is available here")
    return device


def autocast(device: str, enabled: bool = True):
    """AMP context: fp16 autocast on CUDA, a no-op on CPU (CPU fp32 keeps results reproducible)."""
    import contextlib

    import torch

    if enabled and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def cpu_threads() -> int:
    """Threads torch should use: ``VEC2VEC_THREADS`` or all cores."""
    return int(os.environ.get("VEC2VEC_THREADS", os.cpu_count() or 1))
