"""Defences vs leakage (issue 6): for each defence in a sweep, retrieval utility against leakage.

    python experiments/bench_defences.py leaked_embedder=mpnet n=3000

The database: ``leaked_embedder``'s vectors of the first ``n`` held-out WordNet definitions.
Utility: recall@10 of *paired queries*, each definition's headword ("usurper" -> "one who
wrongfully or illegally seizes ..."), embedded by the same model and mapped with the defence's
query transform (noise: clean queries), searched among the ``n`` defended vectors.
Leakage: the whole ``vec2vec audit`` (unsupervised translation into minilm, chosen without pairs,
zero-shot WordNet categories, inversion of the first ``invert_n`` rows) run on the defended
vectors as if they had leaked: attribute accuracy and inversion token F1 against the truth.
Rotation is in the sweep on purpose: it keeps retrieval exact, and the question is whether it stops
an unsupervised translator (a linear one is rotation-invariant up to its own errors).
``identify=auto`` lets each audit first test whether the defended vectors still look like the
output of an embedder it can run (``vec2vec/identify.py``): which defences hide the model itself.

Prints a table; writes ``out`` (JSON) and one PNG per defence in ``plots``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments._args import identify_tag, parse_kv  # noqa: E402
from vec2vec.audit import run, simulate_leak  # noqa: E402
from vec2vec.config import compose, to_dict  # noqa: E402
from vec2vec.corpora import get_split, wordnet_headwords  # noqa: E402
from vec2vec.defend import Defence, recall_at_k  # noqa: E402
from vec2vec.embed import embed  # noqa: E402
from vec2vec.io import save_npy, write_json  # noqa: E402

# noise std per dimension: a unit 768-d vector has ~0.036 per dimension
# (rotation, int8 and binary take no parameter: one point each)
SWEEP = [("none", None), ("noise", 0.01), ("noise", 0.03), ("noise", 0.1), ("noise", 0.3),
         ("rotation", None), ("int8", None), ("binary", None),
         ("pca", 16), ("pca", 32), ("pca", 64), ("pca", 128)]
DEFAULTS = dict(leaked_embedder="mpnet", n=3000, known="minilm", public_n=10000, invert_n=100,
                methods="mini-vec2vec", seed=0, threads=0, only="", identify="[]",
                work="runs/bench-defences",
                out="", plots="")   # default: experiments/results/bench_defences[_identify].json, .../defences[_identify]/


def headword_queries(embedder: str, n: int, work: Path, seed: int) -> np.ndarray:
    """``embedder``'s vectors of the headwords of wordnet-definitions eval[:n] (row-paired)."""
    heads = wordnet_headwords()
    texts = get_split("wordnet-definitions", "eval", seed=seed, limit=n).texts
    path = work / "headwords.txt"
    path.write_text("\n".join(heads[t] for t in texts) + "\n", encoding="utf-8")
    return embed(embedder, str(path), split="all", progress=False, dedup=False)


def audit_leakage(leak_dir: Path, out: Path, args: dict) -> dict:
    """Run the audit on ``leak_dir``'s (defended) vectors; leakage measures and the chosen method."""
    cfg = to_dict(compose("audit", [
        f"leaked={leak_dir / 'leaked.npy'}", f"truth={leak_dir / 'truth.jsonl'}", f"out={out}",
        f"known={args['known']}", "public_corpus=wordnet-definitions", "public_split=a",
        f"public_n={args['public_n']}", f"methods=[{args['methods']}]",
        f"invert_n={args['invert_n']}", "ceiling_invert_n=0", f"threads={args['threads']}",
        f"seed={args['seed']}", "progress=false", f"identify={args['identify']}"]))
    rep = run(cfg)
    return {"attribute_accuracy": rep["leakage"]["attribute_accuracy"],
            "token_f1": rep["leakage"].get("token_f1"), "bleu": rep["leakage"].get("bleu"),
            "translation_cosine_to_truth": rep["translation_cosine_to_truth"],
            "oracle_attribute_accuracy": rep["ceilings"]["oracle_translation"]["attribute_accuracy"],
            "chosen": rep["selection"]["chosen"], "seconds": rep["timings_seconds"]["total"],
            "identified": (rep["selection"].get("identification") or {}).get("identified")}


def plot(rows: list[dict], kind: str, folder: Path) -> Path:
    """One PNG for a defence: utility and leakage across its sweep, the undefended set beside."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = next(r for r in rows if r["defence"] == "none")
    mine = [r for r in rows if r["defence"] == kind]
    pts = [base] + mine
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
    ax.set_title(f"defence: {kind} (database {base['leaked_embedder']}, attacker minilm)")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str]) -> int:
    args = parse_kv(argv, DEFAULTS)
    suffix = identify_tag(args)
    work = Path(args["work"]) / f"{args['leaked_embedder']}-{args['n']}{suffix}"
    args["out"] = args["out"] or f"experiments/results/bench_defences{suffix}.json"
    args["plots"] = args["plots"] or f"experiments/results/defences{suffix}"
    leak_dir, truth = simulate_leak(args["leaked_embedder"], "wordnet-definitions", "eval",
                                    args["n"], work / "leak", seed=args["seed"])
    x = np.load(leak_dir)
    queries = headword_queries(args["leaked_embedder"], args["n"], work, args["seed"])
    sweep = [s for s in SWEEP if not args["only"] or s[0] in ("none", *args["only"].split(","))]
    rows = []
    print(f"{'defence':<10} {'param':>6} {'recall@10':>9} {'attr acc':>8} {'oracle acc':>10} "
          f"{'token F1':>8} {'cos':>6} {'seconds':>7} {'identified':>10}")
    for kind, param in sweep:
        tag = kind if param is None else f"{kind}-{param:g}"
        d = Defence(kind, param, seed=args["seed"]).fit(x)
        defended = d.transform(x)
        dleak = work / tag / "leak"
        dleak.mkdir(parents=True, exist_ok=True)
        save_npy(dleak / "leaked.npy", defended)
        (dleak / "truth.jsonl").write_bytes(truth.read_bytes())
        t0 = time.time()
        row = {"defence": kind, "param": param, "leaked_embedder": args["leaked_embedder"],
               "recall_at_10": recall_at_k(defended, d.transform_query(queries), 10),
               **audit_leakage(dleak, work / tag / "audit", args)}
        rows.append(row)
        print(f"{kind:<10} {'' if param is None else f'{param:g}':>6} {row['recall_at_10']:>9.3f} "
              f"{row['attribute_accuracy']:>8.3f} {row['oracle_attribute_accuracy']:>10.3f} "
              f"{row['token_f1'] or 0:>8.3f} {row['translation_cosine_to_truth']:>6.3f} "
              f"{time.time() - t0:>7.0f} {row['identified'] or '-':>10}", flush=True)
        write_json(Path(args["out"]), {"args": args, "rows": rows})
    plots = [str(plot(rows, kind, Path(args["plots"]))) for kind in dict(sweep) if kind != "none"]
    write_json(Path(args["out"]), {"args": args, "rows": rows, "plots": plots})
    print(f"wrote {args['out']} and {len(plots)} plots in {args['plots']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
