"""Verdict vs truth: the pair-free verdict of every fit of the pair matrix beside its paired top-1.

    python -m benchmarks verdict corpus=gcide-definitions n=5000
    python -m benchmarks verdict corpus=wordnet-definitions n=5000   # a corpus not calibrated on

See ``benchmarks/conf/verdict.yaml``. Writes JSON after each fit (a killed run resumes: finished
fits are kept) and prints a table and the target counts.
"""
from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

from benchmarks.common import output_path, size_tag, write_result

FAILED, SUCCEEDED = 0.5, 0.8      # share of the oracle's top-1: a failed / a successful direction


def summarize(fits: list[dict]) -> dict:
    """Per-direction counts against the targets, and the verdict's cost. Each fit's label is
    decided again from its recorded start agreement by the current rule
    (``vec2vec.verdict.decide``), so results of earlier thresholds are scored by the frozen one."""
    from vec2vec.verdict import decide

    for f in fits:
        f["label"] = decide(f["evidence"]["start_agreement"])
    rows = [(f["label"], f["top1"][d] / max(f["oracle_top1"][d], 1e-9))
            for f in fits for d in ("ab", "ba")]
    failed = [lab for lab, r in rows if r < FAILED]
    good = [lab for lab, r in rows if r >= SUCCEEDED]
    cost = [f["verdict_seconds"] / max(f["fit_seconds"], 1e-9) for f in fits]
    return {"directions": len(rows),
            "failed": len(failed), "aligned_on_failed": failed.count("aligned"),
            "successful": len(good), "aligned_on_successful": good.count("aligned"),
            "uncertain_on_successful": good.count("uncertain"),
            "not_aligned_on_failed": failed.count("not_aligned"),
            "verdict_cost_max": max(cost, default=0.0)}


def run(cfg: dict) -> dict:
    from vec2vec.data.cache import embed
    from vec2vec.evaluate import oracle_predictions, retrieval_metrics
    from vec2vec.runtime import thread_limit
    from vec2vec.selection import unsupervised_score
    from vec2vec.translators import get_translator
    from vec2vec.verdict import verdict

    out = output_path(cfg, f"verdict_{cfg['corpus']}_{size_tag(cfg['n'])}.json")
    old = {}
    if out.is_file():   # resume: keep the fits of the same configuration
        import json

        prev = json.loads(out.read_text())
        if {k: v for k, v in prev.get("config", {}).items() if k != "output"} == \
                {k: v for k, v in cfg.items() if k != "output"}:
            old = {(f["a"], f["b"], f["method"]): f for f in prev["fits"]}
    record = {"config": cfg, "fits": []}
    work = Path(tempfile.mkdtemp(prefix="verdict-"))
    ev = lambda e: embed(e, cfg["corpus"], "eval", limit=cfg["n_eval"], progress=False)  # noqa: E731
    with thread_limit(int(cfg["threads"])):
        for a, b in itertools.combinations(cfg["embedders"], 2):
            if all((a, b, m) in old for m in cfg["methods"]):   # finished in an earlier run
                record["fits"] += [old[a, b, m] for m in cfg["methods"]]
                continue
            xa = embed(a, cfg["corpus"], "a", limit=cfg["n"], progress=False)
            xb = embed(b, cfg["corpus"], "b", limit=cfg["n"], progress=False)
            ea, eb = ev(a), ev(b)
            oracle = {d: retrieval_metrics(oracle_predictions("procrustes-oracle", ea, eb, d, 2, 0),
                                           eb if d == "ab" else ea, hungarian=False)["top1"]
                      for d in ("ab", "ba")}
            for method in cfg["methods"]:
                t0 = time.time()
                if method == "vec2vec" and "mini-vec2vec" in cfg["methods"]:
                    tr = get_translator("vec2vec", seed=cfg["seed"],
                                        warm_start=str(work / f"{a}_{b}")).fit(xa, xb)
                else:
                    tr = get_translator(method, seed=cfg["seed"]).fit(xa, xb)
                    if method == "mini-vec2vec":
                        tr.save(work / f"{a}_{b}")
                fit_s = time.time() - t0
                t0 = time.time()
                v = verdict(tr, xa, xb, unsupervised_score(tr, xa, xb))
                v_s = time.time() - t0
                top1 = {d: retrieval_metrics(tr.translate(ea if d == "ab" else eb, d),
                                             eb if d == "ab" else ea, hungarian=False)["top1"]
                        for d in ("ab", "ba")}
                record["fits"].append({
                    "a": a, "b": b, "method": method, "fit_seconds": fit_s,
                    "verdict_seconds": v_s, "top1": top1, "oracle_top1": oracle,
                    "label": v["label"], "evidence": v["evidence"],
                    "fit_evidence": tr.fit_evidence})
                ev_ = v["evidence"]
                agree = ev_["start_agreement"]
                print(f"{a:>9} {b:<9} {method:<12} {v['label']:<11} agree "
                      f"{'-' if agree is None else f'{agree:.2f}'} nn ratio {ev_['nn_ratio']:.3f}"
                      f"  top-1/oracle "
                      f"{top1['ab'] / max(oracle['ab'], 1e-9):.2f} / "
                      f"{top1['ba'] / max(oracle['ba'], 1e-9):.2f}  fit {fit_s:.0f} s, "
                      f"verdict {v_s:.1f} s", flush=True)
                record["summary"] = summarize(record["fits"])
                write_result(out, record)
    record["summary"] = summarize(record["fits"])
    print(record["summary"])
    write_result(out, record)
    return record
