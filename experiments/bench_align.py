"""Benchmark: time and peak memory of alignment metrics at scale (target: n = 100,000 paired rows,
d = 768 vs 384, <= 60 s and <= 4 GiB each on a 2-core CPU).

Each (metric, n) runs in its own child process under ``/usr/bin/time -v`` so the peak resident
memory is that of the metric alone (plus its input arrays); each row records the load average
before and after it and the child's user/system CPU seconds (the machine is shared). Data: a
synthetic related pair (shared 64-d latent through random maps, plus noise); the cost of d x d
products does not depend on the values, that of the certified kNN only through the share of rows
certified (recorded, from ``knn``'s stats), and 100k mpnet embeddings would take ~1 h to compute here.

    python experiments/bench_align.py                      # n = 100000, mutual_knn + cka_linear
    python experiments/bench_align.py --n 20000 --metrics mutual_knn mutual_knn_faiss_flat \
        --out experiments/results/align_bench_20k.json   # certified kNN vs plain faiss float32

Prints a table and writes experiments/results/align_bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_pair(n: int, d1: int, d2: int, seed: int):
    """Synthetic paired data [n, d1], [n, d2] (float32) sharing a 64-d latent."""
    import numpy as np

    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 64), dtype=np.float32)
    X = Z @ rng.standard_normal((64, d1), dtype=np.float32)
    X += 2.0 * rng.standard_normal((n, d1), dtype=np.float32)
    Y = Z @ rng.standard_normal((64, d2), dtype=np.float32)
    Y += 2.0 * rng.standard_normal((n, d2), dtype=np.float32)
    return X, Y


def child(metric: str, n: int, d1: int, d2: int, seed: int) -> None:
    """Run one metric once and print a JSON line with its wall time (and kNN stats, if any)."""
    import logging

    from vec2vec import align

    knn_stats = []

    class Keep(logging.Handler):
        def emit(self, record):
            if record.msg == "knn %s":
                knn_stats.append(dict(record.args[0]) if isinstance(record.args, tuple) else dict(record.args))

    align.log.addHandler(Keep())
    align.log.setLevel(logging.INFO)
    X, Y = make_pair(n, d1, d2, seed)
    t0 = time.perf_counter()
    if metric == "mutual_knn_faiss_flat":
        score = _mutual_knn_flat(X, Y)
    elif metric == "cka_linear":
        score = align.cka(X, Y)
    elif metric == "cka_linear_unbiased":
        score = align.cka(X, Y, unbiased=True)
    else:
        score = getattr(align, metric)(X, Y)
    seconds = time.perf_counter() - t0
    print("RESULT " + json.dumps({"metric": metric, "score": score, "seconds": seconds,
                                  "knn": knn_stats}), flush=True)


def _mutual_knn_flat(X, Y, k: int = 10) -> float:
    """Baseline: mutual kNN with two plain faiss IndexFlatIP self-searches (k+1 hits, drop self)."""
    import faiss
    import numpy as np

    from vec2vec.align import _unit_rows

    def nn(Z):
        U = _unit_rows(Z)
        index = faiss.IndexFlatIP(U.shape[1])
        index.add(U)
        _, I = index.search(U, k + 1)
        return I[:, 1:]  # continuous random data: self is the top hit
    a, b = nn(X), nn(Y)
    return float((a[:, :, None] == b[:, None, :]).sum() / a.size)


def run_one(metric: str, n: int, d1: int, d2: int, seed: int) -> dict:
    cmd = [sys.executable, __file__, "--child", metric, "--n", str(n), "--d1", str(d1),
           "--d2", str(d2), "--seed", str(seed)]
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    load_before = os.getloadavg()
    proc = subprocess.run(timer + cmd, capture_output=True, text=True)
    load_after = os.getloadavg()
    if proc.returncode != 0:
        raise RuntimeError(f"{metric} n={n} failed:\n{proc.stderr[-2000:]}")
    res = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: ([\d:.]+)", proc.stderr)
    res["peak_rss_gib"] = int(peak.group(1)) / 2**20 if peak else None
    res["process_wall"] = wall.group(1) if wall else None
    for key, label in (("user_cpu_s", "User time"), ("system_cpu_s", "System time")):
        m = re.search(label + r" \(seconds\): ([\d.]+)", proc.stderr)
        res[key] = float(m.group(1)) if m else None
    if res.get("knn"):
        res["certified_share"] = 1 - sum(s["exact_rows"] for s in res["knn"]) / sum(s["n"] for s in res["knn"])
    res.update(n=n, d1=d1, d2=d2, loadavg_before=load_before, loadavg_after=load_after)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d1", type=int, default=768)
    ap.add_argument("--d2", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", nargs="+", default=["mutual_knn", "cka_linear"])
    ap.add_argument("--out", default=str(ROOT / "experiments/results/align_bench.json"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.n, args.d1, args.d2, args.seed)
        return 0
    from vec2vec.io import write_json

    rows = []
    for m in args.metrics:
        rows.append(run_one(m, args.n, args.d1, args.d2, args.seed))
        r = rows[-1]
        print(f"{m:22s} n={r['n']:>7} d={r['d1']}x{r['d2']}  {r['seconds']:7.1f} s  "
              f"peak {r['peak_rss_gib']:.2f} GiB  score {r['score']:.4f}  "
              f"load {r['loadavg_before'][0]:.1f}->{r['loadavg_after'][0]:.1f}", flush=True)
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    record = {"rows": rows, "targets": {"seconds": 60, "peak_rss_gib": 4},
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_at_end": load},
              "args": vars(args)}
    write_json(args.out, record)
    print(f"\n| metric | n | d | seconds | peak RSS (GiB) | CPU s (user+sys) | load 1-min before/after |"
          f"\n|---|---|---|---|---|---|---|")
    for r in rows:
        cpu = (r["user_cpu_s"] or 0) + (r["system_cpu_s"] or 0)
        print(f"| {r['metric']} | {r['n']} | {r['d1']} vs {r['d2']} | {r['seconds']:.1f} | {r['peak_rss_gib']:.2f} "
              f"| {cpu:.0f} | {r['loadavg_before'][0]:.1f} / {r['loadavg_after'][0]:.1f} |")
    print(f"(load average at end: {load}; the machine is shared, so times are upper bounds)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
