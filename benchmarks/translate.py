"""Translate throughput of a trained (or untrained default) vec2vec GAN: vectors/second.

    python -m benchmarks translate [run_dir=DIR] [n=200000] [threads=2] [chunk=65536]

Measures the in-memory ``Translator.translate`` path and the streaming ``vec2vec translate``
file path (.npy -> .npy, memory-mapped); ``benchmarks/conf/translate.yaml``. Prints a table and
writes JSON. Target: >= 50,000 vectors/s on 2 cores.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import output_path, write_result

TARGET_VECTORS_PER_S = 50000


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(cfg: dict) -> dict:
    from vec2vec import rundir
    from vec2vec.runtime import thread_limit
    from vec2vec.translators.gan import GANTranslator
    from vec2vec.translators.stream import translate_file

    out = output_path(cfg, "translate.json")
    with thread_limit(cfg["threads"]):
        if cfg["run_dir"]:
            tr = rundir.load_translator(cfg["run_dir"])
            source = rundir.read_config(cfg["run_dir"])
        else:
            tr = GANTranslator(warm_start=None)
            tr.build((384, 768))
            tr.net.eval()
            source = {"source": "(untrained, 384-d)", "target": "(768-d)"}
        rng = np.random.default_rng(0)
        rows = []
        n = int(cfg["n"])
        for direction in ("ab", "ba"):
            d_src = tr.dims[0] if direction == "ab" else tr.dims[1]
            x = rng.standard_normal((n, d_src)).astype(np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            tr.translate(x[:4096], direction)  # warm-up
            best = min(_timed(lambda: tr.translate(x, direction)) for _ in range(cfg["repeats"]))
            rows.append({"path": "in-memory", "direction": direction, "n": n,
                         "seconds": best, "vectors_per_s": n / best})
            with tempfile.TemporaryDirectory() as tmp:
                np.save(Path(tmp) / "x.npy", x)
                t = _timed(lambda: translate_file(tr, Path(tmp) / "x.npy", Path(tmp) / "y.npy",
                                                  direction, chunk=cfg["chunk"]))
            rows.append({"path": "streaming .npy", "direction": direction, "n": n,
                         "seconds": t, "vectors_per_s": n / t})
    n_params = sum(p.numel() for p in tr.net.parameters())
    print(f"vec2vec translate throughput, {cfg['threads']} threads, model {source['source']} -> "
          f"{source['target']}, {n_params / 1e6:.2f} M generator parameters, "
          f"width {tr.config['width']}")
    print(f"{'path':<16} {'dir':<4} {'n':>8} {'seconds':>8} {'vectors/s':>11}")
    for r in rows:
        print(f"{r['path']:<16} {r['direction']:<4} {r['n']:>8} {r['seconds']:>8.2f} "
              f"{r['vectors_per_s']:>11,.0f}")
    payload = {"config": cfg, "model": {k: str(v) for k, v in source.items()},
               "translator_config": tr.config, "params": n_params, "rows": rows,
               "target_vectors_per_s": TARGET_VECTORS_PER_S}
    write_result(out, payload)
    print(f"wrote {out}")
    return payload
