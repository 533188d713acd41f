"""``vec2vec translate``: map a large set of vectors (``.npy`` or a faiss index) with a trained run.

Streaming: a ``.npy`` input is memory-mapped and translated ``chunk`` rows at a time into a
memory-mapped ``.npy`` output, so memory stays bounded by the chunk, not the input. A faiss input is
read back chunk by chunk (``reconstruct_n``; flat indexes and any index that stores its vectors);
one of 1 GiB or more is memory-mapped (``read_faiss_index``), a smaller one loaded whole.
A ``.faiss`` output is a flat index built in memory (n x d_out floats); write ``.npy`` for outputs
larger than memory.
Outputs are written to a temporary file next to the target and moved into place at the end, with a
JSON manifest (``<output>.json``) recording the run, direction and counts.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from . import rundir
from .io import atomic_path, write_json


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


def _faiss():
    try:
        import faiss
    except ImportError as e:  # pragma: no cover
        raise ModuleNotFoundError("faiss is needed for .faiss inputs/outputs (pip install faiss-cpu)") from e
    return faiss


def open_input(path: Path) -> tuple[int, int, callable]:
    """(rows, dim, read(start, stop) -> float32 [stop-start, dim]) for a .npy or faiss index."""
    if not path.is_file():
        raise FileNotFoundError(f"input={path}: no such file")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"input={path}: not a plain numeric .npy array ({e})") from e
        if arr.ndim != 2:
            raise ValueError(f"input={path}: expected a 2-D array [n, d], got shape {arr.shape}")
        return arr.shape[0], arr.shape[1], lambda i, j: np.asarray(arr[i:j], dtype=np.float32)
    from .io import faiss_reader

    return faiss_reader(read_faiss_index(path), f"input={path}")


# faiss files at least this large are memory-mapped rather than read into process memory
MMAP_MIN_BYTES = 1 << 30


def read_faiss_index(path: Path):
    """Load a float faiss index. A file of ``MMAP_MIN_BYTES`` or more is memory-mapped where this
    faiss can (``IO_FLAG_MMAP_IFC``, faiss >= 1.8: the stored vectors cost page cache, not process
    memory), else read whole. A mapped file must not be rewritten in place while it is read (a
    rename or delete is safe). A binary index gets a clear ValueError."""
    from .io import codes_only_error

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
            raise ValueError(f"input={path}: not a readable faiss index "
                             f"({str(e).splitlines()[0]})") from e
        raise codes_only_error(type(binary).__name__, f"input={path}") from e


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for i in range(0, n, size):
        yield i, min(n, i + size)


def translate_file(translator, input_path: str | os.PathLike, output_path: str | os.PathLike,
                   direction: str = "ab", chunk: int = 65536, overwrite: bool = False,
                   progress: bool = False) -> dict:
    """Translate every row of ``input_path`` into ``output_path`` (.npy or .faiss). Returns stats."""
    inp, out = Path(input_path), Path(output_path)
    if out.suffix not in (".npy", ".faiss"):
        raise ValueError(f"output={out}: must end in .npy or .faiss")
    if out.exists() and not overwrite:
        raise ValueError(f"output={out} exists; pass overwrite=true to replace it")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    n, d, read = open_input(inp)
    d_src, d_tgt = translator.dims if direction == "ab" else translator.dims[::-1]
    if d != d_src:
        raise ValueError(f"input={inp}: vectors have dimension {d}, but direction {direction} of this "
                         f"run expects {d_src} (translator dims a={translator.dims[0]}, "
                         f"b={translator.dims[1]}); wrong direction or vectors of another embedder?")
    if n == 0:
        raise ValueError(f"input={inp}: holds no vectors")
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n, unit="vec", file=sys.stderr, desc="translate")
    with atomic_path(out) as tmp:
        if out.suffix == ".npy":
            dst = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d_tgt))
            for i, j in chunks(n, chunk):
                dst[i:j] = translator.translate(read(i, j), direction)
                if bar is not None:
                    bar.update(j - i)
            dst.flush()
            del dst
        else:
            faiss = _faiss()
            index = faiss.IndexFlatIP(d_tgt)  # translations are unit vectors: inner product = cosine
            for i, j in chunks(n, chunk):
                index.add(np.ascontiguousarray(translator.translate(read(i, j), direction)))
                if bar is not None:
                    bar.update(j - i)
            faiss.write_index(index, str(tmp))
    if bar is not None:
        bar.close()
    secs = time.perf_counter() - t0
    return {"rows": int(n), "dim_in": int(d), "dim_out": int(d_tgt), "seconds": secs,
            "vectors_per_second": n / max(secs, 1e-9)}


def cli(overrides: list[str]) -> int:
    """``vec2vec translate run_dir=DIR input=X.npy output=Y.npy direction=ab``."""
    import torch

    from .config import compose, to_dict
    from .runtime import cpu_threads

    cfg = to_dict(compose("translate", overrides))
    for key in ("run_dir", "input", "output"):
        if not cfg.get(key):
            raise ValueError(f"{key}= is required (see `vec2vec translate --help`)")
    torch.set_num_threads(int(cfg["threads"]) or cpu_threads())
    run_cfg = rundir.read_config(cfg["run_dir"])
    direction = resolve_direction(str(cfg["direction"]), run_cfg)
    tr = rundir.load_translator(cfg["run_dir"], cfg.get("seed"))
    stats = translate_file(tr, cfg["input"], cfg["output"], direction, int(cfg["chunk"]),
                           bool(cfg["overwrite"]), progress=True)
    src, tgt = (run_cfg["source"], run_cfg["target"])[:: 1 if direction == "ab" else -1]
    write_json(Path(str(cfg["output"]) + ".json"),
               {**cfg, "direction": direction, "from": src, "to": tgt, "method": run_cfg["method"],
                **stats})
    print(f"{stats['rows']} vectors {src} ({stats['dim_in']}) -> {tgt} ({stats['dim_out']}) "
          f"in {stats['seconds']:.2f} s ({stats['vectors_per_second']:.0f} vectors/s) -> {cfg['output']}")
    return 0
