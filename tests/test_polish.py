"""Word-level polish (inversion/polish.py): edits, vocabularies, the cosine-only-rises search.

Real minilm and real tokenizers throughout; the only stand-in is a tokenizer-like object with a
vocabulary of no words, for the error path."""
from __future__ import annotations

import numpy as np
import pytest

from inversion.data import embed_texts
from inversion.infer import polish_texts
from inversion.polish import WordVocabulary, residual, tokenizer_words, word_edits

WORDS = ["cat", "dog", "car", "mat", "house", "tree", "river", "blue", "green", "sang"]


@pytest.fixture(scope="module")
def vocab():
    return WordVocabulary.build("minilm", WORDS, cache=False)


def test_word_edits_delete_insert_replace():
    cands = word_edits("the cat sat", ["dog", "mat", "red"])
    for c in ("cat sat", "the sat", "the cat",                       # deletions
              "the cat sat dog", "red the cat sat",                  # appended / prepended
              "dog cat sat", "the dog sat", "the cat dog"):          # replaced by the top word
        assert c in cands
    assert "the mat sat" not in cands           # only the top third of the words replace
    assert "the cat sat" not in cands and len(cands) == len(set(cands)) and all(cands)
    assert not any(c == "" for c in word_edits("word", ["x"]))
    assert "word" not in word_edits("word", ["x"])  # one word: no deletion to an empty text


def test_tokenizer_words_for_bpe_and_wordpiece():
    from inversion.backbone import load_backbone
    from tests.test_inversion import minilm_tokenizer

    wp = tokenizer_words(minilm_tokenizer())                 # BERT WordPiece: 'word', '##piece'
    bpe = tokenizer_words(load_backbone().tokenizer)          # SmolLM2 byte-level BPE: 'Ġword'
    for words in (wp, bpe):
        assert {"house", "river", "computer"} <= set(words)
        assert len(words) > 10000 and words == sorted(set(words))
        assert not any(w.startswith(("##", "\u0120")) or len(w) < 2 for w in words)

    class NoWords:                                           # stand-in: a vocabulary of pieces
        def get_vocab(self):
            return {"[PAD]": 0, "a": 1, "7": 2}

    with pytest.raises(ValueError, match="no whole-word entries"):
        tokenizer_words(NoWords())


def test_nearest_words_and_residual(vocab):
    target = embed_texts("minilm", ["a small cat"])
    assert vocab.nearest(target, 2)[0][0] == "cat"
    cur = embed_texts("minilm", ["a small animal"])
    r = residual(target, cur)
    assert abs(float(np.sum(r * cur))) < 1e-5                 # orthogonal to what is explained
    assert len(vocab.nearest(r, 100)[0]) == len(WORDS)        # k capped at the vocabulary size


def test_polish_adds_the_missing_word_and_never_lowers_cosine(vocab):
    targets = embed_texts("minilm", ["the cat sat on the mat", "blue river under a green tree"])
    res = polish_texts(["the sat on the", "river under a green tree"], targets, "minilm", vocab)
    assert "cat" in res[0]["text"].split() and res[0]["edits"] >= 1
    assert "blue" in res[1]["text"].split()
    recheck = embed_texts("minilm", [r["text"] for r in res])
    for r, t, v in zip(res, targets, recheck):
        assert r["cosine"] > r["start_cosine"]
        assert r["cosine"] == pytest.approx(float(v @ t), abs=2e-3)
    # an exact text has nothing to gain: kept as it is
    same = polish_texts(["the cat sat on the mat"], targets[:1], "minilm", vocab)[0]
    assert same["text"] == "the cat sat on the mat" and same["edits"] == 0
    # the query budget (the start text's embedding included) is respected
    tight = polish_texts(["the sat on the"], targets[:1], "minilm", vocab, budget=4)[0]
    assert tight["queries"] <= 4 and tight["cosine"] >= tight["start_cosine"]
    with pytest.raises(ValueError, match="texts"):
        polish_texts(["", "x"], targets, "minilm", vocab)


def test_vocabulary_cache_reused_and_rebuilt_when_corrupt(tmp_path, monkeypatch):
    import inversion.data as data_mod

    monkeypatch.setenv("VEC2VEC_CACHE", str(tmp_path))
    first = WordVocabulary.build("minilm", WORDS[:4])
    files = list((tmp_path / "vocab").rglob("vectors.npy"))
    assert len(files) == 1
    real = data_mod.embed_texts
    monkeypatch.setattr(data_mod, "embed_texts", lambda *a, **k: pytest.fail("re-embedded"))
    again = WordVocabulary.build("minilm", WORDS[:4])
    assert again.words == first.words and np.array_equal(again.vectors, first.vectors)
    files[0].write_bytes(b"\x93NUMPY garbage")                 # a torn or foreign file
    monkeypatch.setattr(data_mod, "embed_texts", real)
    with pytest.warns(UserWarning, match="unreadable vocabulary cache"):
        rebuilt = WordVocabulary.build("minilm", WORDS[:4])
    assert np.allclose(rebuilt.vectors, first.vectors, atol=1e-6)
    assert np.allclose(np.load(files[0]), first.vectors, atol=1e-6)
