"""Training throughput (texts/s) of the inverter: the probe's recipe vs each engineering step.

    python -m benchmarks invert_speed steps=4 batch=32 threads=2

Variants (each adds one change to the one above; ``benchmarks/conf/invert_speed.yaml``):
  probe          fp32 weights under bf16 autocast, logits at every position, random batches, k=16
  bf16           bf16 weights (no autocast casts)
  +text-only     logits only at text positions (hand-applied head on a contiguous slice)
  +bucketing     length-bucketed batches by target length (less padding)
  +k=8           8 pseudo-tokens per vector role instead of 16
  +row padding   a causal row is one left-padded sequence, corrector batches bucketed by
                 hypothesis + target length
  +eager         eager attention instead of torch's SDPA (the CPU default of invert-train now)
Writes JSON and prints a table. The whole-run figure (data parallel over two processes with
torchrun) is in a training run's log.jsonl.
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

from benchmarks.common import output_path, write_result

# name: (weights dtype, autocast, loss layout, batching, k, attention)
VARIANTS = {
    "probe (fp32+autocast, full logits, k=16)": ("float32", True, "full", "random", 16, "sdpa"),
    "bf16 weights": ("bfloat16", False, "full", "random", 16, "sdpa"),
    "+ text-only logits": ("bfloat16", False, "split", "random", 16, "sdpa"),
    "+ length bucketing": ("bfloat16", False, "split", "target", 16, "sdpa"),
    "+ k=8": ("bfloat16", False, "split", "target", 8, "sdpa"),
    "+ row padding, corrector bucketing": ("bfloat16", False, "rows", "context", 8, "sdpa"),
    "+ eager attention (now)": ("bfloat16", False, "rows", "context", 8, "eager"),
}


def split_layout_loss(model, batch: dict, full_logits: bool):
    """The loss as computed before rows were padded whole: the context left-padded, the target
    right-padded after it (so a batch pads to the longest context plus the longest target);
    ``full_logits`` applies the LM head at every position (the probe) instead of the text ones."""
    import torch
    import torch.nn.functional as F

    ctx, cmask = model.context(batch["e"], batch.get("e_hat"), batch.get("hyp_ids"))
    labels = model.pad_targets(batch["target_ids"])
    T = labels.shape[1]
    tgt_in = labels[:, :-1].clamp(min=0)
    x = torch.cat([ctx, model._embed_tokens(tgt_in).to(ctx.dtype)], 1)
    mask = torch.cat([cmask, (labels[:, :-1] >= 0).long()], 1)
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    if full_logits:
        logits = model.lm(inputs_embeds=x, attention_mask=mask, position_ids=pos).logits[:, -T:]
    else:
        causal = model.base_lm
        h = causal.base_model(inputs_embeds=x, attention_mask=mask, position_ids=pos,
                              use_cache=False).last_hidden_state
        logits = causal.get_output_embeddings()(h[:, -T:].reshape(-1, h.shape[-1]).contiguous())
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=-100)


def variant_batches(ts, batching: str, cfg: dict) -> dict[bool, list[np.ndarray]]:
    """Row batches of each step kind (False: hypothesiser, True: corrector) for one variant."""
    from inversion.data import length_bucketed_batches
    from inversion.train import epoch_batches

    rng = np.random.default_rng(cfg["seed"])
    if batching == "context":
        return {c: epoch_batches(ts, c, 0, cfg["seed"], cfg["batch"])[0] for c in (False, True)}
    if batching == "target":
        bl = length_bucketed_batches([len(x) for x in ts.ids], cfg["batch"], rng)
    else:
        perm = rng.permutation(len(ts))
        bl = [perm[i:i + cfg["batch"]] for i in range(0, len(perm), cfg["batch"])]
    return {False: bl[0::2], True: bl[1::2]}


def run(cfg: dict) -> dict:
    import torch

    from inversion.backbone import load_backbone
    from inversion.data import build_textset
    from inversion.model import InverterConfig, build_inverter
    from inversion.train import corrector_plan, epoch_batches, make_batch
    from vec2vec.runtime import thread_limit

    out = output_path(cfg, "invert_speed.json")
    runs, ts = {}, None
    times = {n: [] for n in VARIANTS}
    ntexts = {n: 0 for n in VARIANTS}
    with thread_limit(cfg["threads"]):
        for name, (dt, ac, layout, batching, k, attn) in VARIANTS.items():
            torch.manual_seed(cfg["seed"])
            m = build_inverter(InverterConfig(dtype=dt, num_prefix=k), load_backbone(dtype=dt))
            m.set_attention(attn)
            m.train()
            if ts is None:
                ts = build_textset(m.tokenizer, [{"corpus": "gcide-definitions", "split": "a",
                                                  "limit": cfg["n"]}], "minilm", 32)
            # the corrector's hypothesis per row: one draw shared by the earlier variants; the
            # row-padded ones bucket by it, so theirs comes from epoch_batches (same distribution)
            plan = epoch_batches(ts, True, 0, cfg["seed"], cfg["batch"])[1] \
                if batching == "context" else corrector_plan(ts, np.random.default_rng(cfg["seed"]))
            opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
            runs[name] = dict(model=m, opt=opt, ac=ac, layout=layout, plan=plan,
                              batches=variant_batches(ts, batching, cfg))
        for s in range(2 * (cfg["steps"] + 1)):       # the first pair is warm-up, not timed
            corrector = bool(s % 2)
            for name, r in runs.items():
                rows = r["batches"][corrector][s // 2]
                batch = make_batch(ts, rows, r["plan"] if corrector else None, "cpu")
                m = r["model"]
                t = time.time()
                amp = (torch.autocast("cpu", dtype=torch.bfloat16) if r["ac"]
                       else contextlib.nullcontext())
                with amp:
                    loss = m.loss(**batch) if r["layout"] == "rows" else \
                        split_layout_loss(m, batch, full_logits=r["layout"] == "full")
                loss.backward()
                r["opt"].step()
                r["opt"].zero_grad()
                if s >= 2:
                    times[name].append(time.time() - t)
                    ntexts[name] += len(rows)
    rows_out, base = [], None
    print(f"| variant | texts/s ({cfg['threads']} threads) | s/step | speed-up |\n|---|---|---|---|")
    for name in VARIANTS:
        tps = ntexts[name] / sum(times[name])
        base = base or tps
        rows_out.append({"variant": name, "texts_per_s": tps,
                         "s_per_step": float(np.mean(times[name])), "speedup": tps / base})
        print(f"| {name} | {tps:.2f} | {np.mean(times[name]):.2f} | {tps / base:.2f}x |")
    payload = {"config": cfg, "rows": rows_out,
               "steps": "hypothesiser and corrector steps alternate"}
    write_result(out, payload)
    print(f"wrote {out}")
    return payload
