"""Did a translation fitted without pairs succeed? A verdict computed without pairs.

Unsupervised translation works between sibling embedders and fails at chance on others, and the
pair-free *score* (:mod:`vec2vec.selection`) cannot tell the two apart: a failed fit can score as
high as a successful one. A user who reads "little leaks" off a failed translation gets a false
all-clear. :func:`verdict` says ``aligned``, ``not_aligned`` or ``uncertain``, with its evidence
and one plain sentence.

The deciding evidence is ``start_agreement`` (from the fit itself, ``Translator.fit_evidence``):
mini-vec2vec refines several independent starts (k-means anchor sets; the identity map for equal
dimensions; given maps). Starts that succeed land on one map (agreement tr(W1ᵀW2)/min(d) near 1);
starts that fail land in different wrong optima. The GAN inherits its warm start's value. A
method without independent starts (muse, gw, identity) is never called ``aligned``.

Reported beside it, not deciding: ``nn_ratio``, the mean cosine of translated vectors to their
nearest real target vector over that of real target vectors to their nearest other real one
(worse direction). Measured on the pair matrix it is only weakly informative (a refinement pulls
even a wrong map onto the target's manifold), as is the round trip through nearest real
neighbours, which a random orthogonal map passes as often as a successful fit (both ~0.2-0.4).

The thresholds below were set on the pair matrix of five offline embedders on gcide-definitions
and then frozen; wordnet-definitions tests them (``python -m benchmarks verdict``;
``benchmarks/results/verdict_*.json``; docs/results.md#the-verdict).
"""
from __future__ import annotations

import numpy as np

from vec2vec.data.validation import check_vectors, l2_normalize
from vec2vec.neighbors import knn, subsample
from vec2vec.selection import unsupervised_score
from vec2vec.translators.base import Translator

LABELS = ("aligned", "not_aligned", "uncertain")
# frozen thresholds (calibration: module docstring)
AGREE_ALIGNED = 0.8        # starts agreeing at least this much: one optimum found twice
AGREE_FAILED = 0.1         # best agreement below this: every start in its own optimum


def _real_nn(x: np.ndarray, rows: int = 4096) -> float:
    """Mean cosine of real (centred) vectors of one space to their nearest other real vector:
    one half of a seeded subsample against the other."""
    z = subsample(x, rows, 0)
    mean = l2_normalize(z).mean(0)
    z = l2_normalize(l2_normalize(z) - mean)
    half = len(z) // 2
    return float(knn(z[:half], z[half:], 1)[0].mean())


def verdict(translator: Translator, xa: np.ndarray, xb: np.ndarray, scores: dict | None = None,
            seed: int = 0) -> dict:
    """``{"label", "evidence", "explain"}`` for a fitted translator on its unpaired training
    vectors xa [n_a, d_a], xb [n_b, d_b]. ``scores``: its :func:`unsupervised_score`, if already
    computed (else computed here: seconds)."""
    if translator.dims is None:
        raise RuntimeError("verdict needs a fitted translator")
    xa = check_vectors(xa, "xa", dim=translator.dims[0], min_rows=11)
    xb = check_vectors(xb, "xb", dim=translator.dims[1], min_rows=11)
    scores = scores if scores is not None else unsupervised_score(translator, xa, xb, seed=seed)
    agree = translator.fit_evidence.get("start_agreement")
    ratio = min(scores["nn_cos_ab"] / max(_real_nn(xb), 1e-9),
                scores["nn_cos_ba"] / max(_real_nn(xa), 1e-9))
    evidence = {"start_agreement": None if agree is None else float(agree),
                "starts": translator.fit_evidence.get("starts"),
                "nn_ratio": float(ratio), "score": float(scores["score"]),
                "thresholds": {"agree_aligned": AGREE_ALIGNED, "agree_failed": AGREE_FAILED}}
    label = decide(evidence["start_agreement"])
    return {"label": label, "evidence": evidence, "explain": explain(label, evidence)}


def decide(start_agreement: float | None) -> str:
    """The label for a fit's start agreement (None: a method without independent starts)."""
    if start_agreement is not None and start_agreement >= AGREE_ALIGNED:
        return "aligned"
    if start_agreement is not None and start_agreement < AGREE_FAILED:
        return "not_aligned"
    return "uncertain"


def explain(label: str, ev: dict) -> str:
    """One plain sentence for a verdict and its evidence."""
    agree = ev["start_agreement"]
    starts = ("independent starts of the fit landed on the same map (agreement "
              f"{agree:.2f})" if agree is not None and agree >= AGREE_ALIGNED else
              f"independent starts of the fit landed on different maps (best agreement "
              f"{agree:.2f})" if agree is not None else
              "the method has no independent starts to compare")
    if label == "aligned":
        return f"Aligned: {starts}; the translation is very likely right."
    if label == "not_aligned":
        return (f"Not aligned: {starts}; the translation most likely failed, so figures computed "
                "from it are a lower bound, not evidence that little leaks.")
    return (f"Uncertain: {starts}; the translation may be right, partly right or wrong. Treat "
            "figures computed from it as a lower bound; known pairs (known_pairs=), more public "
            "texts or identify=auto would settle it.")
