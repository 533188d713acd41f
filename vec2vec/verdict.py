"""Did a translation fitted without pairs succeed? A verdict computed without pairs.

Unsupervised translation works between sibling embedders and fails at chance on others, and the
pair-free *score* (:mod:`vec2vec.selection`) cannot tell the two apart: a failed fit can score as
high as a successful one. A user who reads "little leaks" off a failed translation gets a false
all-clear. :func:`verdict` says ``aligned``, ``not_aligned`` or ``uncertain``, with its evidence
and one plain sentence, from two pieces of evidence that a failed fit does not fake:

- ``start_agreement`` (from the fit itself, ``Translator.fit_evidence``): mini-vec2vec refines
  several independent starts (k-means anchor sets; the identity map for equal dimensions; given
  maps). Starts that succeed land on one map (agreement tr(W1ᵀW2)/min(d) near 1); starts that
  fail land in different wrong optima (near 0). The GAN inherits its warm start's value.
- ``cycle_nn`` against its null: the share of vectors x whose round trip through the nearest
  *real* vector of the other space comes home (NN_a(T_ba(NN_b(T_ab(x)))) == x), averaged over
  both starting spaces, beside the same statistic for a random orthogonal map between the same
  centred spaces (``cycle_nn_null``). It needs no pairs: only the two unpaired sets.

The thresholds below were calibrated on the pair matrix of five offline embedders on
gcide-definitions and then frozen (``benchmarks/results/verdict_*.json``: every fit with its
evidence beside the paired truth; docs/translation.md has the table). A failed fit is never
called ``aligned`` there; the price is ``uncertain`` on some successful ones.
"""
from __future__ import annotations

import numpy as np

from vec2vec.data.validation import check_vectors
from vec2vec.selection import unsupervised_score
from vec2vec.translators.base import Translator
from vec2vec.translators.linear import (
    LinearTranslator,
    orthogonalize,
)

LABELS = ("aligned", "not_aligned", "uncertain")
# frozen thresholds (calibration: module docstring)
AGREE_ALIGNED = 0.8        # starts agreeing at least this much: one optimum found twice
AGREE_FAILED = 0.3         # best agreement below this: every start in its own optimum
CYCLE_RATIO_ALIGNED = 5.0  # round trips home at least this many times the random map's ...
CYCLE_MIN_ALIGNED = 0.05   # ... and at least this share of vectors
CYCLE_RATIO_FAILED = 2.0   # at most this many times the random map's: no structure carried over


class _RandomMap(LinearTranslator):
    """A random semi-orthogonal map between the centred spaces: the null of the cycle test."""

    def _fit(self, xa, xb):
        self._set_stats(xa, xb)
        rng = np.random.default_rng(int(self.config.get("seed", 0)))
        self._set_maps(orthogonalize(rng.standard_normal((xa.shape[1], xb.shape[1]))))


def _cycle(scores: dict) -> float:
    return float((scores["cycle_nn_a"] + scores["cycle_nn_b"]) / 2)


def null_scores(xa: np.ndarray, xb: np.ndarray, seed: int = 0) -> dict:
    """The pair-free scores of a random orthogonal map between xa [n_a, d_a] and xb [n_b, d_b]."""
    rand = _RandomMap(seed=seed)
    rand.dims = (xa.shape[1], xb.shape[1])
    rand._fit(xa, xb)
    return unsupervised_score(rand, xa, xb, seed=seed)


def verdict(translator: Translator, xa: np.ndarray, xb: np.ndarray, scores: dict | None = None,
            null: dict | None = None, seed: int = 0) -> dict:
    """``{"label", "evidence", "explain"}`` for a fitted translator on its unpaired training
    vectors xa [n_a, d_a], xb [n_b, d_b]. ``scores``: its :func:`unsupervised_score`, if already
    computed; ``null``: :func:`null_scores` of the same xa, xb (one more scoring pass, seconds;
    pass it to share it between the seeds of a run)."""
    if translator.dims is None:
        raise RuntimeError("verdict needs a fitted translator")
    xa = check_vectors(xa, "xa", dim=translator.dims[0], min_rows=11)
    xb = check_vectors(xb, "xb", dim=translator.dims[1], min_rows=11)
    scores = scores if scores is not None else unsupervised_score(translator, xa, xb, seed=seed)
    null = null if null is not None else null_scores(xa, xb, seed)
    agree = translator.fit_evidence.get("start_agreement")
    cyc, cyc0 = _cycle(scores), _cycle(null)
    ratio = cyc / max(cyc0, 1.0 / min(len(xa), len(xb), 4096))
    evidence = {"start_agreement": None if agree is None else float(agree),
                "starts": translator.fit_evidence.get("starts"),
                "cycle_nn": cyc, "cycle_nn_null": cyc0, "cycle_ratio": float(ratio),
                "score": float(scores["score"]), "score_null": float(null["score"]),
                "thresholds": {"agree_aligned": AGREE_ALIGNED, "agree_failed": AGREE_FAILED,
                               "cycle_ratio_aligned": CYCLE_RATIO_ALIGNED,
                               "cycle_min_aligned": CYCLE_MIN_ALIGNED,
                               "cycle_ratio_failed": CYCLE_RATIO_FAILED}}
    cycle_ok = ratio >= CYCLE_RATIO_ALIGNED and cyc >= CYCLE_MIN_ALIGNED
    cycle_bad = ratio <= CYCLE_RATIO_FAILED
    if agree is not None and agree >= AGREE_ALIGNED and cycle_ok:
        label = "aligned"
    elif cycle_bad and (agree is None or agree < AGREE_FAILED):
        label = "not_aligned"
    else:
        label = "uncertain"
    return {"label": label, "evidence": evidence, "explain": explain(label, evidence)}


def explain(label: str, ev: dict) -> str:
    """One plain sentence for a verdict and its evidence."""
    agree = ev["start_agreement"]
    starts = ("independent starts of the fit landed on the same map (agreement "
              f"{agree:.2f})" if agree is not None and agree >= AGREE_ALIGNED else
              f"independent starts of the fit landed on different maps (best agreement "
              f"{agree:.2f})" if agree is not None else
              "the method has no independent starts to compare")
    cycle = (f"{ev['cycle_nn']:.1%} of vectors come home through a round trip via their nearest "
             f"real neighbour (a random map: {ev['cycle_nn_null']:.1%})")
    if label == "aligned":
        return f"Aligned: {starts}, and {cycle}; the translation is very likely right."
    if label == "not_aligned":
        return (f"Not aligned: {starts}, and {cycle}; the translation failed, so figures "
                "computed from it are a lower bound, not evidence that little leaks.")
    return (f"Uncertain: {starts}, and {cycle}; the translation may be partly right. Treat "
            "figures computed from it as a lower bound; known pairs (known_pairs=), more public "
            "texts or identify=auto would settle it.")
