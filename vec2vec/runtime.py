"""Seeds, devices and mixed precision: one place decides them for every module."""
from __future__ import annotations

import contextlib
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
    import torch

    if enabled and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


# threads set by the innermost active ``thread_limit`` (None: not limited)
_THREADS: int | None = None


def cpu_threads() -> int:
    """Threads compute should use: the active :func:`thread_limit`, else ``VEC2VEC_THREADS`` (set
    by the user; never written by this package), else all cores."""
    if _THREADS is not None:
        return _THREADS
    return int(os.environ.get("VEC2VEC_THREADS", os.cpu_count() or 1))


@contextlib.contextmanager
def thread_limit(threads: int | None):
    """Run the block with ``threads`` CPU threads for torch and the BLAS under NumPy, restoring
    the previous settings after it. ``0``/``None``: no change (all cores, or VEC2VEC_THREADS).

    On a busy machine, more threads than free cores make every parallel region wait on
    descheduled threads (measured: 3x slower inversion), hence a knob on every command."""
    global _THREADS
    if not threads:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before, before_torch = _THREADS, torch.get_num_threads()
    _THREADS = int(threads)
    torch.set_num_threads(int(threads))
    try:
        with threadpool_limits(limits=int(threads)):
            yield
    finally:
        _THREADS = before
        torch.set_num_threads(before_torch)
