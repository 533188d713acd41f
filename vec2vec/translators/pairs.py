"""Known pairs: a few texts embedded by both models, as a start for the fit and as a measurement.

A realistic attacker often knows some documents of a leaked database. N such pairs
(``pa`` [N, d_a], ``pb`` [N, d_b], row i of both = the same text) are split into a part that
seeds the translation and a held-out part that measures it:

- :func:`pairs_start`: orthogonal Procrustes on the fitting pairs, in the centred spaces of the
  unpaired training sets -- a start map for mini-vec2vec's kNN-mean refinement on every unpaired
  vector (few pairs pin down a rough map; the refinement does the rest);
- :func:`pairs_metrics`: top-1 among the held-out pairs and their mean cosine, the paired truth
  that the pair-free verdict is reported beside.
"""
from __future__ import annotations

import numpy as np

from vec2vec.data.validation import check_paired, check_vectors, l2_normalize
from vec2vec.translators.base import Translator
from vec2vec.translators.linear import LinearTranslator, center_normalize, procrustes

# methods that take known pairs (a start map is what they can use)
PAIR_METHODS = ("mini-vec2vec", "vec2vec")


def split_pairs(pa: np.ndarray, pb: np.ndarray, holdout: float, seed: int = 0):
    """((fit_a, fit_b), (held_a, held_b)): a seeded share ``holdout`` of the pairs (at least
    one when there are two or more, none of one pair) is held out to measure the translation."""
    pa, pb = check_vectors(pa, "known pairs (a)"), check_vectors(pb, "known pairs (b)")
    check_paired(pa, pb, ("known pairs (a)", "known pairs (b)"))
    if not 0 <= holdout < 1:
        raise ValueError(f"known_pairs_holdout={holdout}: use a share in [0, 1), e.g. 0.2")
    n = len(pa)
    k = min(n - 1, max(1, int(round(holdout * n)))) if holdout > 0 and n > 1 else 0
    perm = np.random.default_rng(seed).permutation(n)
    fit, held = np.sort(perm[k:]), np.sort(perm[:k])
    return (pa[fit], pb[fit]), (pa[held], pb[held])


def pairs_start(xa: np.ndarray, xb: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Procrustes map W [d_a, d_b] from the known pairs (pa [N, d_a], pb [N, d_b]), between the
    centred spaces of the unpaired training sets xa, xb (mini-vec2vec's ``start_maps`` form)."""
    mean_a, mean_b = center_normalize(xa)[1], center_normalize(xb)[1]
    return procrustes(center_normalize(pa, mean_a)[0], center_normalize(pb, mean_b)[0])


def pairs_metrics(translator: Translator, ha: np.ndarray, hb: np.ndarray) -> dict:
    """Held-out pairs (ha [m, d_a], hb [m, d_b]) translated both ways: top-1 among the m held-out
    targets, its chance (1/m) and the mean cosine to the true vector, per direction."""
    out = {"n": int(len(ha))}
    if len(ha) == 0:
        return out
    for d, src, tgt in (("ab", ha, hb), ("ba", hb, ha)):
        pred, true = l2_normalize(translator.translate(src, d)), l2_normalize(tgt)
        sims = pred @ true.T
        out[d] = {"top1": float(np.mean(sims.argmax(1) == np.arange(len(sims)))),
                  "cos": float(np.mean(np.sum(pred * true, 1)))}
    out["top1_chance"] = 1.0 / len(ha)
    return out


class PairsMap(LinearTranslator):
    """The known pairs' own map (their Procrustes start, unrefined): the baseline a refinement
    on unpaired vectors must beat. Not a registered method (it needs pairs)."""

    def __init__(self, w_ab: np.ndarray):
        super().__init__()
        self._w = np.asarray(w_ab, np.float32)

    def _fit(self, xa, xb):
        self._set_stats(xa, xb)
        self._set_maps(self._w)


def known_pairs_plan(method: str, params: dict, xa: np.ndarray, xb: np.ndarray,
                     pa: np.ndarray, pb: np.ndarray) -> tuple[dict, dict, PairsMap]:
    """How a method uses the fitting pairs: (method knobs, extra ``fit`` inputs, the pairs-only
    baseline). mini-vec2vec refines the pairs' start alone (its anchor and identity starts are
    for when nothing is known); the GAN warm-starts from such a mini-vec2vec fit (the caller
    fits it: ``params["warm_start"]`` names mini-vec2vec with ``warm_start_config`` set)."""
    if method not in PAIR_METHODS:
        raise ValueError(f"known pairs work with method={' or '.join(PAIR_METHODS)}, not "
                         f"{method!r}")
    w = pairs_start(xa, xb, pa, pb)
    base = PairsMap(w).fit(xa, xb)
    lone = {"n_starts": 0, "identity_start": False}
    if method == "vec2vec" and params.get("warm_start", "mini-vec2vec") != "mini-vec2vec":
        raise ValueError("known pairs with method=vec2vec need method.warm_start=mini-vec2vec "
                         f"(the pairs seed that fit), not {params.get('warm_start')!r}")
    if method == "mini-vec2vec":
        return {**params, **lone}, {"start_maps": {"known-pairs": w}}, base
    return {**params, "warm_start_config": {**(params.get("warm_start_config") or {}), **lone}}, \
        {"start_maps": {"known-pairs": w}}, base

