"""Training loop and `vec2vec train` / `vec2vec translate`: kill/resume equality, checkpoint
round trip and bad checkpoints, too little data, translate streaming and dimension checks.

Real vectors at small sizes: minilm (384) on split a vs glove-50 (50) on split b, so any mix-up of
the two spaces' dimensions fails loudly. The GAN here is tiny and random-init (no warm start):
these tests are about the machinery, the rotation control in test_gan.py about quality.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vec2vec.embed import embed
from vec2vec.train import check_batch, load_checkpoint, save_checkpoint, train_gan
from vec2vec.translate import translate_file
from vec2vec.translators.gan import GANTranslator

TINY = dict(warm_start=None, width=48, backbone_depth=1, in_depth=1, steps=30, batch_size=64,
            pseudo_pool=256, pseudo_refresh=10, w_gan=1.0, w_latent_gan=1.0, w_cycle_vsp=1.0,
            r1=0.1, dropout=0.1, disc_width=32, disc_depth=2, log_every=5, eval_every=10, threads=1)


@pytest.fixture(scope="module")
def data():
    xa = embed("minilm", "gcide-definitions", "a", limit=600, progress=False)
    xb = embed("glove-50", "gcide-definitions", "b", limit=600, progress=False)
    return xa, xb


def losses_only(history):
    return [{k: v for k, v in h.items() if not k.endswith("seconds")} for h in history]


def test_kill_and_resume_ends_at_the_same_numbers(data, tmp_path):
    xa, xb = data
    def score(t):  # a deterministic stand-in for the unsupervised criterion (keep-best path)
        return -float(np.abs(t.translate(xa[:64], "ab")).sum())

    full = GANTranslator(**TINY)
    train_gan(full, xa, xb, run_dir=tmp_path / "full", ckpt_every=10, score_fn=score)
    killed = GANTranslator(**TINY)
    train_gan(killed, xa, xb, run_dir=tmp_path / "run", ckpt_every=10, stop_after=17,
              score_fn=score)  # "kill" at 17
    assert json.loads((tmp_path / "run/checkpoint/state.json").read_text())["step"] == 10
    resumed = GANTranslator(**TINY)
    out = train_gan(resumed, xa, xb, run_dir=tmp_path / "run", ckpt_every=10, resume=True,
                    score_fn=score)
    assert sum("score" in h for h in full.history) == 4  # step 0 (warm start) + 10, 20, 30
    assert out["steps"] == 30
    for k, v in full.net.state_dict().items():
        assert torch.equal(v, resumed.net.state_dict()[k]), k
    assert losses_only(full.history) == losses_only(resumed.history)
    np.testing.assert_array_equal(full.translate(xa[:50], "ab"), resumed.translate(xa[:50], "ab"))
    assert (tmp_path / "run/curves.png").stat().st_size > 1000
    # a different run (no resume) really differs: the equality above is not vacuous
    other = GANTranslator(**{**TINY, "seed": 1})
    train_gan(other, xa, xb)
    assert not np.allclose(other.translate(xa[:50], "ab"), full.translate(xa[:50], "ab"))


def test_checkpoint_round_trip_and_bad_checkpoints(data, tmp_path):
    xa, xb = data
    tr = GANTranslator(**{**TINY, "steps": 6})
    train_gan(tr, xa, xb, run_dir=tmp_path, ckpt_every=3)
    ck = tmp_path / "checkpoint"
    # round trip: a fresh state loads every tensor back
    fresh = GANTranslator(**{**TINY, "steps": 6})
    st = _blank_state(fresh, xa, xb)
    load_checkpoint(ck, st)
    assert st["step"] == 6 and st["pairs"] is not None
    for k, v in tr.net.state_dict().items():
        assert torch.equal(v, fresh.net.state_dict()[k]), k
    save_checkpoint(tmp_path / "again", st)
    assert (tmp_path / "again/state.safetensors").read_bytes() == (ck / "state.safetensors").read_bytes()
    # another config is refused
    with pytest.raises(ValueError, match="different config"):
        train_gan(GANTranslator(**{**TINY, "steps": 6, "width": 40}), xa, xb, run_dir=tmp_path,
                  resume=True)
    # truncated weights
    raw = (ck / "state.safetensors").read_bytes()
    (ck / "state.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated or foreign"):
        train_gan(GANTranslator(**{**TINY, "steps": 6}), xa, xb, run_dir=tmp_path, resume=True)
    # a foreign JSON
    (ck / "state.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a vec2vec training checkpoint"):
        train_gan(GANTranslator(**{**TINY, "steps": 6}), xa, xb, run_dir=tmp_path, resume=True)
    (ck / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        train_gan(GANTranslator(**{**TINY, "steps": 6}), xa, xb, run_dir=tmp_path, resume=True)


def _blank_state(tr, xa, xb):
    from vec2vec.translators.gan import build_discriminators
    net = tr.build((xa.shape[1], xb.shape[1]))
    discs = build_discriminators({"a": xa.shape[1], "b": xb.shape[1]}, tr.config)
    return {"net": net, "discs": discs, "cfg": tr.config, "dims": tr.dims, "step": 0, "history": [],
            "elapsed": 0.0, "pairs": None,
            "opt_g": torch.optim.Adam(net.parameters()), "opt_d": torch.optim.Adam(discs.parameters()),
            "scaler_g": torch.amp.GradScaler("cuda", enabled=False),
            "scaler_d": torch.amp.GradScaler("cuda", enabled=False), "gen": torch.Generator()}


def test_too_few_vectors_for_the_batch(data):
    xa, xb = data
    with pytest.raises(ValueError, match="too few vectors for batch_size=64"):
        GANTranslator(**TINY).fit(xa[:40], xb)
    check_batch(64, 64, 64)  # exactly one batch is enough


@pytest.fixture(scope="module")
def trained(data):
    xa, xb = data
    return GANTranslator(**{**TINY, "steps": 3}).fit(xa, xb)


def test_translate_streaming_equals_in_memory(trained, data, tmp_path):
    xa, xb = data
    np.save(tmp_path / "in.npy", xa)
    stats = translate_file(trained, tmp_path / "in.npy", tmp_path / "out.npy", "ab", chunk=77)
    assert stats["rows"] == len(xa) and stats["dim_out"] == 50
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), trained.translate(xa, "ab"), atol=1e-6)
    with pytest.raises(ValueError, match="exists"):
        translate_file(trained, tmp_path / "in.npy", tmp_path / "out.npy", "ab")
    # faiss in, faiss out (b -> a)
    import faiss
    index = faiss.IndexFlatIP(50)
    index.add(xb)
    faiss.write_index(index, str(tmp_path / "b.faiss"))
    translate_file(trained, tmp_path / "b.faiss", tmp_path / "ba.faiss", "ba", chunk=100)
    out = faiss.read_index(str(tmp_path / "ba.faiss"))
    assert out.ntotal == len(xb) and out.d == 384
    np.testing.assert_allclose(out.reconstruct_n(0, out.ntotal), trained.translate(xb, "ba"), atol=1e-6)


def test_translate_refuses_dimension_mismatch_and_bad_files(trained, data, tmp_path):
    xa, xb = data
    np.save(tmp_path / "b.npy", xb)
    with pytest.raises(ValueError, match="dimension 50.*expects 384"):
        translate_file(trained, tmp_path / "b.npy", tmp_path / "o.npy", "ab")
    assert not (tmp_path / "o.npy").exists()
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    with pytest.raises(ValueError, match="junk.npy"):
        translate_file(trained, tmp_path / "junk.npy", tmp_path / "o.npy", "ab")
    with pytest.raises(FileNotFoundError):
        translate_file(trained, tmp_path / "missing.npy", tmp_path / "o.npy", "ab")


def test_cli_train_seeds_then_translate(data, tmp_path, capsys):
    """`vec2vec train` with two seeds writes the shared run layout, picks a seed without pairs,
    `resume=true` on a finished run retrains nothing, and `vec2vec translate` uses the run."""
    from vec2vec import rundir
    from vec2vec.cli import main

    run = tmp_path / "run"
    args = ["method=vec2vec", "source=minilm", "target=glove-50", "n_a=600", "n_b=600",
            f"run_dir={run}", "seeds=[0,1]", "progress=false", "method.warm_start=null",
            "method.steps=4", "method.width=32", "method.batch_size=64", "method.pseudo_pool=128",
            "method.threads=1", "ckpt_every=2"]
    assert main(["train", *args]) == 0
    cfg = rundir.read_config(run)
    assert cfg["method"] == "vec2vec" and cfg["seeds"] == [0, 1] and cfg["n_a"] == 600
    assert cfg["method_config"]["width"] == 32
    sel = json.loads((run / "selection.json").read_text())
    assert sel["chosen_seed"] in (0, 1) and set(sel["per_seed"]) == {"0", "1"}
    assert (run / "seeds/1/checkpoint/state.safetensors").is_file()
    assert (run / "seeds/0/curves.png").is_file()
    tr = rundir.load_translator(run)
    chosen = rundir.load_translator(run, sel["chosen_seed"])
    np.testing.assert_array_equal(tr.translate(data[0][:5], "ab"), chosen.translate(data[0][:5], "ab"))
    stamp = (run / "seeds/0/translator/weights.safetensors").stat().st_mtime_ns
    assert main(["train", *args, "resume=true"]) == 0
    assert (run / "seeds/0/translator/weights.safetensors").stat().st_mtime_ns == stamp
    # translate through the CLI, by embedder names
    np.save(tmp_path / "g.npy", data[1][:100])
    assert main(["translate", f"run_dir={run}", f"input={tmp_path / 'g.npy'}",
                 f"output={tmp_path / 'm.npy'}", "direction=glove-50:minilm", "chunk=33"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "m.npy"), tr.translate(data[1][:100], "ba"), atol=1e-6)
    assert json.loads((tmp_path / "m.npy.json").read_text())["to"] == "minilm"
    # a dimension mismatch is a clear CLI error, not a traceback
    assert main(["translate", f"run_dir={run}", f"input={tmp_path / 'g.npy'}",
                 f"output={tmp_path / 'x.npy'}", "direction=ab"]) == 1
    assert "dimension 50" in capsys.readouterr().err
    assert main(["train", "--help"]) == 0 and "seeds" in capsys.readouterr().out
