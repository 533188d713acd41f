"""Audit benchmark: how much does a leak of unknown-embedder vectors reveal?

    python -m benchmarks audit leaked_embedder=mpnet n=5000
    python -m benchmarks audit leaked_embedder=e5-small n=5000 identify=auto

Runs the whole ``vec2vec audit`` on a simulated WordNet leak and compares its leakage with the
ceilings (``benchmarks/conf/audit.yaml``). Prints the audit summary and the targets, writes JSON.
"""
from __future__ import annotations

import time
from pathlib import Path

from benchmarks.common import identify_tag, output_path, write_result

TARGETS = {"attribute_accuracy_vs_oracle": 0.80, "token_f1_vs_direct": 0.70, "wall_seconds": 1800}


def run(cfg: dict) -> dict:
    from vec2vec.audit.leak import simulate_leak
    from vec2vec.audit.pipeline import run as run_audit
    from vec2vec.audit.pipeline import summary_text
    from vec2vec.config import load

    tag = identify_tag(cfg["identify"])
    out = output_path(cfg, f"audit_{cfg['leaked_embedder']}{tag}.json")
    work = Path(cfg["work"]) / f"{cfg['leaked_embedder']}-{cfg['n']}{tag}"
    leaked, truth = simulate_leak(cfg["leaked_embedder"], "wordnet-definitions", "eval",
                                  cfg["n"], work / "leak", seed=cfg["seed"])
    identify = cfg["identify"]
    identify = f"[{','.join(identify)}]" if isinstance(identify, list) else identify or "[]"
    null = lambda v: "null" if v is None else v  # noqa: E731
    audit_cfg = load("audit", [
        f"input={leaked}", f"truth={truth}", f"out_dir={work / 'audit'}", f"known={cfg['known']}",
        "public_corpus=wordnet-definitions", "public_split=a", f"public_n={cfg['public_n']}",
        f"methods=[{','.join(cfg['methods'])}]", f"invert_n={null(cfg['invert_n'])}",
        f"ceiling_invert_n={cfg['ceiling_invert_n']}", f"invert_steps={cfg['invert_steps']}",
        f"invert_beam={cfg['invert_beam']}", f"invert_polish={cfg['invert_polish']}",
        f"threads={cfg['threads']}", f"seed={cfg['seed']}", f"identify={identify}",
        f"inverter={null(cfg['inverter'])}"])
    t0 = time.time()
    rep = run_audit(audit_cfg)
    wall = time.time() - t0
    print(summary_text(rep))
    r_or, r_di = rep["ratios"]["oracle_translation"], rep["ratios"]["direct_inversion"]
    rows = [("attribute accuracy vs oracle translation", r_or.get("attribute_accuracy"),
             TARGETS["attribute_accuracy_vs_oracle"]),
            ("inversion token F1 vs direct inversion", r_di.get("token_f1"),
             TARGETS["token_f1_vs_direct"])]
    print(f"\n{'target':<44} {'measured':>9} {'needed':>7}")
    for name, v, need in rows:
        print(f"{name:<44} {v if v is not None else float('nan'):>9.1%} {need:>7.0%}"
              f"  {'ok' if v is not None and v >= need else 'MISS'}")
    limit = TARGETS["wall_seconds"]
    print(f"{'wall time of the audit (s)':<44} {wall:>9.0f} {limit:>7}  "
          f"{'ok' if wall <= limit else 'MISS'}   (timings: {rep['timings_seconds']})")
    payload = {"config": cfg, "audit_config": audit_cfg, "wall_seconds": wall,
               "selection": rep["selection"], "leakage": rep["leakage"],
               "leakage_on_ceiling_rows": rep["leakage_on_ceiling_rows"],
               "ceilings": rep["ceilings"], "ratios": rep["ratios"],
               "translation_cosine_to_truth": rep["translation_cosine_to_truth"],
               "timings_seconds": rep["timings_seconds"], "inversion": rep["inversion"],
               "targets": TARGETS}
    write_result(out, payload)
    print(f"wrote {out}")
    return payload
