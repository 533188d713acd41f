"""Inversion quality: sentence BLEU, token F1, exact match, cosine in the embedder's space."""
from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> set[str]:
    """Set of lower-cased word tokens (letters/digits/underscore runs) of a text."""
    return set(_WORD.findall(text.lower()))


def token_f1(pred: str, ref: str) -> float:
    """F1 between the word *sets* of prediction and reference, in [0, 1] (both empty -> 1)."""
    p, r = words(pred), words(ref)
    if not p and not r:
        return 1.0
    common = len(p & r)
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(r)
    return 2 * prec * rec / (prec + rec)


def sentence_bleu(pred: str, ref: str) -> float:
    """sacrebleu sentence BLEU (0-100, default smoothing 'exp')."""
    import sacrebleu

    return float(sacrebleu.sentence_bleu(pred, [ref]).score)


def exact_match(pred: str, ref: str) -> float:
    """1.0 when the texts are equal after stripping surrounding whitespace, else 0.0."""
    return float(pred.strip() == ref.strip())


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine [n] between two [n, d] arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cosine_rows: shapes {a.shape} and {b.shape} differ")
    na = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(1) / np.maximum(na, 1e-12)


def score(preds: list[str], refs: list[str], pred_vectors: np.ndarray | None = None,
          target_vectors: np.ndarray | None = None) -> dict[str, float]:
    """Mean metrics over pairs: ``token_f1``, ``bleu``, ``exact``, and ``cosine`` when the
    embeddings of the predictions and the target vectors are given (both [n, d])."""
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    if not preds:
        raise ValueError("score: no predictions")
    out = {
        "n": len(preds),
        "token_f1": float(np.mean([token_f1(p, r) for p, r in zip(preds, refs)])),
        "bleu": float(np.mean([sentence_bleu(p, r) for p, r in zip(preds, refs)])),
        "exact": float(np.mean([exact_match(p, r) for p, r in zip(preds, refs)])),
    }
    if pred_vectors is not None and target_vectors is not None:
        out["cosine"] = float(np.mean(cosine_rows(pred_vectors, target_vectors)))
    return out
