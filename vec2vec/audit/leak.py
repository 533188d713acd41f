"""The inputs of an audit and what is read off them directly: the leaked vectors, the truth file,
known documents of the leak, attribute labels, zero-shot attribute inference, and a simulated leak
for benchmarks and tests."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vec2vec.data.cache import embed
from vec2vec.data.corpora import get_split, read_user_file
from vec2vec.data.io import atomic_path, save_npy
from vec2vec.data.validation import l2_normalize
from vec2vec.data.vectors import load_vectors, open_vectors

DEFAULT_LABELS = Path(__file__).resolve().parent / "labels" / "wordnet-lexnames.tsv"


# ----- inputs ------------------------------------------------------------------------------------
@dataclass
class Labels:
    """Attribute labels and the descriptions that are embedded to recognise them."""

    names: list[str]
    descriptions: list[str]


def load_labels(path: str | Path | None) -> Labels:
    """Labels from a file: one ``label`` or ``label<TAB>description`` per line; ``#`` comments.

    ``None`` gives the default: WordNet's 45 lexicographer categories with short descriptions.
    A label without a description is embedded as itself.
    """
    path = Path(path) if path else DEFAULT_LABELS
    if not path.is_file():
        raise FileNotFoundError(f"labels={path}: no such file (one label per line, optionally "
                                "label<TAB>description)")
    names, descs = [], []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, desc = line.partition("\t")
        name, desc = name.strip(), desc.strip()
        if not name:
            raise ValueError(f"labels={path}: line {no} has an empty label")
        if name in names:
            raise ValueError(f"labels={path}: label {name!r} appears twice (line {no})")
        names.append(name)
        descs.append(desc or name)
    if len(names) < 2:
        raise ValueError(f"labels={path}: need at least 2 labels, found {len(names)}")
    return Labels(names, descs)


def load_leaked(path: str | Path, min_rows: int) -> np.ndarray:
    """All leaked vectors (``input=``: a ``.npy`` file or a faiss index) -> float32 [n, d],
    validated; fewer than ``min_rows`` is refused with what to do about it."""
    n, _, _ = open_vectors(path)
    if n < min_rows:
        raise ValueError(f"input={path}: {n} vectors, but the unsupervised translators need at "
                         f"least {min_rows} (distribution matching needs many samples); "
                         "lower min_leaked at your own risk, or collect more vectors")
    return load_vectors(path, min_rows=min_rows)


def load_truth(path: str | Path, n: int) -> tuple[list[str], list[str] | None]:
    """Ground truth for the ``n`` leaked vectors (a ``.jsonl`` of ``{"text", "label"}`` records, in
    leak order): texts and, if every record has one, labels. Read by the same reader that embeds
    the file (``corpora.read_user_file``), so rows line up."""

    path = Path(path)
    if path.suffix.lower() != ".jsonl":
        raise ValueError(f"truth={path}: expected a .jsonl file of {{\"text\", \"label\"}} records")
    texts, labels, _ = read_user_file(path, text_field="text", label_field="label")
    if len(texts) != n:
        raise ValueError(f"truth={path}: {len(texts)} records for {n} leaked vectors; one record "
                         "per leaked vector, in the same order")
    return texts, (labels if all(labels) else None)


def load_known_pairs(path: str | Path, leaked: np.ndarray, known: str,
                     progress: bool = False) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Known documents of the leak: a ``.jsonl`` of ``{"index": i, "text": "..."}``, row ``i`` of
    the leaked set being the embedding of ``text``. The texts are embedded by ``known`` (cached).
    Returns (leaked rows [N, d], their texts' known vectors [N, d_known], indices)."""
    path = Path(path)
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        raise ValueError(f"known_pairs={path}: expected an existing .jsonl file of "
                         '{"index": i, "text": "..."} lines (row i of the leak is that text)')
    idx = []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            i, text = int(rec["index"]), str(rec["text"])
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"known_pairs={path}: line {no} is not a JSON object with an integer "
                             '"index" and a "text"') from None
        if not 0 <= i < len(leaked) or not text.strip():
            raise ValueError(f"known_pairs={path}: line {no}: index {i} is outside the "
                             f"{len(leaked)} leaked rows, or the text is empty")
        idx.append(i)
    if len(set(idx)) != len(idx) or len(idx) < 2:
        raise ValueError(f"known_pairs={path}: need at least 2 pairs with distinct indices, got "
                         f"{len(idx)} ({len(idx) - len(set(idx))} repeated)")
    vecs = embed(known, corpus=str(path), split="all", progress=progress)
    if len(vecs) != len(idx):   # empty or duplicate texts would shift the rows
        raise ValueError(f"known_pairs={path}: {len(idx)} lines but {len(vecs)} texts were read; "
                         "every line needs its own non-empty text")
    return leaked[idx], vecs, idx


def simulate_leak(embedder: str, corpus: str, split: str, n: int, folder: str | Path,
                  seed: int = 0) -> tuple[Path, Path]:
    """A leak to audit, for benchmarks and tests: ``folder/leaked.npy`` (``embedder``'s vectors of
    the first ``n`` texts of a corpus split, cached) and ``folder/truth.jsonl`` (their texts and
    labels, in order). Returns both paths."""

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sp = get_split(corpus, split, seed=seed, limit=n)
    vecs = embed(embedder, corpus, split=split, limit=n, seed=seed, progress=False)
    save_npy(folder / "leaked.npy", vecs)
    labels = sp.labels or [None] * len(sp.texts)
    lines = [json.dumps({"text": t, **({"label": lab} if lab is not None else {})})
             for t, lab in zip(sp.texts, labels)]
    with atomic_path(folder / "truth.jsonl") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "leaked.npy", folder / "truth.jsonl"


# ----- attribute inference -------------------------------------------------------------------------
def infer_attributes(vectors: np.ndarray, label_vectors: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Zero-shot labels: for vectors [n, d] and label-description vectors [L, d] (same space),
    returns (index of the nearest label by cosine [n], that cosine [n])."""
    sims = l2_normalize(vectors) @ l2_normalize(label_vectors).T
    best = sims.argmax(1)
    return best, sims[np.arange(len(sims)), best]


def attribute_accuracy(pred: np.ndarray, names: list[str], truth: list[str]) -> float:
    """Share of rows whose predicted label name equals the true one."""
    return float(np.mean([names[p] == t for p, t in zip(pred, truth)]))
