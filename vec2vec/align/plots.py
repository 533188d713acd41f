"""Heatmaps of alignment matrices and gallery-size sweep curves (matplotlib, written atomically)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from vec2vec.align.nulls import matrix_of

# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------

def plot_heatmap(result: dict, metric: str, names: Sequence[str], path, title: str | None = None) -> None:
    """Save a heatmap PNG of one metric's matrix (annotated; '*' = p < 0.05)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vec2vec.data.io import atomic_path

    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.2, 1.0 * len(names) + 1.6))
    _draw_heatmap(fig, ax, result, metric, names, title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def plot_panel(result: dict, metrics: Sequence[str], names: Sequence[str], path, title: str = "",
               cols: int = 5) -> None:
    """Save one PNG with a heatmap per metric in a grid (for the README)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vec2vec.data.io import atomic_path

    cols = min(cols, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    size = 0.8 * len(names) + 1.8
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size * 1.15, rows * size), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        _draw_heatmap(fig, ax, result, m, names, m + ("" if result["higher_is_similar"][m] else " (distance)"),
                      fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _draw_heatmap(fig, ax, result, metric, names, title, fontsize=9) -> None:
    import matplotlib.pyplot as plt

    M = matrix_of(result, metric, names)
    higher = result["higher_is_similar"][metric]
    off = ~np.eye(len(names), dtype=bool)
    lo, hi = float(np.nanmin(M[off])), float(np.nanmax(M[off]))
    # colour range from the pairs only: the trivial diagonal (self = 1 or 0) is drawn grey
    cmap = plt.get_cmap("viridis" if higher else "viridis_r").with_extremes(bad="#dddddd")
    im = ax.imshow(np.where(off, M, np.nan), cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1e-9)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=fontsize)
    ax.set_yticks(range(len(names)), names, fontsize=fontsize)
    for i in range(len(names)):
        for j in range(len(names)):
            p = None if i == j else result["metrics"][metric][f"{names[i]}|{names[j]}"]["p_value"]
            frac = (M[i, j] - lo) / (hi - lo + 1e-12)
            light = (frac < 0.55 if higher else frac > 0.45) and i != j
            ax.text(j, i, f"{M[i, j]:.2f}" + ("*" if p is not None and p < 0.05 else ""),
                    ha="center", va="center", fontsize=fontsize, color="white" if light else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title or f"{metric} (n={result['n']}, k={result['k']})", fontsize=fontsize + 1)


def plot_sweep(sweeps: dict[str, dict], path, title: str = "") -> None:
    """Save a PNG: one panel per swept metric, score vs gallery size (log x), one line per pair."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vec2vec.data.io import atomic_path

    first = next(iter(sweeps.values()))
    metric_names = list(first["scores"])
    fig, axes = plt.subplots(1, len(metric_names), figsize=(5.2 * len(metric_names), 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metric_names):
        for pair, sw in sweeps.items():
            ax.plot(sw["sizes"], sw["scores"][metric], marker="o", ms=3, label=pair)
        if metric == "mutual_knn":
            ax.plot(first["sizes"], first["chance_mutual_knn"], "k--", label="chance k/(n-1)")
            ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("gallery size n")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
