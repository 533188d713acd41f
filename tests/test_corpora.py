"""Corpora: registry, cleaning, deterministic disjoint splits, user files, errors."""
import json

import numpy as np
import pytest

from vec2vec.data import corpora
from vec2vec.data.corpora import get_split, load_corpus, split_sizes


def test_gcide_loads_clean_unique_texts():
    c = load_corpus("gcide-definitions")
    assert len(c) > 150_000
    assert len(set(c.texts)) == len(c.texts)
    assert all(t == " ".join(t.split()) and t for t in c.texts[:5000])


def test_gcide_examples_are_sentences_apart_from_the_definitions():
    ex, defs = load_corpus("gcide-examples"), load_corpus("gcide-definitions")
    assert 35_000 < len(ex) < 45_000 and len(set(ex.texts)) == len(ex.texts)
    assert ex.source != defs.source                  # separate embedding caches
    # usage examples are quotations, not definitions: few texts are in both corpora
    assert len(set(ex.texts) & set(defs.texts)) < 0.01 * len(ex)


def test_splits_are_disjoint_deterministic_and_sized():
    a = get_split("gcide-definitions", "a", seed=0)
    b = get_split("gcide-definitions", "b", seed=0)
    ev = get_split("gcide-definitions", "eval", seed=0)
    assert len(ev) == 10_000 and len(a) + len(b) + len(ev) == len(load_corpus("gcide-definitions"))
    assert not set(a.texts) & set(b.texts)
    assert not set(ev.texts) & (set(a.texts) | set(b.texts))
    assert get_split("gcide-definitions", "a", seed=0, limit=50).texts == a.texts[:50]
    assert get_split("gcide-definitions", "a", seed=1, limit=50).texts != a.texts[:50]


def test_split_size_errors_are_clear():
    with pytest.raises(ValueError, match="exceed"):
        split_sizes(100, eval_size=50, a_size=40, b_size=20)
    with pytest.raises(ValueError, match="limit=20000 is larger"):
        get_split("gcide-definitions", "eval", limit=20_000)
    with pytest.raises(ValueError, match="unknown split 'train'.*a, b, eval"):
        get_split("gcide-definitions", "train")


def test_unknown_corpus_lists_valid_names():
    with pytest.raises(ValueError, match="gcide-definitions.*wordnet-definitions"):
        load_corpus("no-such-corpus")


@pytest.mark.skipif(not corpora.available_corpora()["wordnet-definitions"],
                    reason="Debian wordnet-base not installed (make install does it as root)")
def test_wordnet_has_45_category_labels():
    c = load_corpus("wordnet-definitions")
    assert len(c.labels) == len(c.texts) > 100_000
    assert set(c.labels) <= set(corpora.WORDNET_LEXNAMES)
    assert len(set(c.labels)) == 45
    s = get_split("wordnet-definitions", "eval", limit=10)
    assert len(s.labels) == 10


def test_user_txt_whole_file_keeps_order_and_duplicates(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("zebra  crossing\napple\nzebra crossing\n")
    s = get_split(str(p), "all")
    assert s.texts == ["zebra crossing", "apple", "zebra crossing"]
    assert get_split(str(p), "all", dedup=True).texts == ["zebra crossing", "apple"]


def test_user_jsonl_and_csv(tmp_path):
    j = tmp_path / "t.jsonl"
    j.write_text("\n".join(json.dumps({"body": t, "y": i}) for i, t in enumerate(["a b", "c"])))
    assert get_split(str(j), "all", text_field="body").texts == ["a b", "c"]
    with pytest.raises(ValueError, match="no field 'text'"):
        get_split(str(j), "all")
    c = tmp_path / "t.csv"
    c.write_text("id,text\n1,hello there\n2,\"with, comma\"\n")
    assert get_split(str(c), "all").texts == ["hello there", "with, comma"]


def test_user_file_errors(tmp_path):
    bad = tmp_path / "latin.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not valid utf-8.*line 1"):
        get_split(str(bad), "all")
    assert get_split(str(bad), "all", encoding="latin-1").texts == ["café"]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="no texts"):
        get_split(str(empty), "all")
    gap = tmp_path / "gap.txt"
    gap.write_text("one\n\nthree\n")
    with pytest.raises(ValueError, match="empty text.*record 2"):
        get_split(str(gap), "all")
    with pytest.raises(FileNotFoundError, match="no such corpus file"):
        get_split(str(tmp_path / "missing.txt"), "all")


def test_user_file_splits_are_seeded(tmp_path):
    p = tmp_path / "many.txt"
    p.write_text("\n".join(f"text number {i}" for i in range(100)))
    s1 = get_split(str(p), "a", seed=3)
    s2 = get_split(str(p), "a", seed=3)
    assert s1.texts == s2.texts and len(s1) == 40  # eval 20, a 40, b 40
    assert not np.array_equal(s1.indices, np.sort(s1.indices))  # shuffled, unlike split="all"
