"""Streaming translation of a stored vector set (``.npy`` or a faiss index) with a fitted translator.

A ``.npy`` input is memory-mapped and translated ``chunk`` rows at a time into a memory-mapped
``.npy`` output, so memory stays bounded by the chunk, not the input. A faiss input is read back
chunk by chunk (:mod:`vec2vec.data.vectors`). A ``.faiss`` output is a flat index built in memory
(n x d_out floats); write ``.npy`` for outputs larger than memory. Outputs are written to a
temporary file next to the target and moved into place at the end.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from vec2vec.data.io import atomic_path
from vec2vec.data.vectors import _faiss, open_vectors


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
    n, d, read = open_vectors(inp)
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
