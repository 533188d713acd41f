"""Representation alignment ("Platonic representation") between embedders, with permutation nulls.

- :mod:`.metrics`: every metric on paired arrays X [n, d1], Y [n, d2] (mutual kNN, cycle kNN,
  Jaccard kNN, CKNNA, CKA, SVCCA, RSA, Procrustes), exact at scale;
- :mod:`.nulls`: permutation p-values, gallery-size sweeps, all-pairs matrices;
- :mod:`.plots`: heatmaps and sweep curves;
- :mod:`.pipeline`: the ``vec2vec align`` run (embed, score, write).

Exact cosine kNN comes from the one neighbour module (:func:`vec2vec.neighbors.certified_knn`).
"""
from vec2vec.align.metrics import (
                                   Metric,
                                   Space,
                                   cka,
                                   cknna,
                                   cross_product,
                                   cycle_knn,
                                   get_metric,
                                   jaccard_knn,
                                   mutual_knn,
                                   procrustes_distance,
                                   rsa,
                                   svcca,
)
from vec2vec.align.nulls import (
                                   alignment_matrix,
                                   default_sizes,
                                   format_matrix,
                                   gallery_sweep,
                                   matrix_of,
                                   permutation_test,
)
from vec2vec.align.pipeline import run
from vec2vec.align.plots import plot_heatmap, plot_panel, plot_sweep
from vec2vec.neighbors.certified import certified_knn

__all__ = ["Metric", "Space", "alignment_matrix", "certified_knn", "cka", "cknna",
           "cross_product", "cycle_knn", "default_sizes", "format_matrix", "gallery_sweep",
           "get_metric", "jaccard_knn", "matrix_of", "mutual_knn", "permutation_test",
           "plot_heatmap", "plot_panel", "plot_sweep", "procrustes_distance", "rsa", "run",
           "svcca"]
