"""``vec2vec align``: alignment metrics between embedders on paired texts, with nulls."""
from __future__ import annotations

from omegaconf import OmegaConf

from vec2vec.align import get_metric, run
from vec2vec.runtime import thread_limit


def main(cfg: dict) -> int:
    """``vec2vec align embedders=[minilm,mpnet,...] corpus=gcide-definitions n=4000 out_dir=DIR``:
    embed n paired texts of the corpus' eval split with every embedder (through the cache), score
    every metric for every pair with a permutation p-value, write DIR/align.json,
    DIR/heatmap_<metric>.png, DIR/heatmaps.png (all metrics), DIR/sweep.png and DIR/config.yaml,
    and print each matrix."""
    for m in cfg["metrics"]:
        get_metric(str(m))          # refuse an unknown metric before embedding anything
    with thread_limit(int(cfg.get("threads") or 0)):
        run(OmegaConf.create(cfg))
    return 0
