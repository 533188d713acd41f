"""The ``vec2vec align`` run: embed paired texts with several embedders, score every metric for
every pair with its permutation null, write JSON, heatmaps and gallery-size sweeps."""
from __future__ import annotations

import logging
from pathlib import Path

from vec2vec.align.nulls import alignment_matrix, format_matrix, gallery_sweep
from vec2vec.align.plots import plot_heatmap, plot_panel, plot_sweep
from vec2vec.data.cache import embed
from vec2vec.data.io import write_json

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# all pairs of several embedders
# --------------------------------------------------------------------------------------------

def run(cfg, log=print) -> dict:
    """Embed ``cfg.n`` paired texts with every embedder (through the cache) and write the outputs."""
    from omegaconf import OmegaConf

    names = [str(e) for e in cfg.embedder_names]
    if len(set(names)) != len(names):
        raise ValueError(f"embedders: duplicate names in {names}")
    corpus = cfg.corpus if isinstance(cfg.corpus, str) else cfg.corpus.get("name")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    spaces = {}
    for name in names:
        log(f"embedding {cfg.n} texts of {corpus}/{cfg.split} with {name} (cached)")
        spaces[name] = embed(name, corpus, split=cfg.split, limit=int(cfg.n), seed=int(cfg.seed))
    n = min(len(v) for v in spaces.values())
    if any(len(v) != n for v in spaces.values()):
        raise ValueError(f"embedders returned different row counts {[len(v) for v in spaces.values()]}")
    max_n = None if cfg.max_n_dense is None else int(cfg.max_n_dense)
    result = alignment_matrix(spaces, list(cfg.metrics), k=int(cfg.k), n_perm=int(cfg.n_perm),
                              seed=int(cfg.seed), max_n=max_n, dim=int(cfg.svcca_dim),
                              sigma=float(cfg.rbf_sigma), log=log)
    result["embedders"] = names
    result["corpus"] = corpus
    result["split"] = cfg.split
    result["config"] = OmegaConf.to_container(cfg, resolve=True)
    sweeps = {}
    sizes = None if cfg.sweep_sizes is None else [int(s) for s in cfg.sweep_sizes if int(s) <= n]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sweeps[f"{a}|{b}"] = gallery_sweep(spaces[a], spaces[b], sizes=sizes,
                                               metrics=list(cfg.sweep_metrics), k=int(cfg.k),
                                               seed=int(cfg.seed), max_n=max_n)
    result["sweep"] = sweeps
    write_json(out / "align.json", result)
    for m in cfg.metrics:
        plot_heatmap(result, m, names, out / f"heatmap_{m}.png",
                     title=f"{m} on {corpus} (n={n}, k={cfg.k}; * p<0.05, {cfg.n_perm} perms)")
        log("\n" + format_matrix(result, m, names))
    plot_panel(result, list(cfg.metrics), names, out / "heatmaps.png",
               title=f"alignment on {corpus} (n={n} paired texts, k={cfg.k}; * p<0.05 vs "
                     f"{cfg.n_perm} shuffled pairings; grey: self)")
    plot_sweep(sweeps, out / "sweep.png", title=f"gallery-size sweep on {corpus}")
    log(f"\nwrote {out / 'align.json'}, {len(cfg.metrics)} heatmaps and sweep.png")
    return result
