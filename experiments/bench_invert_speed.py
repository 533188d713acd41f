"""Training throughput (texts/s) of the inverter: the probe's recipe vs the engineered one.

    python experiments/bench_invert_speed.py steps=4 batch=32 threads=1

Variants, each a training step (forward + backward + AdamW) on real gcide definitions:
  probe      fp32 weights under bf16 autocast, logits at every position, random batches, k=16
  bf16       bf16 weights (no autocast casts), otherwise as probe
  +text-only + logits only at text positions (hand-applied head on a contiguous slice)
  +bucketing + length-bucketed batches (less padding)
  +k=8       + 8 pseudo-tokens instead of 16 (the shipped configuration)
Steps of the variants are interleaved round-robin so a shared, busy CPU slows them alike.
Writes experiments/results/bench_invert_speed.json and prints a table.
"""
from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inversion.backbone import load_backbone  # noqa: E402
from inversion.data import length_bucketed_batches  # noqa: E402
from inversion.model import InverterConfig, build_inverter  # noqa: E402
from vec2vec.corpora import get_texts  # noqa: E402
from vec2vec.io import write_json  # noqa: E402

DEFAULTS = dict(steps=4, batch=32, threads=1, seed=0, out="experiments/results/bench_invert_speed.json")


def full_logits_loss(model, e, ids):
    """The probe's loss: the LM head over every position, then slice the text positions."""
    ctx, cmask = model.context(e)
    labels = model.pad_targets(ids)
    T = labels.shape[1]
    tgt_in = labels[:, :-1].clamp(min=0)
    x = torch.cat([ctx, model._embed_tokens(tgt_in).to(ctx.dtype)], 1)
    mask = torch.cat([cmask, (labels[:, :-1] >= 0).long()], 1)
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    logits = model.lm(inputs_embeds=x, attention_mask=mask, position_ids=pos).logits[:, -T:]
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=-100)


def main(argv):
    cfg = dict(DEFAULTS)
    for a in argv:
        k, _, v = a.partition("=")
        cfg[k] = type(DEFAULTS[k])(v)
    torch.set_num_threads(cfg["threads"])
    texts = get_texts("gcide-definitions", "a", limit=4000)
    variants = {  # name: (dtype, autocast, text-only logits, bucketing, k)
        "probe (fp32+autocast, full logits, k=16)": ("float32", True, False, False, 16),
        "bf16 weights": ("bfloat16", False, False, False, 16),
        "+ text-only logits": ("bfloat16", False, True, False, 16),
        "+ length bucketing": ("bfloat16", False, True, True, 16),
        "+ k=8 (shipped)": ("bfloat16", False, True, True, 8),
    }
    models, batches = {}, {}
    for name, (dt, ac, text_only, bucket, k) in variants.items():
        torch.manual_seed(cfg["seed"])
        m = build_inverter(InverterConfig(dtype=dt, num_prefix=k), load_backbone(dtype=dt))
        m.train()
        ids = [x for x in m.tokenizer(texts, add_special_tokens=False).input_ids if len(x) <= 32]
        rng = np.random.default_rng(cfg["seed"])
        if bucket:
            bl = length_bucketed_batches([len(x) for x in ids], cfg["batch"], rng)
        else:
            perm = rng.permutation(len(ids))
            bl = [perm[i:i + cfg["batch"]] for i in range(0, len(perm), cfg["batch"])]
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
        models[name] = (m, opt, ac, text_only)
        batches[name] = [[ids[i] for i in b] for b in bl]
    times = {n: [] for n in variants}
    ntexts = {n: 0 for n in variants}
    for s in range(cfg["steps"] + 1):          # step 0 is warm-up, not timed
        for name, (m, opt, ac, text_only) in models.items():
            b = batches[name][s]
            e = torch.randn(len(b), 384)
            e = e / e.norm(dim=1, keepdim=True)
            t = time.time()
            amp = torch.autocast("cpu", dtype=torch.bfloat16) if ac else contextlib.nullcontext()
            with amp:
                loss = m.loss(e, b) if text_only else full_logits_loss(m, e, b)
            loss.backward()
            opt.step()
            opt.zero_grad()
            if s:
                times[name].append(time.time() - t)
                ntexts[name] += len(b)
    rows = []
    base = None
    print("| variant | texts/s | s/step | speed-up |\n|---|---|---|---|")
    for name in variants:
        tps = ntexts[name] / sum(times[name])
        base = base or tps
        rows.append({"variant": name, "texts_per_s": tps,
                     "s_per_step": float(np.mean(times[name])), "speedup": tps / base})
        print(f"| {name} | {tps:.2f} | {np.mean(times[name]):.2f} | {tps / base:.2f}x |")
    write_json(cfg["out"], {"config": cfg, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
