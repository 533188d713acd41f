"""Does alignment predict translatability? Each embedder pair's alignment scores (from
``vec2vec align``, ``align.json``) next to its *unsupervised* translation top-1 (from the
translation benchmark, ``benchmarks/results/pairs.json``), with a Spearman correlation per metric
and a scatter plot.

    python research/align_vs_translation.py align=benchmarks/results/align_gcide/align.json \
        pairs=benchmarks/results/pairs.json

Writes benchmarks/results/align_vs_translation.json and .png (``output``; keys in
``research/conf/align_vs_translation.yaml``). If the translation benchmark has
not produced pairs.json yet, says so and exits with status 3 (no numbers are invented).

pairs.json is read flexibly: a list of records (or a dict holding one under "pairs"/"rows"/
"results"), each naming the two embedders (``a``/``b``, ``source``/``target`` or ``pair: "a|b"``)
and a top-1 accuracy (the first key containing "top1"/"top_1"/"top-1", preferring pool 1024;
nested dicts are searched). Directional results (a->b, b->a) are both kept.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import output_path, write_result  # noqa: E402
from research._cli import main as cli_main  # noqa: E402


def _records(obj):
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        for key in ("pairs", "rows", "results", "runs"):
            if isinstance(obj.get(key), list):
                return obj[key]
        # {"a|b": {...}} mapping
        if all(isinstance(v, dict) for v in obj.values()):
            return [{"pair": k, **v} for k, v in obj.items()]
    raise ValueError("pairs.json: expected a list of records or a dict with a 'pairs' list")


def _names(rec: dict) -> tuple[str, str] | None:
    for a, b in (("a", "b"), ("source", "target"), ("src", "tgt"), ("embedder_a", "embedder_b")):
        if isinstance(rec.get(a), str) and isinstance(rec.get(b), str):
            return rec[a], rec[b]
    pair = rec.get("pair")
    if isinstance(pair, str):
        for sep in ("|", "->", "→", ":"):
            if sep in pair:
                x, y = pair.split(sep, 1)
                return x.strip(), y.strip()
    return None


def _top1(rec, prefer: str = "1024") -> float | None:
    found = []

    def walk(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                walk(v, path + [str(k)])
        elif isinstance(o, (int, float)) and not isinstance(o, bool):
            key = "/".join(path).lower()
            if any(t in key for t in ("top1", "top_1", "top-1")):
                found.append((prefer not in key, len(path), o))
    walk(rec, [])
    return float(sorted(found)[0][2]) if found else None


def load_pairs(path: Path) -> list[dict]:
    rows = []
    for rec in _records(json.loads(path.read_text())):
        if not isinstance(rec, dict):
            continue
        names, top1 = _names(rec), _top1(rec)
        if names and top1 is not None:
            rows.append({"a": names[0], "b": names[1], "top1": top1,
                         "method": rec.get("method", rec.get("translator"))})
    return rows


def _where(path: str) -> Path:
    """A relative path from the working directory if it is there, else from the repository root."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else ROOT / p


def run(cfg: dict) -> int:
    out = output_path(cfg, "align_vs_translation.json")
    pairs_path, align_path = _where(cfg["pairs"]), _where(cfg["align"])
    if not pairs_path.is_file():
        print(f"{pairs_path} does not exist yet: the translation benchmark (unsupervised top-1 per "
              "embedder pair) has not been run. Run it first, then this script; nothing is "
              "reported until then.")
        return 3
    if not align_path.is_file():
        print(f"{align_path} does not exist: run `vec2vec align ... out_dir={align_path.parent}` first.")
        return 3
    from scipy.stats import spearmanr

    align = json.loads(align_path.read_text())
    trans = load_pairs(pairs_path)
    if not trans:
        print(f"{pairs_path}: found no records with two embedder names and a top-1 value")
        return 3
    metrics = list(align["metrics"])
    table = []
    for t in trans:
        key = f"{t['a']}|{t['b']}"
        row = {**t}
        for m in metrics:
            cell = align["metrics"][m].get(key)
            row[m] = None if cell is None else cell["score"]
        if any(row[m] is not None for m in metrics):
            table.append(row)
    if not table:
        print(f"no embedder pair is in both {pairs_path} and {align_path}")
        return 3
    corr = {}
    for m in metrics:
        xs = [(r[m], r["top1"]) for r in table if r[m] is not None]
        if len(xs) >= 3:
            rho, p = spearmanr([x for x, _ in xs], [y for _, y in xs])
            corr[m] = {"spearman": float(rho), "p_value": float(p), "n_pairs": len(xs)}
    print("| pair | method | top-1 | " + " | ".join(metrics) + " |")
    print("|---" * (3 + len(metrics)) + "|")
    for r in table:
        cells = " | ".join("-" if r[m] is None else f"{r[m]:.3f}" for m in metrics)
        print(f"| {r['a']}->{r['b']} | {r['method']} | {r['top1']:.3f} | {cells} |")
    print("\nSpearman(metric, top-1) over pairs:")
    for m, c in corr.items():
        print(f"  {m:22s} rho={c['spearman']:+.3f} (p={c['p_value']:.3f}, {c['n_pairs']} pairs)")
    write_result(out.with_suffix(".json"), {"config": cfg, "rows": table, "spearman": corr,
                                            "align": cfg["align"], "pairs": cfg["pairs"]})
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = min(4, len(metrics))
    rows_n = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.6 * cols, 3.2 * rows_n), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        pts = [(r[m], r["top1"], f"{r['a']}->{r['b']}") for r in table if r[m] is not None]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=18)
        for x, y, lab in pts:
            ax.annotate(lab, (x, y), fontsize=5)
        rho = corr.get(m, {}).get("spearman")
        ax.set_title(f"{m}" + (f" (rho={rho:+.2f})" if rho is not None else ""), fontsize=8)
        ax.set_xlabel("alignment score", fontsize=7)
        ax.set_ylabel("translation top-1", fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main("align_vs_translation", run))
