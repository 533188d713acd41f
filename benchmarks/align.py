"""Time and peak memory of alignment metrics at scale (``benchmarks/conf/align.yaml``).

    python -m benchmarks align                                  # n = 100000, mutual_knn + cka_linear
    python -m benchmarks align n=20000 metrics=[mutual_knn,mutual_knn_faiss_flat]

Each metric runs in a child process (``python -m benchmarks.align child METRIC N D1 D2 SEED``)
under ``/usr/bin/time -v``. Prints a table and writes JSON.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, output_path, size_tag, write_result

TARGETS = {"seconds": 60, "peak_rss_gib": 4}


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
                args = record.args
                knn_stats.append(dict(args[0] if isinstance(args, tuple) else args))

    knn_log = logging.getLogger("vec2vec.neighbors.certified")
    knn_log.addHandler(Keep())
    knn_log.setLevel(logging.INFO)
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
    print("RESULT " + json.dumps({"metric": metric, "score": float(score), "seconds": seconds,
                                  "knn": knn_stats}, default=str), flush=True)


def _mutual_knn_flat(X, Y, k: int = 10) -> float:
    """Baseline: mutual kNN with two plain faiss IndexFlatIP self-searches (k+1 hits, drop self)."""
    import faiss

    from vec2vec.neighbors.certified import _unit_rows

    def nn(Z):
        U = _unit_rows(Z)
        index = faiss.IndexFlatIP(U.shape[1])
        index.add(U)
        _, idx = index.search(U, k + 1)
        return idx[:, 1:]  # continuous random data: self is the top hit
    a, b = nn(X), nn(Y)
    return float((a[:, :, None] == b[:, None, :]).sum() / a.size)


def _loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def run_one(metric: str, n: int, d1: int, d2: int, seed: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.align", "child", metric, str(n), str(d1), str(d2),
           str(seed)]
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    load_before = _loadavg()
    proc = subprocess.run(timer + cmd, capture_output=True, text=True, cwd=ROOT)
    load_after = _loadavg()
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
    stats = [s for s in res.get("knn") or [] if "exact_rows" in s]
    if stats:
        res["certified_share"] = 1 - sum(s["exact_rows"] for s in stats) / sum(s["n"] for s in stats)
    res.update(n=n, d1=d1, d2=d2, loadavg_before=load_before, loadavg_after=load_after)
    return res


def run(cfg: dict) -> dict:
    out = output_path(cfg, f"align_{size_tag(cfg['n'])}.json")
    rows = []
    for m in cfg["metrics"]:
        r = run_one(m, cfg["n"], cfg["d1"], cfg["d2"], cfg["seed"])
        rows.append(r)
        peak = float("nan") if r["peak_rss_gib"] is None else r["peak_rss_gib"]
        load = ((r["loadavg_before"] or [float("nan")])[0], (r["loadavg_after"] or [float("nan")])[0])
        print(f"{m:22s} n={r['n']:>7} d={r['d1']}x{r['d2']}  {r['seconds']:7.1f} s  "
              f"peak {peak:.2f} GiB  score {r['score']:.4f}  load {load[0]:.1f}->{load[1]:.1f}",
              flush=True)
    payload = {"config": cfg, "rows": rows, "targets": TARGETS}
    write_result(out, payload)
    print("\n| metric | n | d | seconds | peak RSS (GiB) | CPU s (user+sys) | load 1-min before/after |"
          "\n|---|---|---|---|---|---|---|")
    for r in rows:
        cpu = (r["user_cpu_s"] or 0) + (r["system_cpu_s"] or 0)
        peak = "-" if r["peak_rss_gib"] is None else f"{r['peak_rss_gib']:.2f}"
        load = [(x or [float("nan")])[0] for x in (r["loadavg_before"], r["loadavg_after"])]
        print(f"| {r['metric']} | {r['n']} | {r['d1']} vs {r['d2']} | {r['seconds']:.1f} | {peak} "
              f"| {cpu:.0f} | {load[0]:.1f} / {load[1]:.1f} |")
    print("(the machine may be shared: times are upper bounds; the load averages are recorded)")
    print(f"wrote {out}")
    return payload


if __name__ == "__main__":
    if len(sys.argv) != 7 or sys.argv[1] != "child":
        sys.exit("internal: python -m benchmarks.align child METRIC N D1 D2 SEED "
                 "(run the benchmark with python -m benchmarks align)")
    child(sys.argv[2], *(int(v) for v in sys.argv[3:7]))
