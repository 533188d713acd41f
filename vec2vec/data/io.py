"""Atomic, pickle-free file I/O shared by every module.

Every write goes to a temporary file in the destination directory and is moved into place with
``os.replace``, so a killed process never leaves a half-written file under the final name.
Weights are stored as safetensors and configs as JSON: loading never executes code.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes the file 0600; the final file gets the mode any new file would (umask), so a
    # shared cache or output folder stays readable by the others who may read it
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``, else delete it."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot serialise {type(o).__name__} to JSON")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, with an error that names the file when it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); the file is corrupt or foreign") from e


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save an array as ``.npy`` atomically (never pickled)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def load_npy(path: str | os.PathLike, mmap: bool = False) -> np.ndarray:
    """Load a ``.npy`` file without allowing pickled objects."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a .npy file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, OSError, EOFError):
        # numpy's own message advises allow_pickle, which is never safe here: say what is wrong
        raise ValueError(f"{path}: not a readable .npy array of numbers (another format, a "
                         "truncated file, or Python objects); save a float array with "
                         "numpy.save") from None


def save_safetensors(path: str | os.PathLike, tensors: Mapping[str, Any],
                     metadata: Mapping[str, str] | None = None) -> None:
    """Save a dict of torch tensors or numpy arrays as safetensors, atomically."""
    import torch
    from safetensors.torch import save_file

    flat = {k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
            .detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=dict(metadata or {}))


def load_safetensors(path: str | os.PathLike) -> dict:
    """Load a safetensors file into torch tensors; a truncated or foreign file raises ValueError."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own SafetensorError on bad headers
        raise ValueError(f"{path}: not a readable safetensors file ({e}); truncated or foreign") from e


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block's duration.

    Used so two processes filling the same cache entry do not race.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def replace_dir(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written ``tmp_dir`` onto ``final_dir`` (replacing an older one)."""
    final_dir = Path(final_dir)
    if final_dir.exists():
        old = final_dir.with_name(final_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final_dir, old)
        os.replace(tmp_dir, final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, final_dir)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def codes_only_error(kind: str, path) -> ValueError:
    """The error for a faiss index of type ``kind`` that keeps codes, not vectors (LSH, binary)."""
    return ValueError(f"{path}: a faiss {kind} keeps only hash/binary codes, not the vectors; "
                      "export the original float vectors to .npy instead")


def faiss_reader(index, path) -> tuple[int, int, Callable[[int, int], np.ndarray]]:
    """(rows, dim, read(start, stop) -> float32 [stop-start, dim]) for a loaded faiss index.

    Vectors come back in insertion order. ``IndexIDMap`` wrappers are unwrapped (their inner index
    holds the rows in order); IVF indexes are read list by list (no direct map needed; their ids
    must be 0..n-1, else the order is lost and a ValueError says so); quantised indexes (PQ,
    SQ) give their decoded, approximate vectors. Index types that keep only hash codes (LSH) or
    cannot reconstruct at all raise a ValueError saying what to do, *before* any bulk read
    (a failing bulk reconstruct aborts the whole process inside faiss).
    """
    import faiss

    owners = (index,)  # the object from read_index owns the C++ index; downcast views do not
    index = faiss.downcast_index(index)
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        index = faiss.downcast_index(index.index)
    kind = type(index).__name__
    if isinstance(index, faiss.IndexLSH) or "Binary" in kind:
        raise codes_only_error(kind, path)
    if isinstance(index, faiss.IndexIVF) and index.ntotal:
        # reconstruct_n fills row i from the vector whose id is i: only sequential ids give all rows
        inv = index.invlists
        ids = np.concatenate([faiss.rev_swig_ptr(inv.get_ids(lst), inv.list_size(lst)).copy()
                              for lst in range(index.nlist) if inv.list_size(lst)])
        if not np.array_equal(np.sort(ids), np.arange(index.ntotal)):
            raise ValueError(f"{path}: this faiss {kind} stores vectors under custom ids, so their "
                             "order cannot be recovered; export the vectors to .npy first")
    if not isinstance(index, faiss.IndexIVF) and index.ntotal:
        try:
            index.reconstruct(0)
        except RuntimeError as e:
            raise ValueError(f"{path}: this faiss index ({kind}) cannot give its vectors back "
                             f"({str(e).splitlines()[0][-80:]}); export them to .npy first") from e

    def read(i: int, j: int, _keep_alive=owners) -> np.ndarray:
        return np.asarray(index.reconstruct_n(i, j - i), dtype=np.float32)

    return int(index.ntotal), int(index.d), read
