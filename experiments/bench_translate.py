"""Translate throughput of a trained vec2vec (GAN) model: vectors/second on this CPU.

    python experiments/bench_translate.py [run_dir=DIR] [n=200000] [threads=2] [chunk=65536]

Without ``run_dir`` a vec2vec network with the default architecture (384 -> 768, minilm -> mpnet
shapes) is built untrained and warm-start-free: translation cost depends only on the architecture,
not on the weights. Measures the in-memory ``Translator.translate`` path and the streaming
``vec2vec translate`` file path (.npy -> .npy, memory-mapped). Prints a table and writes
``experiments/results/bench_translate.json``. Target: >= 50,000 vectors/s on 2 cores.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vec2vec import rundir  # noqa: E402
from vec2vec.translate import translate_file  # noqa: E402
from vec2vec.translators.gan import GANTranslator  # noqa: E402


def parse(argv):
    args = {"run_dir": None, "n": 200000, "threads": 2, "chunk": 65536, "repeats": 3}
    for a in argv:
        k, v = a.split("=", 1)
        args[k] = v if k == "run_dir" else int(v)
    return args


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(args["threads"])
    if args["run_dir"]:
        tr = rundir.load_translator(args["run_dir"])
        source = rundir.read_config(args["run_dir"])
    else:
        tr = GANTranslator(warm_start=None)
        tr.build((384, 768))
        tr.net.eval()
        source = {"source": "(untrained, 384-d)", "target": "(768-d)"}
    rng = np.random.default_rng(0)
    rows = []
    for direction in ("ab", "ba"):
        d_src = tr.dims[0] if direction == "ab" else tr.dims[1]
        x = rng.standard_normal((args["n"], d_src)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        tr.translate(x[:4096], direction)  # warm-up
        best = min(_timed(lambda: tr.translate(x, direction)) for _ in range(args["repeats"]))
        rows.append({"path": "in-memory", "direction": direction, "n": args["n"],
                     "seconds": best, "vectors_per_s": args["n"] / best})
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "x.npy", x)
            t = _timed(lambda: translate_file(tr, Path(tmp) / "x.npy", Path(tmp) / "y.npy",
                                              direction, chunk=args["chunk"]))
        rows.append({"path": "streaming .npy", "direction": direction, "n": args["n"],
                     "seconds": t, "vectors_per_s": args["n"] / t})
    n_params = sum(p.numel() for p in tr.net.parameters())
    print(f"vec2vec translate throughput, {args['threads']} threads, model {source['source']} -> "
          f"{source['target']}, {n_params / 1e6:.2f} M generator parameters, width {tr.config['width']}")
    print(f"{'path':<16} {'dir':<4} {'n':>8} {'seconds':>8} {'vectors/s':>11}")
    for r in rows:
        print(f"{r['path']:<16} {r['direction']:<4} {r['n']:>8} {r['seconds']:>8.2f} {r['vectors_per_s']:>11,.0f}")
    out = ROOT / "experiments" / "results" / "bench_translate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": args, "model": {k: str(v) for k, v in source.items()},
                               "config": tr.config, "params": n_params, "rows": rows,
                               "target_vectors_per_s": 50000}, indent=2) + "\n")
    print(f"-> {out}")
    return 0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
