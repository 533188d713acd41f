"""Input checks with errors that name the bad input."""
from __future__ import annotations

import numpy as np


def check_vectors(x, name: str = "vectors", dim: int | None = None, min_rows: int = 1) -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 array of shape [n, d], or raise ValueError.

    Checks: 2-D, at least ``min_rows`` rows, ``d == dim`` when given, every value finite.
    """
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array [n, d], got shape {arr.shape}")
    n, d = arr.shape
    if n < min_rows:
        raise ValueError(f"{name}: need at least {min_rows} vectors, got {n}")
    if dim is not None and d != dim:
        raise ValueError(f"{name}: expected dimension {dim}, got {d} (shape {arr.shape}); "
                         "are these vectors from a different embedder?")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        bad_rows = np.where(~finite.all(axis=1))[0]
        raise ValueError(f"{name}: {len(bad_rows)} row(s) contain NaN or inf "
                         f"(first: row {int(bad_rows[0])})")
    return arr


def check_paired(x: np.ndarray, y: np.ndarray, names: tuple[str, str] = ("X", "Y")) -> None:
    """Raise ValueError unless ``x`` and ``y`` have the same number of rows (paired data)."""
    if len(x) != len(y):
        raise ValueError(f"{names[0]} has {len(x)} rows but {names[1]} has {len(y)}: "
                         "paired arrays must describe the same texts, row for row")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (float32)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)
