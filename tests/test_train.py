"""Training loop and `vec2vec train` / `vec2vec translate`: kill/resume equality, checkpoint
round trip and bad checkpoints, too little data, translate streaming and dimension checks.

Real vectors at small sizes: minilm (384) on split a vs glove-50 (50) on split b, so any mix-up of
the two spaces' dimensions fails loudly. The GAN here is tiny and random-init (no warm start):
these tests are about the machinery, the rotation control in test_gan.py about quality.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vec2vec.cli import main
from vec2vec.data.cache import embed
from vec2vec.train import run
from vec2vec.translators.gan import GANTranslator
from vec2vec.translators.gan.loop import check_batch, load_checkpoint, save_checkpoint, train_gan
from vec2vec.translators.stream import translate_file

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
    # data of another dimension (other embedders) is refused, naming both
    with pytest.raises(ValueError, match="dims .* do not match the data"):
        train_gan(GANTranslator(**{**TINY, "steps": 6}), xa[:, :-1], xb, run_dir=tmp_path, resume=True)
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
    from vec2vec.translators.gan.model import build_discriminators
    net = tr.build((xa.shape[1], xb.shape[1]))
    discs = build_discriminators({"a": xa.shape[1], "b": xb.shape[1]}, tr.config)
    return {"tr": tr, "net": net, "discs": discs, "cfg": tr.config, "dims": tr.dims, "step": 0, "history": [],
            "elapsed": 0.0, "pairs": None,
            "opt_g": torch.optim.Adam(net.parameters()), "opt_d": torch.optim.Adam(discs.parameters()),
            "scaler_g": torch.amp.GradScaler("cuda", enabled=False),
            "scaler_d": torch.amp.GradScaler("cuda", enabled=False), "gen": torch.Generator()}


def test_too_few_vectors_for_the_batch(data):
    xa, xb = data
    with pytest.raises(ValueError, match="too few vectors for batch_size=64"):
        GANTranslator(**TINY).fit(xa[:40], xb)
    check_batch(64, 64, 64)  # exactly one batch is enough


def test_keep_best_and_early_stopping(data, tmp_path):
    """A pair-free score that peaks at step 10 (scripted here: the loop's logic is under test, not
    the score): patience 2 stops at step 30 of 60, keep_best ends with the step-10 weights, and a
    resume of the stopped run trains no further."""
    xa, xb = data
    cfg = {**TINY, "steps": 60, "keep_best": True, "patience": 2}
    scores = iter([0.1, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1])
    states = {}

    def score(t):
        states[len(states) * 10] = {k: v.clone() for k, v in t.net.state_dict().items()}
        return next(scores)

    tr = GANTranslator(**cfg)
    out = train_gan(tr, xa, xb, run_dir=tmp_path, score_fn=score)
    assert out["steps"] == 30 and {"step": 30, "early_stop_step": 30} in out["history"]
    assert {"step": 30, "selected_step": 10} in out["history"]
    for k, v in tr.net.state_dict().items():
        assert torch.equal(v, states[10][k]), k
    again = GANTranslator(**cfg)
    assert train_gan(again, xa, xb, run_dir=tmp_path, resume=True, score_fn=score)["steps"] == 30
    for k, v in again.net.state_dict().items():     # the resumed run ends on the same best state
        assert torch.equal(v, states[10][k]), k
    # fit() scores with the selection criterion itself when patience/keep_best ask for it
    fitted = GANTranslator(**{**cfg, "patience": 1, "eval_every": 5}).fit(xa, xb)
    assert any("score" in h for h in fitted.history)
    with pytest.raises(ValueError, match="patience must be >= 0"):
        GANTranslator(**{**cfg, "patience": -1}).fit(xa, xb)


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


@pytest.mark.slow
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
    assert set(sel["per_seed"]) == {"0", "1"}
    # the kept seed is the arg-max of (aligned verdict, pair-free selection score)
    key = lambda s: (sel["per_seed"][str(s)]["verdict"]["label"] == "aligned",  # noqa: E731
                     sel["per_seed"][str(s)]["score"])
    assert sel["chosen_seed"] == max((0, 1), key=key)
    assert sel["verdict"] == sel["per_seed"][str(sel["chosen_seed"])]["verdict"]
    assert sel["verdict"]["label"] in ("aligned", "not_aligned", "uncertain")
    assert (run / "seeds/1/checkpoint/state.safetensors").is_file()
    assert (run / "seeds/0/curves.png").is_file()
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"   # both seeds overlaid
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


DDP_ARGS = ["method=vec2vec", "source=minilm", "target=glove-50", "n_a=600", "n_b=600",
            "progress=false", "method.warm_start=null", "method.steps=12", "method.width=32",
            "method.batch_size=64", "method.pseudo_pool=128", "method.pseudo_refresh=5",
            "method.threads=1", "method.w_gan=1.0", "method.w_latent_gan=1.0", "method.lr_g=3e-3",
            "method.warmup_steps=2", "method.log_every=1",
            # VSP compares pairs within a rank's half of the batch: off, so that the 2-process
            # run must reproduce the 1-process one (the other losses are per-row means)
            "method.w_vsp=0", "method.w_cycle_vsp=0", "method.eval_every=4", "ckpt_every=4"]


def _ddp_train_worker(rank: int, world: int, port: int, run_dir: str) -> None:
    """One process of a 2-process CPU job, as torchrun starts it: `vec2vec train` (train.run)."""
    import torch.distributed as dist

    from vec2vec import distributed
    from vec2vec.config import compose, to_dict
    from vec2vec.train import run

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    # one process group for both runs (torchrun runs one): a group destroyed and made again on
    # the same port races (a fast rank can join the old store before rank 0 has closed it)
    distributed.setup("cpu")
    sel = run(to_dict(compose("train", DDP_ARGS + [f"run_dir={run_dir}"])))
    assert (sel == {}) == (rank != 0)       # rank 0 alone reports
    run(to_dict(compose("train", DDP_ARGS + [f"run_dir={run_dir}-vsp", "method.w_vsp=1"])))
    _ddp_kill_and_resume(rank, f"{run_dir}-killed")
    dist.destroy_process_group()


def _ddp_kill_and_resume(rank: int, run_dir: str) -> None:
    """Both ranks of the job die at step 6 (after the step-4 checkpoint, before step 8's); the
    job started again with resume=true continues from rank 0's checkpoint."""
    from vec2vec import train
    from vec2vec.config import compose, to_dict
    from vec2vec.translators import gan

    whole = gan.train_gan

    def killed(*args, **kw):
        whole(*args, **{**kw, "stop_after": 6})
        raise KeyboardInterrupt("simulated kill at step 6")

    gan.train_gan = killed
    try:
        train.run(to_dict(compose("train", DDP_ARGS + [f"run_dir={run_dir}"])))
        raise AssertionError("the simulated kill did not happen")
    except KeyboardInterrupt:
        pass
    finally:
        gan.train_gan = whole
    seed_dir = Path(run_dir) / "seeds" / "0"
    ckpt = json.loads((seed_dir / "checkpoint/state.json").read_text())
    assert ckpt["step"] == 4 and not (seed_dir / "translator").exists(), rank
    train.run(to_dict(compose("train", DDP_ARGS + [f"run_dir={run_dir}", "resume=true"])))
    # it resumed rather than starting over: steps 0-4 are the checkpoint's, wall times included
    # (a fresh start would have measured new ones)
    after = json.loads((seed_dir / "checkpoint/state.json").read_text())["history"]
    assert after[:len(ckpt["history"])] == ckpt["history"], rank


@pytest.mark.slow
def test_gan_trains_data_parallel_like_one_process(data, tmp_path):
    """`torchrun ... train method=vec2vec` on CPU (gloo, 2 processes): each rank takes half of
    the global batch and DDP averages the gradients, so with per-row losses the run ends at the
    1-process weights (up to float summation order); rank 0 alone writes the run; a job killed
    mid-run resumes from rank 0's checkpoint to the same weights."""
    import socket

    import torch.multiprocessing as mp

    from vec2vec import rundir
    from vec2vec.config import compose, to_dict
    from vec2vec.data.io import load_safetensors
    from vec2vec.train import run

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_ddp_train_worker, args=(2, port, str(tmp_path / "ddp")), nprocs=2, join=True)
    run(to_dict(compose("train", DDP_ARGS + [f"run_dir={tmp_path / 'one'}"])))
    w_ddp, w_one = (load_safetensors(tmp_path / d / "translator/weights.safetensors")
                    for d in ("ddp", "one"))
    assert w_ddp.keys() == w_one.keys()
    for k in w_one:
        torch.testing.assert_close(w_ddp[k], w_one[k], atol=2e-4, rtol=1e-3, msg=k)
    state = json.loads((tmp_path / "ddp/seeds/0/checkpoint/state.json").read_text())
    assert state["step"] == 12
    # the job killed at step 6 and resumed from its step-4 checkpoint ends at the same numbers
    w_res = load_safetensors(tmp_path / "ddp-killed/translator/weights.safetensors")
    for k in w_ddp:
        assert torch.equal(w_res[k], w_ddp[k]), k
    resumed = json.loads((tmp_path / "ddp-killed/seeds/0/checkpoint/state.json").read_text())
    assert losses_only(resumed["history"]) == losses_only(state["history"])
    one = json.loads((tmp_path / "one/seeds/0/checkpoint/state.json").read_text())
    # the logged losses are the global batch's: the same as one process's
    for h_ddp, h_one in zip(state["history"], one["history"]):
        for k in ("rec", "cycle", "pseudo", "gan", "disc"):
            if k in h_one:
                assert h_ddp[k] == pytest.approx(h_one[k], rel=1e-3, abs=1e-5), (h_one["step"], k)
    assert sum("score" in h for h in state["history"]) == 4       # steps 0, 4, 8, 12
    assert rundir.read_config(tmp_path / "ddp")["method"] == "vec2vec"
    # training moved: the equalities above are not those of an untrained network
    logged = [h for h in one["history"] if "rec" in h]
    assert len(logged) == 12 and logged[-1]["total"] < logged[0]["total"] - 0.05
    # with VSP (pairs within a rank's half) the 2-process run differs: the batch was split
    run(to_dict(compose("train", DDP_ARGS + [f"run_dir={tmp_path / 'one-vsp'}", "method.w_vsp=1"])))
    v_ddp, v_one = (load_safetensors(tmp_path / d / "translator/weights.safetensors")
                    for d in ("ddp-vsp", "one-vsp"))
    assert max(float((v_ddp[k] - v_one[k]).abs().max()) for k in v_one) > 1e-3


@pytest.mark.slow
def test_known_pairs_seed_a_hard_pair_and_measure_it(tmp_path, capsys):
    """minilm -> glove-50 fails without pairs; 100 known pairs (80 seed the fit, 20 held out)
    make the held-out top-1 far above chance and above the pairs' own map, and selection.json
    reports the pair-free verdict beside that paired truth."""
    args = ["method=mini-vec2vec", "source=minilm", "target=glove-50", "n_a=1500", "n_b=1500",
            "progress=false", "known_pairs=100", "method.refine_rows=1500",
            f"run_dir={tmp_path / 'kp'}"]
    assert main(["train", *args]) == 0
    sel = json.loads((tmp_path / "kp" / "selection.json").read_text())
    kp = sel["known_pairs"]
    assert (kp["n"], kp["n_fit"], kp["n_holdout"]) == (100, 80, 20)
    quality = lambda m: sum(m[d]["top1"] + m[d]["cos"] for d in ("ab", "ba"))  # noqa: E731
    for d in ("ab", "ba"):
        assert kp["chosen"][d]["top1"] >= 0.3 > 4 * kp["chosen"]["top1_chance"]
    # the refined map, unless the pairs' own map does better on the held-out pairs
    assert quality(kp["chosen"]) >= quality(kp["pairs_only"]) - 1e-9
    assert sel["verdict"]["label"] in ("aligned", "not_aligned", "uncertain")
    assert "known pairs: 80 seeded the fit" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "kp" / "config.json").read_text())
    assert cfg["method_config"]["n_starts"] == 0      # the pairs' start alone was refined
    with pytest.raises(ValueError, match="known pairs work with method"):
        run({**cfg, "method": {"name": "muse"}, "run_dir": str(tmp_path / "m")})
