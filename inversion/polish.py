"""Word-level polish: edit an inverted text one word at a time, keeping edits that raise its cosine.

The corrector rewrites whole texts; what it misses most out of domain are rare content words
(names, technical terms) that its training texts seldom held. The polish stage looks for them in
the embedder's own space: the part of the target e that the current text's embedding e_hat does
not explain, r = e - (e . e_hat) e_hat, points at the missing content, and the vocabulary words
whose embeddings lie nearest to r are the candidates to add. Each round proposes, for the best
text so far:

- every one-word deletion (drops words that pull the embedding away);
- each of the ``n_words`` nearest words prepended and appended;
- each word replaced by one of the nearest ``n_words // 3`` words;

embeds them (queries to phi, counted against the inversion budget) and keeps the best if it beats
the current cosine. So the answer's cosine never falls, at the price of fluency: the polish
optimises what the vector reveals (the audit's question), not grammar; ``polish=0`` turns it off.
It needs a target close to the truth: on vectors *translated* from another embedder (cosine ~0.68
to the true vector) it fits the translation's error and lowered token F1 (0.408 -> 0.348;
docs/results.md, invert_translated_polish.json), so the audit leaves it off.

The vocabulary is the backbone tokenizer's whole-word entries (about 31k words for SmolLM2),
embedded once per embedder and cached under ``cache_root()/vocab``.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import warnings

import numpy as np

from inversion.data import embed_texts
from vec2vec.data.cache import _embedder_id, _slug
from vec2vec.data.embedders import cache_root
from vec2vec.data.io import load_npy, read_json, save_npy, write_json

# Defaults of invert(): rounds of edits, and nearest words tried per round. Measured on the shipped
# minilm inverter's corrected texts (300 foldoc / 100 gcide held-out texts, the same texts polished
# both ways): 6 words reach the token F1 of 12 (0.496 vs 0.496; 0.626 vs 0.622) with 56% of the
# queries (121 vs 218; 134 vs 241 per vector); 2 rounds instead of 4 lost 0.013 on 150 foldoc texts.
DEFAULT_ROUNDS, DEFAULT_WORDS = 4, 6

# Word-start markers of byte-level BPE (GPT-2, SmolLM) and SentencePiece (T5, Llama) vocabularies;
# WordPiece (BERT) marks the other way round: continuations start with "##".
_WORD_START = ("\u0120", "\u2581")
_WORD = re.compile(r"[A-Za-z][A-Za-z+#\-]+")     # 2+ characters: letters, then letters + # -


def tokenizer_words(tokenizer) -> list[str]:
    """The whole-word entries of ``tokenizer``'s vocabulary (word-start marker removed), sorted.
    Works for byte-level BPE and SentencePiece ('Ġword', '▁word') and WordPiece ('word' vs
    '##piece') vocabularies; ValueError if none is found."""
    vocab = list(tokenizer.get_vocab())
    if any(t.startswith(_WORD_START) for t in vocab):
        words = {t[1:] for t in vocab if t.startswith(_WORD_START) and _WORD.fullmatch(t[1:])}
    elif any(t.startswith("##") for t in vocab):
        words = {t for t in vocab if _WORD.fullmatch(t)}
    else:
        words = set()
    if not words:
        raise ValueError(f"{type(tokenizer).__name__}: no whole-word entries in its vocabulary "
                         "(expected 'Ġword', '▁word' or WordPiece tokens); pass polish=0 or a "
                         "WordVocabulary")
    return sorted(words)


def embedder_key(embedder) -> str:
    """A stable id of ``embedder`` (a registry name, a path or an object with ``.id``)."""
    if isinstance(embedder, str):

        return _embedder_id(embedder)
    return str(getattr(embedder, "id", type(embedder).__name__))


class WordVocabulary:
    """Words and their unit embeddings [V, d] in one embedder's space."""

    def __init__(self, words: list[str], vectors: np.ndarray):
        if len(words) != len(vectors) or not len(words):
            raise ValueError(f"vocabulary: {len(words)} words but {len(vectors)} vectors")
        self.words = list(words)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    @classmethod
    def build(cls, embedder, words: list[str], cache: bool = True,
              progress: bool = False) -> "WordVocabulary":
        """Embed ``words`` with ``embedder`` (name or object), through an on-disk cache keyed by
        the embedder id and the word list; a cache that does not load cleanly is rebuilt."""


        key = embedder_key(embedder)
        digest = hashlib.sha256(json.dumps([key, words]).encode()).hexdigest()[:16]
        folder = cache_root() / "vocab" / _slug(key) / digest
        if cache and (folder / "vectors.npy").is_file():
            try:
                if read_json(folder / "words.json") == words:
                    vectors = load_npy(folder / "vectors.npy")
                    if vectors.shape[0] == len(words) and np.isfinite(vectors).all():
                        return cls(words, vectors)
            except (OSError, ValueError, EOFError) as err:
                warnings.warn(f"{folder}: unreadable vocabulary cache ({err}); re-embedding")
        if progress:
            print(f"[polish] embedding {len(words)} vocabulary words with {key} (once; cached)",
                  file=sys.stderr)
        vectors = embed_texts(embedder, words, batch_size=512)
        if cache:
            write_json(folder / "words.json", words)
            save_npy(folder / "vectors.npy", vectors)      # written last: its presence = complete
        return cls(words, vectors)

    def nearest(self, directions: np.ndarray, k: int) -> list[list[str]]:
        """The k words whose vectors have the largest inner product with each row of
        ``directions`` [n, d], best first."""
        scores = directions.astype(np.float32) @ self.vectors.T          # [n, V]
        k = min(int(k), len(self.words))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(scores, top, 1).argsort(1)[:, ::-1]
        return [[self.words[j] for j in row] for row in np.take_along_axis(top, order, 1)]


def residual(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """The part of unit target rows [n, d] orthogonal to the unit current rows [n, d]."""
    return target - current * np.sum(target * current, axis=1, keepdims=True)


def word_edits(text: str, words: list[str]) -> list[str]:
    """Candidate one-word edits of ``text`` (see module doc) with ``words`` best first; unique,
    in a fixed order, never empty strings."""
    toks = text.split()
    cands = [" ".join(toks[:i] + toks[i + 1:]) for i in range(len(toks))] if len(toks) > 1 else []
    cands += [f"{text} {w}" for w in words] + [f"{w} {text}" for w in words]
    cands += [" ".join(toks[:i] + [w] + toks[i + 1:])
              for i in range(len(toks)) for w in words[:max(1, len(words) // 3)]]
    return [c for c in dict.fromkeys(cands) if c.strip() and c != text]
