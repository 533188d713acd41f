"""Training loop for the inverter (hypothesiser and corrector in one network).

nanoGPT-style: one loop, AdamW with linear warm-up and cosine decay, held-out loss every
``eval_every`` steps, atomic checkpoints every ``save_minutes`` minutes (and at the end), resume from
``run_dir`` when a checkpoint is there. Each step is either a hypothesiser batch (context: e) or,
with probability ``corrector_frac``, a corrector batch (context: e, e_hat, e - e_hat, hypothesis).

Run directory::

    config.json            full config + command line (written at start)
    inverter.json          architecture (InverterConfig) + training metadata of the saved weights
    inverter.safetensors   trainable weights of the latest checkpoint (fp32)
    best.safetensors       trainable weights with the lowest held-out loss so far
    optim.safetensors      AdamW state + step counter (for resume)
    log.jsonl              one JSON line per log interval / eval
    curves.png             training and held-out losses, texts/s, lr (redrawn at each eval)
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vec2vec.io import load_safetensors, read_json, save_safetensors, write_json
from vec2vec.runtime import pick_device, set_seed

from .data import TextSet, build_textset, length_bucketed_batches
from .model import Inverter, InverterConfig, build_inverter

ARCH_KEYS = tuple(InverterConfig().to_dict())


def arch_config(cfg: dict) -> InverterConfig:
    """The :class:`InverterConfig` part of a flat training config."""
    return InverterConfig(**{k: cfg[k] for k in ARCH_KEYS if k in cfg})


# ----- checkpoints ---------------------------------------------------------------------------------
def save_checkpoint(run_dir: Path, model: Inverter, opt, step: int, meta: dict,
                    best: bool = False) -> None:
    """Write weights, optimiser state and metadata atomically (each file replaced whole)."""
    state = {k: v.detach().float() for k, v in model.trainable_state().items()}
    save_safetensors(run_dir / "inverter.safetensors", state)
    if best:
        save_safetensors(run_dir / "best.safetensors", state)
    names = {id(p): n for n, p in model.trainable_state().items()}
    ost = {"step": torch.tensor(step)}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if st:
                n = names[id(p)]
                ost[f"{n}::exp_avg"] = st["exp_avg"]
                ost[f"{n}::exp_avg_sq"] = st["exp_avg_sq"]
                ost[f"{n}::step"] = torch.as_tensor(st["step"]).float().reshape(())
    save_safetensors(run_dir / "optim.safetensors", ost)
    write_json(run_dir / "inverter.json", {**model.cfg.to_dict(), **meta, "step": step})


def load_optimizer(run_dir: Path, model: Inverter, opt) -> int:
    """Restore AdamW state saved by :func:`save_checkpoint`; returns the step to resume from."""
    ost = load_safetensors(run_dir / "optim.safetensors")
    for n, p in model.trainable_state().items():
        if f"{n}::exp_avg" in ost:
            opt.state[p] = {"exp_avg": ost[f"{n}::exp_avg"].to(p.dtype),
                            "exp_avg_sq": ost[f"{n}::exp_avg_sq"].to(p.dtype),
                            "step": ost[f"{n}::step"].clone()}
    return int(ost["step"])


def load_inverter(path: str | os.PathLike, weights: str = "best", embedder: str | None = None,
                  backbone=None) -> Inverter:
    """Load a trained inverter from a run or weights directory (``inverter.json`` + weights).

    weights: ``"best"`` (``best.safetensors`` if present) or ``"last"`` (``inverter.safetensors``).
    embedder: if given, must match the embedder the inverter was trained for.
    """
    path = Path(path)
    meta = read_json(path / "inverter.json")
    cfg = arch_config(meta)
    if embedder is not None and embedder != cfg.embedder:
        raise ValueError(f"{path}: this inverter was trained for embedder {cfg.embedder!r}, "
                         f"not {embedder!r}; pick a run_dir trained on {embedder!r}")
    f = path / "best.safetensors"
    if weights == "last" or not f.is_file():
        f = path / "inverter.safetensors"
    model = build_inverter(cfg, backbone)
    model.load_trainable_state(load_safetensors(f))
    model.eval()
    return model


def arch_diff(path: Path, arch: InverterConfig) -> dict:
    """{key: (saved, wanted)} for every architecture key where ``path/inverter.json`` differs.

    Keys a checkpoint predates (written before the option existed) count as their default, so
    adding an option does not orphan older runs and the shipped weights."""
    old = arch_config(read_json(path / "inverter.json")).to_dict()
    return {k: (old[k], v) for k, v in arch.to_dict().items() if old[k] != v}


def init_weights(model: Inverter, path: str | os.PathLike, arch: InverterConfig) -> Path:
    """Start a fresh run from another inverter's trained weights (``best`` if present); returns
    the weights file used.

    The architectures must match (same projector, LoRA and backbone): e.g. a second phase that
    trains the corrector on the first phase's own hypotheses."""
    path = Path(path)
    diff = arch_diff(path, arch)
    if diff:
        raise ValueError(f"init_from={path}: architecture differs from this run's: {diff}")
    f = path / "best.safetensors"
    f = f if f.is_file() else path / "inverter.safetensors"
    model.load_trainable_state(load_safetensors(f))
    return f


def own_hypotheses(prefix: Path, model: Inverter, ts: TextSet, arch: InverterConfig,
                   cfg: dict, init_file: Path | None, resume: bool) -> None:
    """Attach the model's own hypotheses to ``ts``, generated once and cached at ``prefix``
    (``.json`` texts + key, ``.safetensors`` vectors), so a resumed run trains on the same ones
    (generated by the weights the run started from, not by its later checkpoints).

    The cache is used when its texts and settings match, and, in a fresh run, when it was made
    by the same init weights (``init_file``'s sha256); a resumed run keeps its own cache."""
    from vec2vec.corpora import texts_hash
    from vec2vec.io import file_sha256

    from .data import attach_hypotheses, generate_hypotheses

    sampled = int(cfg.get("own_hyp_sampled") or 0)
    key = {"texts_sha256": texts_hash(ts.texts), "sampled": sampled, "embedder": arch.embedder}
    init = {"init_sha256": file_sha256(init_file) if init_file else None}
    meta_f, vec_f = prefix.with_suffix(".json"), prefix.with_suffix(".safetensors")
    old = read_json(meta_f) if meta_f.is_file() and vec_f.is_file() else {}
    if old.get("key") == key and (resume or old.get("init") == init):
        texts, vecs = old["texts"], load_safetensors(vec_f)["vectors"].numpy()
    else:
        print(f"[invert-train] generating own hypotheses for {len(ts)} {prefix.name} texts "
              f"(greedy + {sampled} sampled each)", flush=True)
        texts, vecs = generate_hypotheses(model, ts, arch.embedder, sampled,
                                          progress=cfg.get("progress", True))
        save_safetensors(vec_f, {"vectors": torch.from_numpy(vecs)})
        write_json(meta_f, {"key": key, "init": init, "texts": texts})
    attach_hypotheses(ts, model.tokenizer, texts, vecs, arch.max_tokens)
    model.train()


# ----- the loop ------------------------------------------------------------------------------------
def lr_at(step: int, cfg: dict) -> float:
    """Linear warm-up then cosine decay to 10% of ``lr`` at ``max_steps``."""
    if step < cfg["warmup"]:
        return cfg["lr"] * (step + 1) / cfg["warmup"]
    frac = min(1.0, (step - cfg["warmup"]) / max(1, cfg["max_steps"] - cfg["warmup"]))
    return cfg["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def make_batch(ts: TextSet, rows: np.ndarray, corrector: bool, rng: np.random.Generator,
               device: str, own_frac: float = 0.0) -> dict:
    """Tensors for one step. Corrector rows get a hypothesis: with probability ``own_frac`` one
    of the inverter's own hypotheses for that row (``ts.hyp_ids``), else a random
    nearest-neighbour text."""
    e = torch.from_numpy(ts.vectors[rows]).to(device)
    batch = {"e": e, "target_ids": [ts.ids[i] for i in rows]}
    if corrector:
        if ts.neighbours is None or ts.neighbours.shape[1] == 0:
            raise ValueError("corrector batches need neighbours in the TextSet")
        col = rng.integers(0, ts.neighbours.shape[1], size=len(rows))
        hyp = ts.neighbours[rows, col]
        e_hat, hyp_ids = ts.vectors[hyp], [ts.ids[j] for j in hyp]
        if own_frac > 0 and ts.hyp_ids is not None:
            # drawn only when own hypotheses are on: runs without them keep their random stream
            h = len(ts.hyp_ids) // len(ts)
            own = rng.random(len(rows)) < own_frac
            pick = np.asarray(rows) * h + rng.integers(0, h, size=len(rows))
            e_hat = np.where(own[:, None], ts.hyp_vectors[pick], e_hat)
            hyp_ids = [ts.hyp_ids[p] if o else x for o, p, x in zip(own, pick, hyp_ids)]
        batch["e_hat"] = torch.from_numpy(np.ascontiguousarray(e_hat, np.float32)).to(device)
        batch["hyp_ids"] = hyp_ids
    return batch


@torch.no_grad()
def heldout_loss(model: Inverter, ts: TextSet, batch_size: int, device: str,
                 corrector: bool = False, seed: int = 0, own_frac: float = 0.0) -> float:
    """Mean loss over a fixed held-out TextSet (deterministic hypotheses for the corrector)."""
    model.eval()
    rng = np.random.default_rng(seed)
    tot, n = 0.0, 0
    for s in range(0, len(ts), batch_size):
        rows = np.arange(s, min(s + batch_size, len(ts)))
        b = make_batch(ts, rows, corrector, rng, device, own_frac)
        tot += float(model.loss(**b)) * len(rows)
        n += len(rows)
    model.train()
    return tot / max(n, 1)


def train(cfg: dict, train_set: TextSet | None = None, val_set: TextSet | None = None,
          backbone=None) -> Path:
    """Train (or resume) an inverter in ``cfg["run_dir"]``; returns the run directory.

    ``train_set``/``val_set`` default to the corpora in ``cfg["sources"]``/``cfg["val_sources"]``
    embedded through the ``vec2vec.embed`` cache. Stops at ``max_steps`` or after ``max_minutes``.
    """
    run_dir = Path(cfg["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(cfg.get("threads") or torch.get_num_threads()))
    set_seed(int(cfg["seed"]))
    device = pick_device(cfg.get("device", "auto"))
    arch = arch_config(cfg)
    resume = (run_dir / "optim.safetensors").is_file() and cfg.get("resume", True)
    if resume:
        diff = arch_diff(run_dir, arch)
        if diff:
            raise ValueError(f"{run_dir}: cannot resume, architecture differs from the saved "
                             f"checkpoint: {diff}; use a new run_dir")
    write_json(run_dir / "config.json", {**cfg, "argv": sys.argv})

    model = build_inverter(arch, backbone).to(device)
    tok = model.tokenizer
    if train_set is None:
        train_set = build_textset(tok, cfg["sources"], arch.embedder, arch.max_tokens,
                                  seed=int(cfg.get("corpus_seed", 0)))
    if val_set is None:
        val_set = build_textset(tok, cfg["val_sources"], arch.embedder, arch.max_tokens,
                                seed=int(cfg.get("corpus_seed", 0)))
    if train_set.vectors.shape[1] != arch.emb_dim:
        raise ValueError(f"training vectors have dim {train_set.vectors.shape[1]}, config "
                         f"emb_dim={arch.emb_dim}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg.get("weight_decay", 0.0),
                            betas=(0.9, 0.99))
    step, best = 0, float("inf")
    if resume:
        model.load_trainable_state(load_safetensors(run_dir / "inverter.safetensors"))
        step = load_optimizer(run_dir, model, opt)
        best = float(read_json(run_dir / "inverter.json").get("best_val_loss", float("inf")))
    init_file = init_weights(model, cfg["init_from"], arch) \
        if cfg.get("init_from") and not resume else None
    own_frac = float(cfg.get("own_hyp_frac") or 0.0)
    if own_frac > 0:
        for name, ts in (("train", train_set), ("val", val_set)):
            own_hypotheses(run_dir / f"hypotheses-{name}", model, ts, arch, cfg, init_file, resume)
    print(f"[invert-train] {len(train_set)} train texts, {len(val_set)} held-out, "
          f"{sum(p.numel() for p in params) / 1e6:.2f}M trainable, starting at step {step}",
          flush=True)

    meta = {"train_texts": len(train_set), "seed": cfg["seed"], "command": " ".join(sys.argv),
            "best_val_loss": best}
    bs = int(cfg["batch_size"])
    lengths = [len(x) for x in train_set.ids]
    epoch_batches: list = []
    epoch = -1
    t0, seen, last_save = time.time(), 0, time.time()
    log = open(run_dir / "log.jsonl", "a")
    from tqdm import tqdm

    bar = tqdm(total=cfg["max_steps"], initial=step, disable=not cfg.get("progress", True),
               dynamic_ncols=True)
    model.train()
    while step < cfg["max_steps"]:
        # the batch order is a pure function of (seed, epoch), so resume lands on the same batch
        e_idx, b_idx = divmod(step, max(1, len(train_set) // bs))
        if e_idx != epoch:
            epoch = e_idx
            epoch_batches = length_bucketed_batches(lengths, bs,
                                                    np.random.default_rng([cfg["seed"], epoch]))
        rows = epoch_batches[b_idx % len(epoch_batches)]
        rng = np.random.default_rng([cfg["seed"], step])
        corrector = rng.random() < cfg.get("corrector_frac", 0.0)
        batch = make_batch(train_set, rows, corrector, rng, device, own_frac)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        loss = model.loss(**batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.get("grad_clip", 1.0))
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        seen += len(rows)
        rate = seen / (time.time() - t0)
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", kind="corr" if corrector else "hyp",
                        tps=f"{rate:.1f}")
        if step % cfg.get("log_every", 10) == 0:
            log.write(json.dumps({"step": step, "loss": loss.item(), "corrector": corrector,
                                  "texts_per_s": rate, "lr": lr_at(step, cfg),
                                  "time": time.time()}) + "\n")
            log.flush()
        is_eval = step % cfg["eval_every"] == 0 or step == cfg["max_steps"]
        out_of_time = (time.time() - t0) / 60 > cfg.get("max_minutes", float("inf"))
        if is_eval or out_of_time:
            vl = heldout_loss(model, val_set, bs, device)
            vc = heldout_loss(model, val_set, bs, device, corrector=True, own_frac=own_frac)
            improved = vl < best
            best = min(best, vl)
            meta["best_val_loss"] = best
            rec = {"step": step, "val_loss": vl, "val_corrector_loss": vc, "texts_per_s": rate}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(f"\n[invert-train] step {step}: held-out loss {vl:.3f} (corrector {vc:.3f}), "
                  f"{rate:.1f} texts/s", flush=True)
            save_checkpoint(run_dir, model, opt, step, meta, best=improved)
            try:
                plot_log(run_dir)
            except Exception as exc:  # a figure is not worth a training run
                print(f"[invert-train] curves.png not drawn: {exc!r}", flush=True)
            last_save = time.time()
        elif (time.time() - last_save) / 60 > cfg.get("save_minutes", 10):
            save_checkpoint(run_dir, model, opt, step, meta)
            last_save = time.time()
        if out_of_time:
            print(f"[invert-train] max_minutes={cfg['max_minutes']} reached at step {step}",
                  flush=True)
            break
    bar.close()
    log.close()
    save_checkpoint(run_dir, model, opt, step, meta)
    return run_dir


def plot_log(run_dir: str | os.PathLike) -> Path:
    """Draw ``run_dir/log.jsonl`` (every run segment, resumes included) into ``run_dir/curves.png``:
    training loss of hypothesiser and corrector steps, held-out losses, texts/s and learning rate
    against the step."""
    from vec2vec.train import plot_curves

    # keyed by (kind, step): a run resumed from an earlier checkpoint logs some steps twice, and
    # the later record (the one the weights continue from) wins
    points: dict[tuple, dict] = {}
    for line in (Path(run_dir) / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "val_loss" in rec:
            points["val", rec["step"]] = {k: rec[k] for k in ("step", "val_loss",
                                                             "val_corrector_loss")}
        elif "loss" in rec:
            kind = "train_loss_corrector" if rec.get("corrector") else "train_loss_hypothesiser"
            points["train", rec["step"]] = {"step": rec["step"], kind: rec["loss"],
                                            "lr": rec["lr"], "texts_per_s": rec["texts_per_s"]}
    history = sorted(points.values(), key=lambda h: h["step"])
    out = Path(run_dir) / "curves.png"
    plot_curves(history, out)
    return out


def export_weights(run_dir: str | os.PathLike, out_dir: str | os.PathLike,
                   weights: str = "best", note: dict | None = None) -> Path:
    """Copy a run's trainable weights (bf16) + its configs into a small shippable directory.

    ``out_dir`` gets ``inverter.safetensors`` (bf16), ``inverter.json`` (architecture + training
    metadata + ``note``) and ``train_config.json`` (the full training config and command).
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    src = run_dir / ("best.safetensors" if weights == "best" else "inverter.safetensors")
    if not src.is_file():
        src = run_dir / "inverter.safetensors"
    state = {k: v.to(torch.bfloat16) for k, v in load_safetensors(src).items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_safetensors(out_dir / "inverter.safetensors", state,
                     metadata={"source": src.name, "dtype": "bfloat16"})
    meta = read_json(run_dir / "inverter.json")
    write_json(out_dir / "inverter.json", {**meta, "weights_from": src.name, **(note or {})})
    write_json(out_dir / "train_config.json", read_json(run_dir / "config.json"))
    return out_dir
