"""What one ``inversion.infer.invert`` run gives an inversion benchmark: rows before and after the
word-level polish (shared by bench_invert.py and bench_invert_translated.py)."""
from __future__ import annotations

import numpy as np


def polish_variants(name: str, res: list[dict]) -> list[tuple[str, list[str], dict]]:
    """(row name, texts, extra fields) per variant of one run's results ``res``: the texts before
    the polish under ``name`` (queries without the polish's) and, if the polish ran (every
    result has ``polish_queries``; 0 rounds gives 0), the final texts under ``name+polish``."""
    queries = np.array([r["queries"] for r in res], dtype=float)
    polish_q = np.array([r.get("polish_queries", 0) for r in res], dtype=float)
    base = {"mean_queries": float(np.mean(queries - polish_q)),
            "mean_steps": float(np.mean([r["steps"] for r in res])),
            "hyp_cosine": float(np.mean([r["hypothesis_cosine"] for r in res])),
            # the loop must never end worse than anything it saw
            "never_worse": bool(all(r["cosine"] >= max(r["history"]) - 1e-6 for r in res))}
    out = [(name, [r.get("unpolished", r["text"]) for r in res], base)]
    if polish_q.any():
        out.append((f"{name}+polish", [r["text"] for r in res],
                    {**base, "mean_queries": float(queries.mean()),
                     "polish_queries": float(polish_q.mean()),
                     "mean_polish_edits": float(np.mean([r["polish_edits"] for r in res]))}))
    return out
