"""Reading vector inputs: every command that takes vectors (``input=``) opens them here.

:func:`open_vectors` returns ``(rows, dim, read)`` with ``read(start, stop) -> float32
[stop - start, dim]``, so callers stream in chunks and memory stays bounded by the chunk:

- ``.npy``: memory-mapped, never unpickled;
- a faiss index (any other path): one that stores its vectors (Flat, IVF, HNSW, SQ/PQ decoded,
  wrapped in an IDMap or not); binary and LSH indexes keep only codes and are refused. A file of
  ``MMAP_MIN_BYTES`` or more is memory-mapped where this faiss can.

:func:`load_vectors` reads all rows at once, validated (finite, enough rows).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from vec2vec.data.io import codes_only_error, faiss_reader
from vec2vec.data.validation import check_vectors


def _faiss():
    try:
        import faiss
    except ImportError as e:  # pragma: no cover
        raise ModuleNotFoundError("faiss is needed for .faiss inputs/outputs (pip install faiss-cpu)") from e
    return faiss


def open_vectors(path: str | Path, key: str = "input") -> tuple[int, int, Callable]:
    """(rows, dim, read(start, stop) -> float32 [stop-start, dim]) for a .npy file or a faiss
    index. ``key``: the config key the path came from, named in every error."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{key}={path} is a directory; pass a .npy file or a faiss index file")
    if not path.is_file():
        raise FileNotFoundError(f"{key}={path}: no such file (a .npy of float vectors [n, d] or "
                                "a faiss index)")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError):
            # numpy's own message advises allow_pickle, which we never do: say what is wrong
            raise ValueError(f"{key}={path}: not a readable .npy array of numbers (another "
                             "format, a truncated file, or Python objects); save a float array "
                             "[n, d] with numpy.save") from None
        if arr.dtype.kind not in "fiu":   # complex would lose its imaginary part silently
            raise ValueError(f"{key}={path}: holds {arr.dtype} values, not real numbers; save a "
                             "float array [n, d]")
        if arr.ndim != 2:
            raise ValueError(f"{key}={path}: expected a 2-D array [n, d], got shape {arr.shape}")
        return arr.shape[0], arr.shape[1], lambda i, j: np.asarray(arr[i:j], dtype=np.float32)
    return faiss_reader(read_faiss_index(path, key), f"{key}={path}")


# faiss files at least this large are memory-mapped rather than read into process memory
MMAP_MIN_BYTES = 1 << 30


def read_faiss_index(path: Path, key: str = "input"):
    """Load a float faiss index. A file of ``MMAP_MIN_BYTES`` or more is memory-mapped where this
    faiss can (``IO_FLAG_MMAP_IFC``, faiss >= 1.8: the stored vectors cost page cache, not process
    memory), else read whole. A mapped file must not be rewritten in place while it is read (a
    rename or delete is safe). A binary index gets a clear ValueError."""

    faiss = _faiss()
    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", None)
    if flag is not None and path.stat().st_size >= MMAP_MIN_BYTES:
        try:
            return faiss.read_index(str(path), flag | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            pass  # not mappable (or not an index): the plain read below says which
    try:
        return faiss.read_index(str(path))
    except RuntimeError as e:
        try:
            binary = faiss.read_index_binary(str(path))
        except RuntimeError:
            raise ValueError(f"{key}={path}: not a readable faiss index (nor a .npy file) "
                             f"({str(e).splitlines()[0]})") from e
        raise codes_only_error(type(binary).__name__, f"{key}={path}") from e


def load_vectors(path: str | Path, min_rows: int = 1, key: str = "input") -> np.ndarray:
    """All vectors of a ``.npy`` file or a faiss index -> float32 [n, d], validated.

    Raises a ValueError naming ``key=path`` and the problem (unreadable index, an index type that
    does not keep its vectors, NaN/inf rows, fewer than ``min_rows`` vectors).
    """
    n, d, read = open_vectors(path, key)
    if n < min_rows:
        raise ValueError(f"{key}={path}: {n} vectors, but at least {min_rows} are needed")
    return check_vectors(read(0, n), f"{key}={path}", min_rows=min_rows)
