"""Defences vs leakage: for each defence in a sweep, retrieval utility against leakage.

    python -m benchmarks defences leaked_embedder=mpnet n=3000 [identify=auto] [only=[noise,pca]]

See ``benchmarks/conf/defences.yaml``. Prints a table; writes JSON (after every defence) and one
PNG per defence. Rotation is in the sweep on purpose: it keeps retrieval exact, and the question
is whether it stops an unsupervised translator.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, ROOT, identify_tag, output_path, rel_path, write_result

# noise std per dimension: a unit 768-d vector has ~0.036 per dimension
# (rotation, int8 and binary take no parameter: one point each)
SWEEP = [("none", None), ("noise", 0.01), ("noise", 0.03), ("noise", 0.1), ("noise", 0.3),
         ("rotation", None), ("int8", None), ("binary", None),
         ("pca", 16), ("pca", 32), ("pca", 64), ("pca", 128)]


def headword_queries(embedder: str, n: int, work: Path, seed: int) -> np.ndarray:
    """``embedder``'s vectors of the headwords of wordnet-definitions eval[:n] (row-paired)."""
    from vec2vec.data.cache import embed
    from vec2vec.data.corpora import get_split, wordnet_headwords

    heads = wordnet_headwords()
    texts = get_split("wordnet-definitions", "eval", seed=seed, limit=n).texts
    path = work / "headwords.txt"
    path.write_text("\n".join(heads[t] for t in texts) + "\n", encoding="utf-8")
    return embed(embedder, str(path), split="all", progress=False, dedup=False)


def audit_leakage(leak_dir: Path, out: Path, cfg: dict) -> dict:
    """Run the audit on ``leak_dir``'s (defended) vectors; leakage measures and the chosen method."""
    from vec2vec.audit.pipeline import run as run_audit
    from vec2vec.config import load

    identify = cfg["identify"]
    identify = f"[{','.join(identify)}]" if isinstance(identify, list) else identify or "[]"
    audit_cfg = load("audit", [
        f"input={leak_dir / 'leaked.npy'}", f"truth={leak_dir / 'truth.jsonl'}", f"out_dir={out}",
        f"known={cfg['known']}", "public_corpus=wordnet-definitions", "public_split=a",
        f"public_n={cfg['public_n']}", f"methods=[{','.join(cfg['methods'])}]",
        f"invert_n={cfg['invert_n']}", "ceiling_invert_n=0", f"threads={cfg['threads']}",
        f"seed={cfg['seed']}", "progress=false", f"identify={identify}"])
    rep = run_audit(audit_cfg)
    return {"attribute_accuracy": rep["leakage"]["attribute_accuracy"],
            "token_f1": rep["leakage"].get("token_f1"), "bleu": rep["leakage"].get("bleu"),
            "translation_cosine_to_truth": rep["translation_cosine_to_truth"],
            "oracle_attribute_accuracy": rep["ceilings"]["oracle_translation"]["attribute_accuracy"],
            "chosen": rep["selection"]["chosen"], "seconds": rep["timings_seconds"]["total"],
            "identified": (rep["selection"].get("identification") or {}).get("identified")}


def plot(rows: list[dict], kind: str, folder: Path, known: str) -> Path:
    """One PNG for a defence: utility and leakage across its sweep, the undefended set beside."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = next(r for r in rows if r["defence"] == "none")
    pts = [base] + [r for r in rows if r["defence"] == kind]
    labels = [("none" if r is base else kind) + (f"\n{r['param']:g}" if r["param"] is not None else "")
              + (f"\nidentified:\n{r['identified']}" if r.get("identified") else "") for r in pts]
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(pts), 4.0))
    x = np.arange(len(pts))
    for key, name, mk in (("recall_at_10", "utility: recall@10 (headword -> definition)", "o"),
                          ("attribute_accuracy", "leak: attribute accuracy", "s"),
                          ("token_f1", "leak: inversion token F1", "^")):
        ax.plot(x, [p[key] for p in pts], marker=mk, label=name)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1)
    ax.set_title(f"defence: {kind} (database {base['leaked_embedder']}, attacker {known})")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run(cfg: dict) -> dict:
    from vec2vec.audit.defend import KINDS, Defence, recall_at_k
    from vec2vec.audit.leak import simulate_leak
    from vec2vec.data.io import save_npy

    bad = set(cfg["only"]) - set(KINDS)
    if bad:
        raise ValueError(f"only={cfg['only']}: unknown defences {sorted(bad)}; valid: {KINDS}")
    suffix = identify_tag(cfg["identify"])
    out = output_path(cfg, f"defences{suffix}.json")
    plots = Path(cfg["plots"]) if cfg["plots"] else ROOT / RESULTS / f"defences{suffix}"
    cfg["plots"] = rel_path(plots)
    work = Path(cfg["work"]) / f"{cfg['leaked_embedder']}-{cfg['n']}{suffix}"
    leaked, truth = simulate_leak(cfg["leaked_embedder"], "wordnet-definitions", "eval",
                                  cfg["n"], work / "leak", seed=cfg["seed"])
    x = np.load(leaked)
    queries = headword_queries(cfg["leaked_embedder"], cfg["n"], work, cfg["seed"])
    sweep = [s for s in SWEEP if not cfg["only"] or s[0] in ("none", *cfg["only"])]
    rows: list[dict] = []
    record = {"config": cfg, "rows": rows}
    print(f"{'defence':<10} {'param':>6} {'recall@10':>9} {'attr acc':>8} {'oracle acc':>10} "
          f"{'token F1':>8} {'cos':>6} {'seconds':>7} {'identified':>10}")
    for kind, param in sweep:
        tag = kind if param is None else f"{kind}-{param:g}"
        d = Defence(kind, param, seed=cfg["seed"]).fit(x)
        defended = d.transform(x)
        dleak = work / tag / "leak"
        dleak.mkdir(parents=True, exist_ok=True)
        save_npy(dleak / "leaked.npy", defended)
        (dleak / "truth.jsonl").write_bytes(Path(truth).read_bytes())
        t0 = time.time()
        row = {"defence": kind, "param": param, "leaked_embedder": cfg["leaked_embedder"],
               "recall_at_10": recall_at_k(defended, d.transform_query(queries), 10),
               **audit_leakage(dleak, work / tag / "audit", cfg)}
        rows.append(row)
        print(f"{kind:<10} {'' if param is None else f'{param:g}':>6} {row['recall_at_10']:>9.3f} "
              f"{row['attribute_accuracy']:>8.3f} {row['oracle_attribute_accuracy']:>10.3f} "
              f"{row['token_f1'] or 0:>8.3f} {row['translation_cosine_to_truth']:>6.3f} "
              f"{time.time() - t0:>7.0f} {row['identified'] or '-':>10}", flush=True)
        write_result(out, record)
    record["plots"] = [rel_path(plot(rows, kind, plots, cfg["known"]))
                       for kind in dict(sweep) if kind != "none"]
    write_result(out, record)
    print(f"wrote {out} and {len(record['plots'])} plots in {plots}")
    return record
