"""Fuzzing every input reader: a correct result or a one-line ValueError-style refusal, never a
traceback from deep inside numpy / torch / faiss, never a hang, never a partial file.

Readers: vector inputs (``.npy`` of random dtypes, shapes, NaN/inf placements, truncations, random
bytes), user corpora (random bytes, encodings, CSV / JSONL structures) and translator checkpoints
(random JSON edits of ``translator.json``). Hypothesis draws the cases; every test is seeded
(derandomize) so a failure reproduces.
"""
from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vec2vec.data.corpora import get_split
from vec2vec.data.vectors import load_vectors
from vec2vec.translators import get_translator
from vec2vec.translators.base import Translator

# the refusals a user may see: one clear line, no traceback (vec2vec.cli prints them)
REFUSALS = (ValueError, FileNotFoundError)
FUZZ = settings(max_examples=2000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool",
          "complex64", "<U3", "object"]


def _refusal_is_one_clear_line(e: BaseException) -> None:
    msg = str(e)
    assert msg and "Traceback" not in msg and "allow_pickle" not in msg, msg


@st.composite
def npy_bytes(draw):
    """The bytes of a .npy file: a random array (dtype, shape, NaN/inf), maybe truncated or
    replaced by junk."""
    kind = draw(st.sampled_from(["array", "truncated", "junk"]))
    if kind == "junk":
        return draw(st.binary(min_size=0, max_size=200))
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if dtype == "object":
        arr = np.empty(shape, dtype=object)
    elif dtype == "<U3":
        arr = np.full(shape, "ab", dtype=dtype)
    else:
        arr = (rng.standard_normal(shape) * 3).astype(dtype)
        if arr.size and np.issubdtype(arr.dtype, np.floating) and draw(st.booleans()):
            arr.flat[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=dtype == "object")
    raw = buf.getvalue()
    if kind == "truncated" and raw:
        raw = raw[:draw(st.integers(0, len(raw) - 1))]
    return raw


@pytest.mark.slow
@FUZZ
@given(raw=npy_bytes())
def test_vector_reader(raw):
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "x.npy"
        path.write_bytes(raw)
        try:
            x = load_vectors(path)
        except REFUSALS as e:
            _refusal_is_one_clear_line(e)
            return
        assert x.dtype == np.float32 and x.ndim == 2 and len(x) >= 1 and np.isfinite(x).all()
    finally:
        shutil.rmtree(folder)


@st.composite
def corpus_file(draw):
    """(suffix, bytes, encoding) of a user corpus: text lines, JSONL or CSV, sometimes broken."""
    suffix = draw(st.sampled_from([".txt", ".jsonl", ".csv"]))
    texts = draw(st.lists(st.text(min_size=0, max_size=30), min_size=0, max_size=8))
    enc = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    if suffix == ".txt":
        body = "\n".join(texts)
    elif suffix == ".jsonl":
        recs = [json.dumps({draw(st.sampled_from(["text", "txt", "label"])): t}) if draw(st.booleans())
                else t for t in texts]
        body = "\n".join(recs)
    else:
        body = draw(st.sampled_from(["text", "label,text", "a,b"])) + "\n" + \
            "\n".join(t.replace("\n", " ") for t in texts)
    raw = body.encode(enc, errors="replace")
    if draw(st.booleans()):
        raw = raw + draw(st.binary(max_size=20))
    return suffix, raw, enc


@pytest.mark.slow
@FUZZ
@given(spec=corpus_file())
def test_corpus_reader(spec):
    suffix, raw, enc = spec
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / f"c{suffix}"
        path.write_bytes(raw)
        for encoding in ("utf-8", enc):
            try:
                sp = get_split(str(path), "all", encoding=encoding)
            except REFUSALS as e:
                _refusal_is_one_clear_line(e)
                continue
            assert all(isinstance(t, str) and t.strip() for t in sp.texts)
    finally:
        shutil.rmtree(folder)


@pytest.fixture(scope="module")
def saved_translator(tmp_path_factory):
    rng = np.random.default_rng(0)
    xa, xb = rng.standard_normal((64, 8)).astype(np.float32), rng.standard_normal((64, 6)).astype(np.float32)
    folder = tmp_path_factory.mktemp("tr")
    get_translator("procrustes-oracle").fit(xa, xb).save(folder / "t")
    return folder / "t"


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True)
                           | st.text(max_size=12), lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=6)


@pytest.mark.slow
@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(["format", "version", "method", "dims", "config",
                                                  "fit_evidence", "extra"]),
                                st.one_of(st.just("<delete>"), JSON_VALUES)), min_size=1, max_size=3))
def test_translator_checkpoint_reader(saved_translator, edits):
    meta = json.loads((saved_translator / "translator.json").read_text())
    for key, value in edits:
        if value == "<delete>":
            meta.pop(key, None)
        else:
            meta[key] = value
    folder = Path(tempfile.mkdtemp())
    try:
        shutil.copy(saved_translator / "weights.safetensors", folder / "weights.safetensors")
        (folder / "translator.json").write_text(json.dumps(meta))
        try:
            t = Translator.load(folder)
        except REFUSALS as e:
            _refusal_is_one_clear_line(e)
            return
        y = t.translate(np.ones((2, t.dims[0]), np.float32), "ab")
        assert y.shape == (2, t.dims[1])
    finally:
        shutil.rmtree(folder)
