"""``vec2vec audit`` and ``vec2vec defend``: the whole audit on a small real leak, its resume after a
kill, its report rendered in headless Chromium, bad inputs, and the defences' contracts.

The leak is a secret random rotation of minilm's vectors of 2,000 held-out WordNet definitions (a
stand-in for "an embedder you cannot query" that is cheap to embed; the real-embedder leaks, mpnet
and e5-small, are in benchmarks/audit.py). The attacker holds minilm and 2,000 *other*
WordNet definitions (split a) and the shipped minilm inverter. Real models and text throughout.
"""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vec2vec.audit.defend import Defence, recall_at_k
from vec2vec.audit.leak import (
    DEFAULT_LABELS,
    infer_attributes,
    load_labels,
    load_leaked,
    load_truth,
    simulate_leak,
)
from vec2vec.audit.pipeline import run
from vec2vec.config import load
from vec2vec.data.embedders import get_embedder
from vec2vec.data.io import save_npy

N_LEAK, N_PUBLIC = 2000, 2000


def audit_cfg(leak_dir: Path, out: Path, **over) -> dict:
    cfg = load("audit", [f"input={leak_dir / 'leaked.npy'}",
                         f"truth={leak_dir / 'truth.jsonl'}", f"out_dir={out}",
                         f"public_n={N_PUBLIC}", "min_leaked=1000",
                         "methods=[mini-vec2vec]", "invert_n=48", "invert_chunk=16",
                         "invert_batch=16", "ceiling_invert_n=16", "progress=false",
                         "threads=2", "identify=[minilm,minilm-l3]"])
    return cfg | over


@pytest.fixture(scope="module")
def leak(tmp_path_factory):
    """Rotated minilm vectors of wordnet-definitions eval[:2000] + their truth file."""
    folder = tmp_path_factory.mktemp("leak")
    leaked, truth = simulate_leak("minilm", "wordnet-definitions", "eval", N_LEAK, folder)
    x = np.load(leaked)
    save_npy(leaked, Defence("rotation", seed=7).fit(x).transform(x))
    return folder


@pytest.fixture(scope="module")
def audited(leak, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    cfg = audit_cfg(leak, out)
    return cfg, run(cfg)


@pytest.mark.slow
def test_audit_report_contents(audited):
    cfg, rep = audited
    out = Path(cfg["out_dir"])
    saved = json.loads((out / "report.json").read_text())
    assert saved["items"] == json.loads(json.dumps(rep["items"]))
    assert len(rep["items"]) == N_LEAK
    assert [it["index"] for it in rep["items"]] == list(range(N_LEAK))
    labels = load_labels(None).names
    for it in rep["items"]:
        assert it["attribute"] in labels
    inverted = [it for it in rep["items"] if it["text"] is not None]
    assert len(inverted) == 48
    # each reported cosine is that of the inverted text, re-embedded by the known embedder, to
    # the translated vector it was inverted from
    translated = np.load(out / "translated.npy")[:48]
    again = get_embedder("minilm").encode([it["text"] for it in inverted])
    cos = np.sum(again * translated, 1) / np.linalg.norm(again, axis=1) / np.linalg.norm(translated, axis=1)
    np.testing.assert_allclose([it["cosine"] for it in inverted], cos, atol=2e-3)
    assert rep["selection"]["chosen"] == "mini-vec2vec"
    # the rotated leak matches neither candidate, so it was translated without pairs
    ident = rep["selection"]["identification"]
    assert ident["identified"] is None and set(ident["candidates"]) == {"minilm", "minilm-l3"}
    assert all(c["nn_ratio"] < 0.5 for c in ident["candidates"].values())
    # the rotation is largely undone without pairs (mini-vec2vec's kNN-mean refinement stops
    # short of the exact inverse at this size: ~0.84 measured), far above a random map (~0)
    assert rep["translation_cosine_to_truth"] > 0.7
    assert rep["ceilings"]["direct_inversion"]["cosine_to_truth"] == pytest.approx(1.0, abs=1e-5)
    # ... so the leakage reaches its ceilings (zero-shot attributes are well above chance: 45 labels)
    acc = rep["leakage"]["attribute_accuracy"]
    assert acc > 0.15
    assert rep["ratios"]["oracle_translation"]["attribute_accuracy"] > 0.8
    assert rep["ratios"]["direct_inversion"]["token_f1"] > 0.5
    assert sum(rep["attribute_distribution"].values()) == N_LEAK
    assert (out / "config.json").is_file() and (out / "report.html").is_file()


@pytest.mark.slow
def test_audit_resumes_after_a_kill(audited):
    """A killed audit (report not written, last inversion chunk lost) resumes: the fitted
    translator and finished chunks are reused, the missing chunk is recomputed, same items."""
    cfg, rep = audited
    out = Path(cfg["out_dir"])
    done = out / "translators" / "mini-vec2vec" / "seeds" / "0" / "done.json"
    stamp = done.stat().st_mtime_ns
    chunks = sorted((out / "inversion" / "translated").glob("*.json"))
    assert len(chunks) == 3
    kept = chunks[0].stat().st_mtime_ns
    chunks[-1].unlink()
    (out / "report.json").unlink()
    rep2 = run(cfg)
    assert done.stat().st_mtime_ns == stamp            # translator not refitted
    assert chunks[0].stat().st_mtime_ns == kept         # finished chunk reused
    assert chunks[-1].is_file()                         # lost chunk recomputed
    assert [it["attribute"] for it in rep2["items"]] == [it["attribute"] for it in rep["items"]]
    assert [it["text"] for it in rep2["items"]] == [it["text"] for it in rep["items"]]
    # the same out= with other result-relevant inputs is refused, naming what differs
    with pytest.raises(ValueError, match="other inputs \\(invert_steps\\)"):
        run({**cfg, "invert_steps": 1})


def test_out_dir_written_before_the_temperature_key(tmp_path):
    """An audit directory from before ``invert_temperature`` existed resumes when the temperature
    cannot change its results (beam 1: greedy) or equals what it used (1.0); otherwise refused."""
    from vec2vec.audit.pipeline import RESULT_KEYS, check_out_dir
    from vec2vec.data.io import file_sha256, read_json, write_json

    leaked = tmp_path / "leaked.npy"
    np.save(leaked, np.ones((3, 4), np.float32))
    cfg = {k: None for k in RESULT_KEYS} | {"input": str(leaked), "truth": None,
                                             "invert_beam": 1, "invert_temperature": 0.7}
    out = tmp_path / "audit"
    out.mkdir()

    def old_key(beam: int) -> None:
        key = {k: cfg.get(k) for k in RESULT_KEYS if k != "invert_temperature"}
        write_json(out / "key.json", key | {"invert_beam": beam, "truth_sha256": None,
                                            "leaked_sha256": file_sha256(leaked)})

    old_key(1)
    check_out_dir(cfg, out)                                      # greedy: resumes
    assert read_json(out / "key.json")["invert_temperature"] is None
    old_key(4)
    check_out_dir({**cfg, "invert_beam": 4, "invert_temperature": 1.0}, out)   # same sampling
    old_key(4)
    with pytest.raises(ValueError, match="other inputs \\(invert_temperature\\)"):
        check_out_dir({**cfg, "invert_beam": 4}, out)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Debian chromium not installed (make install "
                    "installs it when run as root)")
@pytest.mark.slow
def test_report_renders_in_headless_chromium(audited, tmp_path):
    cfg, rep = audited
    page = (Path(cfg["out_dir"]) / "report.html").resolve()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", "--window-size=1200,1600",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", page.as_uri()], check=True,
                         capture_output=True, timeout=120, text=True).stdout
    for text in ("vec2vec audit report", "Which embedder made the leak?", "minilm-l3",
                 "No embedder we can run matches the leak", "Translation method", "Attribute distribution",
                 "Measured leakage", "Inverted examples", "ceiling: oracle translation",
                 f"{N_LEAK:,} × 384"):
        assert text in dom, text
    first = next(it for it in rep["items"] if it["text"])
    from html import escape
    assert escape(first["text"], quote=False) in dom   # --dump-dom escapes only & < >
    assert dom.count("<svg") == 1 and dom.count("<rect") >= 2 * len(rep["attribute_distribution"])


@pytest.mark.slow
def test_audit_identifies_a_leak_from_an_embedder_it_can_run(tmp_path):
    """Unrotated minilm-l3 vectors of the held-out texts: the audit recognises minilm-l3 among its
    candidates (the known minilm does not match), translates with least squares fitted on the
    public texts embedded by both (no leaked text), and so reaches the oracle translation's
    attribute accuracy, with no unsupervised fit."""
    simulate_leak("minilm-l3", "wordnet-definitions", "eval", N_LEAK, tmp_path / "leak")
    cfg = audit_cfg(tmp_path / "leak", tmp_path / "out", invert=False)
    rep = run(cfg)
    sel = rep["selection"]
    assert sel["chosen"] == "identified" and sel["identification"]["embedder"] == "minilm-l3"
    assert sel["identification"]["method"] == "lstsq-oracle"
    cands = sel["identification"]["candidates"]
    assert cands["minilm-l3"]["match"] and cands["minilm-l3"]["nn_ratio"] > 0.9
    assert not cands["minilm"]["match"]
    assert not (tmp_path / "out" / "translators" / "mini-vec2vec").exists()   # nothing unsupervised
    assert rep["ratios"]["oracle_translation"]["attribute_accuracy"] > 0.9
    # cosine to the true minilm vectors: 0.66 measured (2,000 public pairs, out of sample; the
    # oracle's 0.78 is fitted on the leaked pairs themselves, in sample); a wrong map scores ~0.1
    assert rep["translation_cosine_to_truth"] > 0.6
    html = (tmp_path / "out" / "report.html").read_text()
    assert "The leaked vectors match <b>minilm-l3</b>" in html and "identified as" in html
    # the known embedder's own vectors are identified as such and passed through unchanged
    simulate_leak("minilm", "wordnet-definitions", "eval", N_LEAK, tmp_path / "own")
    rep = run(audit_cfg(tmp_path / "own", tmp_path / "out-own", invert=False))
    assert rep["selection"]["identification"]["method"] == "identity"
    assert rep["translation_cosine_to_truth"] == pytest.approx(1.0, abs=1e-5)


def test_identify_statistics():
    """Real vectors: minilm's held-out vectors match minilm's public ones, not minilm-l3's nor a
    rotated copy; dimensions and the candidate list are checked."""
    from vec2vec.audit.identify import candidate_names, identify, match_stats
    from vec2vec.data.cache import embed

    leak = embed("minilm", "wordnet-definitions", "eval", limit=1000, progress=False)
    pub = {m: embed(m, "wordnet-definitions", "a", limit=2000, progress=False)
           for m in ("minilm", "minilm-l3")}
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((384, 384)))
    res = identify(leak, {**pub, "rotated": pub["minilm"] @ q.astype(np.float32),
                          "glove": np.ones((10, 50), np.float32)})
    c = res["candidates"]
    assert res["identified"] == "minilm"
    assert c["minilm"]["nn_ratio"] > 0.9 and c["minilm"]["mean_cos"] > 0.95
    assert c["minilm-l3"]["nn_ratio"] < 0.6 and not c["minilm-l3"]["match"]
    assert c["rotated"]["mean_cos"] < 0.5 and not c["rotated"]["match"]
    assert not c["glove"]["match"] and "dimension 50" in c["glove"]["note"]
    assert identify(leak, {"minilm-l3": pub["minilm-l3"]})["identified"] is None
    # int8 quantisation does not hide the model (a secret rotation does: "rotated" above)
    int8 = Defence("int8").fit(leak).transform(leak)
    assert identify(int8, pub)["identified"] == "minilm"
    assert candidate_names("auto", 384) == ["e5-small", "minilm", "minilm-l3"]
    assert candidate_names("auto", 768) == ["mpnet"] and candidate_names([], 384) == []
    with pytest.raises(ValueError, match="identify='yes'"):
        candidate_names("yes", 384)
    with pytest.raises(ValueError, match="NaN"):
        match_stats(np.full((5, 384), np.nan, np.float32), pub["minilm"])


@pytest.mark.slow
def test_identify_cli(tmp_path, capsys):
    """``vec2vec identify`` on a faiss index of minilm-l3 vectors: the table names the match and
    the JSON holds every candidate; a leak of a dimension no candidate has is a clear error."""
    import faiss

    from vec2vec.cli import main
    from vec2vec.data.cache import embed

    x = embed("minilm-l3", "wordnet-definitions", "eval", limit=1000, progress=False)
    index = faiss.IndexFlatIP(384)
    index.add(x)
    faiss.write_index(index, str(tmp_path / "leak.faiss"))
    out = tmp_path / "identify.json"
    assert main(["identify", f"input={tmp_path / 'leak.faiss'}", "public_n=2000",
                 "candidates=[minilm,minilm-l3,mpnet]", f"output={out}"]) == 0
    text = capsys.readouterr().out
    assert "minilm-l3" in text and "<- identified" in text
    res = json.loads(out.read_text())
    assert res["identified"] == "minilm-l3" and not res["candidates"]["minilm"]["match"]
    assert "dimension 768" in res["candidates"]["mpnet"]["note"]   # listed, but not embedded
    save_npy(tmp_path / "odd.npy", np.ones((10, 7), np.float32))
    assert main(["identify", f"input={tmp_path / 'odd.npy'}"]) == 1
    assert "no candidate embedder of dimension 7" in capsys.readouterr().err


# ----- bad input ---------------------------------------------------------------------------------
def test_bad_leaked_inputs(tmp_path, monkeypatch):
    import faiss  # a dependency of the package: missing is an error, not a skip
    x = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="need at least 1000"):
        save_npy(tmp_path / "few.npy", x)
        load_leaked(tmp_path / "few.npy", 1000)
    bad = x.copy()
    bad[5, 3] = np.nan
    save_npy(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="NaN|finite"):
        load_leaked(tmp_path / "nan.npy", 10)
    # indexes that do not keep their vectors: a clear error, not a crash inside faiss
    lsh = faiss.IndexLSH(16, 32)
    lsh.add(x)
    faiss.write_index(lsh, str(tmp_path / "lsh.faiss"))
    with pytest.raises(ValueError, match="hash/binary codes"):
        load_leaked(tmp_path / "lsh.faiss", 10)
    binary = faiss.IndexBinaryFlat(64)
    binary.add(np.packbits(x[:, :8] > 0, axis=1).repeat(8, axis=1)[:, :8])
    faiss.write_index_binary(binary, str(tmp_path / "binary.faiss"))
    with pytest.raises(ValueError, match="hash/binary codes"):
        load_leaked(tmp_path / "binary.faiss", 10)
    (tmp_path / "junk.faiss").write_bytes(b"not an index at all")
    with pytest.raises(ValueError, match="not a readable faiss index"):
        load_leaked(tmp_path / "junk.faiss", 10)
    save_npy(tmp_path / "cube.npy", np.ones((20, 4, 4), np.float32))
    with pytest.raises(ValueError, match="2-D array"):
        load_leaked(tmp_path / "cube.npy", 10)
    # a large index is memory-mapped (IO_FLAG_MMAP_IFC; "large" lowered to 0 bytes here) and read
    # back exactly; the mapping is visible in /proc/self/maps while the index is alive
    from vec2vec.data import vectors
    flat = faiss.IndexFlatIP(16)
    flat.add(x)
    faiss.write_index(flat, str(tmp_path / "flat.faiss"))
    monkeypatch.setattr(vectors, "MMAP_MIN_BYTES", 0)
    np.testing.assert_array_equal(load_leaked(tmp_path / "flat.faiss", 10), x)
    index = vectors.read_faiss_index(tmp_path / "flat.faiss")
    if Path("/proc/self/maps").is_file():
        assert str(tmp_path / "flat.faiss") in Path("/proc/self/maps").read_text()
    del index
    # IVF without a direct map and an ID-mapped flat index give the vectors in insertion order
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(16), 16, 4)
    ivf.train(np.tile(x, (40, 1)))
    ivf.add(x)
    faiss.write_index(ivf, str(tmp_path / "ivf.faiss"))
    np.testing.assert_array_equal(load_leaked(tmp_path / "ivf.faiss", 10), x)
    ivf_ids = faiss.IndexIVFFlat(faiss.IndexFlatL2(16), 16, 4)
    ivf_ids.train(np.tile(x, (40, 1)))
    ivf_ids.add_with_ids(x, np.arange(300) + 1000)
    faiss.write_index(ivf_ids, str(tmp_path / "ivf_ids.faiss"))
    with pytest.raises(ValueError, match="custom ids"):
        load_leaked(tmp_path / "ivf_ids.faiss", 10)
    idmap = faiss.IndexIDMap(faiss.IndexFlatIP(16))
    idmap.add_with_ids(x, np.arange(300) + 1000)
    faiss.write_index(idmap, str(tmp_path / "idmap.faiss"))
    np.testing.assert_array_equal(load_leaked(tmp_path / "idmap.faiss", 10), x)
    flat = faiss.IndexFlatIP(16)
    flat.add(x)
    faiss.write_index(flat, str(tmp_path / "flat.faiss"))
    np.testing.assert_array_equal(load_leaked(tmp_path / "flat.faiss", 10), x)
    (tmp_path / "junk.faiss").write_bytes(b"not an index")
    with pytest.raises(ValueError, match="not a readable faiss index"):
        load_leaked(tmp_path / "junk.faiss", 10)


def test_bad_truth_and_labels(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"text": "a"}\n{"text": "b", "label": "x"}\n')
    texts, labels = load_truth(tmp_path / "t.jsonl", 2)
    assert texts == ["a", "b"] and labels is None        # labels only when every record has one
    with pytest.raises(ValueError, match="3 leaked vectors"):
        load_truth(tmp_path / "t.jsonl", 3)
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: not valid JSON"):
        load_truth(tmp_path / "bad.jsonl", 2)
    (tmp_path / "l.txt").write_text("# my labels\nsports\npolitics\tnews about government\n")
    lab = load_labels(tmp_path / "l.txt")
    assert lab.names == ["sports", "politics"]
    assert lab.descriptions == ["sports", "news about government"]
    (tmp_path / "dup.txt").write_text("a\nb\na\n")
    with pytest.raises(ValueError, match="appears twice"):
        load_labels(tmp_path / "dup.txt")
    with pytest.raises(FileNotFoundError):
        load_labels(tmp_path / "missing.txt")
    assert len(load_labels(DEFAULT_LABELS).names) == 45


@pytest.mark.slow
def test_audit_refuses_a_missing_or_foreign_inverter_before_fitting(leak, tmp_path):
    """A missing inverter, or one made for vectors of another dimension, is refused at once:
    nothing is fitted first (no translators directory appears)."""
    cfg = audit_cfg(leak, tmp_path / "o", inverter=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="no inverter"):
        run(cfg)
    foreign = tmp_path / "mpnet-inverter"
    foreign.mkdir()
    (foreign / "inverter.json").write_text(json.dumps({"embedder": "mpnet", "emb_dim": 768}))
    with pytest.raises(ValueError, match="inverts 768-d vectors of 'mpnet'.*384-d"):
        run(audit_cfg(leak, tmp_path / "o2", inverter=str(foreign)))
    assert not (tmp_path / "o" / "translators").exists()
    assert not (tmp_path / "o2" / "translators").exists()


def test_infer_attributes_picks_nearest_description():
    lab = np.eye(3, dtype=np.float32)
    x = np.array([[0.1, 0.9, 0.0], [2.0, 0.0, 0.1]], dtype=np.float32)
    idx, cos = infer_attributes(x, lab)
    assert idx.tolist() == [1, 0] and cos[1] == pytest.approx(2 / np.sqrt(4.01), rel=1e-5)


# ----- defences ----------------------------------------------------------------------------------
def test_defences_contracts(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x + 0.05 * rng.standard_normal(x.shape).astype(np.float32)     # paired queries
    base = recall_at_k(x, q, 10)
    assert base > 0.95
    rot = Defence("rotation", seed=3).fit(x)
    y = rot.transform(x)
    np.testing.assert_allclose(y @ y.T, x @ x.T, atol=1e-5)          # geometry kept exactly
    assert recall_at_k(y, rot.transform_query(q), 10) == base
    assert not np.allclose(y, x)
    noisy = Defence("noise", 0.5, seed=1).fit(x)
    assert recall_at_k(noisy.transform(x), noisy.transform_query(q), 10) < base
    b = Defence("binary").fit(x).transform(x)
    assert set(np.unique(np.round(b * np.sqrt(32), 5))) == {-1.0, 1.0}
    i8 = Defence("int8").fit(x)
    err = np.abs(i8.transform(x) - x).max()
    assert 0 < err <= i8.state["scale"][0] / 2 + 1e-7
    p = Defence("pca", 8).fit(x)
    assert p.transform(x).shape == (400, 8)
    p.save(tmp_path / "p.defence")
    p2 = Defence.load(tmp_path / "p.defence")
    np.testing.assert_array_equal(p2.transform_query(q), p.transform_query(q))
    with pytest.raises(ValueError, match="needs param"):
        Defence("noise")
    with pytest.raises(ValueError, match="valid defences"):
        Defence("shuffle")
    with pytest.raises(ValueError, match="exceeds"):
        Defence("pca", 64).fit(x)
    with pytest.raises(ValueError, match="dimension"):
        rot.transform(x[:, :16])


def test_defend_cli(tmp_path, capsys):
    from vec2vec.cli import main

    x = np.random.default_rng(1).standard_normal((50, 12)).astype(np.float32)
    save_npy(tmp_path / "db.npy", x)
    out = tmp_path / "db_pca.npy"
    assert main(["defend", f"input={tmp_path / 'db.npy'}", f"output={out}", "defence=pca",
                 "param=4"]) == 0
    y = np.load(out)
    assert y.shape == (50, 4)
    d = Defence.load(tmp_path / "db_pca.defence")
    np.testing.assert_allclose(d.transform(x), y, atol=1e-6)
    assert main(["defend", f"input={tmp_path / 'db.npy'}", f"output={out}", "defence=pca",
                 "param=4"]) == 1                                   # refuses to overwrite
    assert "exists" in capsys.readouterr().err
    assert main(["defend", f"input={tmp_path / 'db.npy'}", f"output={tmp_path / 'n.npy'}",
                 "defence=noise"]) == 1
    assert "needs param" in capsys.readouterr().err


@pytest.mark.slow
def test_known_pairs_seed_and_measure_a_hard_leak(tmp_path, capsys):
    """A glove-50 leak audited with minilm: 100 known documents seed the translation and 20 of
    them, held out, measure it; the report carries the verdict, the measurement and, unless the
    verdict is aligned, the lower-bound warning. Attribute accuracy comes with its baselines."""
    leaked, truth = simulate_leak("glove-50", "wordnet-definitions", "eval", 1200, tmp_path)
    texts = [json.loads(line)["text"] for line in truth.read_text().splitlines()]
    (tmp_path / "pairs.jsonl").write_text("".join(
        json.dumps({"index": i, "text": texts[i]}) + "\n" for i in range(0, 1200, 12)))
    cfg = audit_cfg(tmp_path, tmp_path / "out", invert=False, identify=[],
                    known_pairs=str(tmp_path / "pairs.jsonl"), methods=["mini-vec2vec"])
    rep = run(cfg)
    tr = rep["translation"]
    kp = tr["known_pairs"]
    assert (kp["n"], kp["n_fit"], kp["n_holdout"]) == (100, 80, 20)
    assert kp["chosen"]["ab"]["top1"] > 5 * kp["chosen"]["top1_chance"]
    assert tr["verdict"]["label"] in ("aligned", "not_aligned", "uncertain")
    assert tr["lower_bound"] == (tr["verdict"]["label"] != "aligned")
    assert ("lower bound" in tr.get("warning", "")) == tr["lower_bound"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Translation verdict" in html and "held-out known pairs" in html
    lk = rep["leakage"]
    assert lk["attribute_chance"] == pytest.approx(1 / 45)
    assert 0 < lk["attribute_majority"] < 1 and 0 <= lk["attribute_macro_f1"] <= 1
    assert lk["attribute_lift"] == pytest.approx(
        lk["attribute_accuracy"] / max(lk["attribute_chance"], lk["attribute_majority"]))
    # bad known-pairs files are refused with the line and the fix
    (tmp_path / "bad.jsonl").write_text('{"index": 5000, "text": "x"}\n{"index": 1, "text": "y"}\n')
    with pytest.raises(ValueError, match="line 1: index 5000 is outside the 1200 leaked rows"):
        run(audit_cfg(tmp_path, tmp_path / "out2", invert=False, identify=[],
                      known_pairs=str(tmp_path / "bad.jsonl")))
