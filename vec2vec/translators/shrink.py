"""Pair-free shrinkage of translated vectors, per principal direction of the target space.

A map that matches the target *distribution* (an orthogonal map, a GAN) gives every direction of
the target space its full variance, including the part the source text does not predict. The
cosine to the true target vector is highest for E[y | x] instead, which shrinks each direction
by how well it is predicted: that is what a supervised least-squares map learns from pairs.

Without pairs the per-direction gains are estimated from nearest neighbours. In the target's
principal basis V (of its centred fit vectors), for direction j:

- ``g_pred[j]``: least-squares gain from the translated fit vectors to the mean of their ``k``
  nearest real target vectors (pseudo-targets: other texts on the same topic);
- ``g_real[j]``: the same gain from each real target vector to the mean of its ``k`` nearest
  *other* real target vectors: how much a neighbouring text shares of direction j;
- gain[j] = g_pred[j] / g_real[j], clipped to [0, 1]: the pseudo-targets' gain divided by the
  part that comes from the neighbours being different texts.

Measured on minilm -> mpnet (5k unpaired fit vectors a side, Procrustes map fitted on paired rows
to isolate the effect): the pair-free gains correlate 0.97 with the gains fitted on the true
pairs; centred cosine 0.596 -> 0.657, raw cosine 0.673 -> 0.731 (the supervised least-squares
map: 0.639 / 0.718), top-1 @2048 0.994 -> 0.990. On a GAN that already regresses to kNN-mean
targets the gain is smaller (docs/results.md, methods_minilm_mpnet_gan_30k_shrink.json).

Shapes: translated and real vectors are raw target-space vectors [n, d] (any norm); parameters
are ``mean`` [d] (mean of the L2-normalised real vectors), ``axes`` [d, d] (columns = principal
directions) and ``gain`` [d].
"""
from __future__ import annotations

import numpy as np

from vec2vec.data.validation import check_vectors, l2_normalize
from vec2vec.neighbors import knn, knn_self, neighbour_mean, subsample

DEFAULT_K = 3          # neighbours averaged into a pseudo-target (1-10 measured alike)
MAX_ROWS = 20000       # rows per side used to fit the gains (seeded subsample above this)


def _gains(src: np.ndarray, tgt: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Per-direction least-squares gain of tgt on src in the basis ``axes``: [d]."""
    ps, pt = src @ axes, tgt @ axes
    return (ps * pt).sum(0) / np.maximum((ps * ps).sum(0), 1e-12)


def fit_shrinkage(pred: np.ndarray, real: np.ndarray, k: int = DEFAULT_K,
                  max_rows: int = MAX_ROWS, seed: int = 0) -> dict[str, np.ndarray]:
    """Fit per-direction gains from translated vectors ``pred`` [n, d] and real, *unpaired*
    target vectors ``real`` [m, d] (m > k). Returns {"mean", "axes", "gain"} (float32)."""
    pred = check_vectors(pred, "translated vectors", min_rows=2)
    real = check_vectors(real, "target vectors", dim=pred.shape[1], min_rows=k + 2)
    if k < 1:
        raise ValueError(f"shrink: k must be >= 1 neighbours, got {k}")
    pred, real = subsample(pred, max_rows, seed), subsample(real, max_rows, seed + 1)
    real = l2_normalize(real)
    mean = real.mean(axis=0)
    r = real - mean
    c = l2_normalize(pred) - mean
    _, axes = np.linalg.eigh(r.T.astype(np.float64) @ r)
    axes = np.ascontiguousarray(axes[:, ::-1], dtype=np.float32)   # largest variance first
    rn = l2_normalize(r)
    _, to_real = knn(l2_normalize(c), rn, k)
    _, others = knn_self(rn, k)     # each real vector's k nearest *other* real vectors
    g_pred = _gains(c, neighbour_mean(r, to_real), axes)
    g_real = _gains(r, neighbour_mean(r, others), axes)
    gain = np.clip(g_pred / np.maximum(g_real, 1e-6), 0.0, 1.0)
    return {"mean": mean.astype(np.float32), "axes": axes, "gain": gain.astype(np.float32)}


def apply_shrinkage(y: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """Shrink translated raw vectors y [n, d]: l2n(mean + V diag(gain) Vᵀ (l2n(y) - mean))."""
    mean, axes, gain = params["mean"], params["axes"], params["gain"]
    c = l2_normalize(y) - mean
    return l2_normalize(mean + ((c @ axes) * gain) @ axes.T)


def check_params(params: dict[str, np.ndarray], dim: int, where: str) -> dict[str, np.ndarray]:
    """Validate loaded shrinkage tensors for a d = ``dim`` target space; ValueError names ``where``."""
    need = {"mean": (dim,), "axes": (dim, dim), "gain": (dim,)}
    for name, shape in need.items():
        if name not in params:
            raise ValueError(f"{where}: shrinkage lacks its {name!r} tensor")
        if tuple(params[name].shape) != shape:
            raise ValueError(f"{where}: shrinkage {name!r} has shape {tuple(params[name].shape)}, "
                             f"expected {shape}")
    return {name: np.asarray(params[name], np.float32) for name in need}
