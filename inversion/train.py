"""Training loop for the inverter (hypothesiser and corrector in one network).

nanoGPT-style: one loop, AdamW with linear warm-up and cosine decay, held-out loss every
``eval_every`` steps, atomic checkpoints every ``save_minutes`` minutes (and at the end), ``resume=true``
continues ``run_dir`` from its checkpoint. Each step is either a hypothesiser batch (context: e) or,
with probability ``corrector_frac``, a corrector batch (context: e, e_hat, e - e_hat, hypothesis).
Several processes train data-parallel when launched by ``torchrun`` (``vec2vec/distributed.py``):

    torchrun --standalone --nproc_per_node=2 -m vec2vec.cli invert-train threads=1 run_dir=DIR ...

On this 2-core CPU that ran 25 texts/s against 21 for one process on two threads.

Run directory::

    config.json            full config + command line (written at start)
    checkpoint/            the resumable state as one unit (vec2vec.training.write_checkpoint):
                           weights, best weights, AdamW state, RNG, step and metadata
    inverter.json          architecture (InverterConfig) + training metadata of the saved weights
    inverter.safetensors   trainable weights of the latest checkpoint (fp32)
    best.safetensors       trainable weights with the lowest held-out loss so far
    log.jsonl              one JSON line per log interval / eval
    curves.png             training and held-out losses, texts/s, lr (redrawn at each eval)
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from inversion.data import (
    TextSet,
    attach_hypotheses,
    build_textset,
    generate_hypotheses,
    length_bucketed_batches,
)
from inversion.model import Inverter, InverterConfig, build_inverter
from vec2vec import distributed, training
from vec2vec.data.corpora import texts_hash
from vec2vec.data.io import file_sha256, load_safetensors, read_json, save_safetensors, write_json
from vec2vec.distributed import Dist, all_sum, shard
from vec2vec.runtime import pick_device, set_seed

ARCH_KEYS = tuple(InverterConfig().to_dict())


def arch_config(cfg: dict) -> InverterConfig:
    """The :class:`InverterConfig` part of a flat training config."""
    return InverterConfig(**{k: cfg[k] for k in ARCH_KEYS if k in cfg})


# ----- checkpoints ---------------------------------------------------------------------------------
CKPT_FORMAT = "vec2vec-inverter-checkpoint"
CKPT_VERSION = 1
CHECKPOINT = "checkpoint"      # run_dir/checkpoint/: the resumable state, written as one unit


def save_checkpoint(run_dir: Path, model: Inverter, opt, step: int, meta: dict,
                    best_state: dict) -> None:
    """Write the training state as one directory (``run_dir/checkpoint``: weights, best weights,
    optimiser, RNG, metadata; :func:`vec2vec.training.write_checkpoint`, atomic as a whole), then
    export the loadable inverter beside it (``inverter.json``, ``inverter.safetensors``,
    ``best.safetensors``; each file replaced atomically, and re-exported on resume)."""
    state = {k: v.detach().float() for k, v in model.trainable_state().items()}
    tensors = {f"model/{k}": v for k, v in state.items()}
    tensors |= {f"best/{k}": v for k, v in best_state.items()}
    opt_tensors, opt_meta = training.optimizer_tensors("opt", opt)
    tensors |= opt_tensors | training.rng_tensors()
    info = {**model.cfg.to_dict(), **meta, "step": step}
    training.write_checkpoint(run_dir / CHECKPOINT, tensors,
                              {"inverter": info, "optimizer": opt_meta}, CKPT_FORMAT, CKPT_VERSION)
    export_checkpoint(run_dir)


def export_checkpoint(run_dir: Path) -> None:
    """The loadable inverter files of ``run_dir`` from its checkpoint directory."""
    tensors, meta = training.read_checkpoint(run_dir / CHECKPOINT, CKPT_FORMAT, CKPT_VERSION,
                                           "vec2vec inverter")
    best = training.prefixed(tensors, "best")
    save_safetensors(run_dir / "inverter.safetensors", training.prefixed(tensors, "model"))
    if best:
        save_safetensors(run_dir / "best.safetensors", best)
    write_json(run_dir / "inverter.json", meta["inverter"])


def load_checkpoint(run_dir: Path, model: Inverter, opt) -> tuple[int, dict, dict]:
    """Restore weights, optimiser and RNG saved by :func:`save_checkpoint`; returns (the step to
    resume from, the saved metadata, the best weights so far)."""
    tensors, meta = training.read_checkpoint(run_dir / CHECKPOINT, CKPT_FORMAT, CKPT_VERSION,
                                           "vec2vec inverter")
    model.load_trainable_state(training.prefixed(tensors, "model"))
    opt.load_state_dict(training.optimizer_state("opt", tensors, meta["optimizer"]))
    training.set_rng(tensors)
    return int(meta["inverter"]["step"]), meta["inverter"], training.prefixed(tensors, "best")


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
def corrector_plan(ts: TextSet, rng: np.random.Generator, own_frac: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The hypothesis every row of ``ts`` is paired with in corrector steps (one draw per epoch).

    Returns (own [n] bool, idx [n] int): where ``own`` is False, ``idx`` is a row of ``ts`` (one of
    its nearest-neighbour texts, drawn uniformly); where True (probability ``own_frac``, only when
    ``ts`` holds the inverter's own hypotheses), an index into ``ts.hyp_ids`` / ``ts.hyp_vectors``
    (one of that row's own hypotheses). Drawn before batching, so corrector batches can be
    bucketed by hypothesis + target length: bucketing by the target alone left 22% of the
    corrector's tokens as padding.
    """
    n = len(ts)
    if ts.neighbours is None or ts.neighbours.shape[1] == 0:
        raise ValueError("corrector batches need neighbours in the TextSet")
    idx = ts.neighbours[np.arange(n), rng.integers(0, ts.neighbours.shape[1], size=n)]
    own = np.zeros(n, dtype=bool)
    if own_frac > 0 and ts.hyp_ids is not None:
        h = len(ts.hyp_ids) // n
        own = rng.random(n) < own_frac
        idx = np.where(own, np.arange(n) * h + rng.integers(0, h, size=n), idx)
    return own, idx


def planned_hypothesis_ids(ts: TextSet, plan: tuple[np.ndarray, np.ndarray], rows
                           ) -> list[list[int]]:
    """Token ids of the hypotheses that ``plan`` (:func:`corrector_plan`) gives ``rows``."""
    return [ts.hyp_ids[j] if own else ts.ids[j] for own, j in zip(plan[0][rows], plan[1][rows])]


def make_batch(ts: TextSet, rows: np.ndarray, plan: tuple[np.ndarray, np.ndarray] | None,
               device: str) -> dict:
    """Tensors for one step over ``rows`` of ``ts``: a hypothesiser batch, or with ``plan``
    (:func:`corrector_plan`) a corrector batch whose rows carry their planned hypotheses."""
    e = torch.from_numpy(ts.vectors[rows]).to(device)
    batch = {"e": e, "target_ids": [ts.ids[i] for i in rows]}
    if plan is not None:
        batch["hyp_ids"] = planned_hypothesis_ids(ts, plan, rows)
        e_hat = np.stack([ts.hyp_vectors[j] if own else ts.vectors[j]
                          for own, j in zip(plan[0][rows], plan[1][rows])])
        batch["e_hat"] = torch.from_numpy(np.ascontiguousarray(e_hat, np.float32)).to(device)
    return batch


def step_kinds(seed: int, corrector_frac: float, n_steps: int) -> np.ndarray:
    """[n_steps] bool: True where step s trains the corrector (a pure function of seed and s)."""
    return np.array([np.random.default_rng([seed, s]).random() < corrector_frac
                     for s in range(n_steps)], dtype=bool)


def epoch_batches(ts: TextSet, corrector: bool, epoch: int, seed: int, batch_size: int,
                  own_frac: float = 0.0, min_rows: int = 1
                  ) -> tuple[list[np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
    """One epoch of one step kind: (length-bucketed batches of rows, corrector plan or None).

    A pure function of (seed, epoch, kind), so a resumed run sees the same batches. Corrector
    batches are bucketed by hypothesis + target tokens (their context length), hypothesiser
    batches by target tokens. Batches with fewer than ``min_rows`` rows (one per process) are
    dropped."""
    rng = np.random.default_rng([seed, epoch, int(corrector)])
    plan = corrector_plan(ts, rng, own_frac) if corrector else None
    lengths = np.array([len(x) for x in ts.ids])
    if plan is not None:
        lengths += np.array([len(x) for x in planned_hypothesis_ids(ts, plan, np.arange(len(ts)))])
    batches = [b for b in length_bucketed_batches(lengths.tolist(), batch_size, rng)
               if len(b) >= min_rows]
    return batches, plan


@torch.no_grad()
def heldout_loss(model: Inverter, ts: TextSet, batch_size: int, device: str,
                 corrector: bool = False, seed: int = 0, own_frac: float = 0.0,
                 job: Dist = Dist()) -> float:
    """Mean loss over a fixed held-out TextSet (deterministic hypotheses for the corrector).

    With several processes each takes a share of every batch and the totals are summed."""
    model.eval()
    plan = corrector_plan(ts, np.random.default_rng(seed), own_frac) if corrector else None
    tot, n = 0.0, 0
    for s in range(0, len(ts), batch_size):
        rows = shard(job, np.arange(s, min(s + batch_size, len(ts))))
        if len(rows):
            tot += float(model.loss(**make_batch(ts, rows, plan, device))) * len(rows)
            n += len(rows)
    tot, n = all_sum(job, [tot, n])
    model.train()
    return tot / max(n, 1)


def check_run_dir(run_dir: Path, arch: InverterConfig, resume: bool, overwrite: bool) -> bool:
    """Whether to resume ``run_dir``: ``resume=true`` continues its checkpoint (same architecture,
    else refused); an existing run is otherwise refused unless ``overwrite=true`` (then cleared)."""
    has_ckpt = training.has_checkpoint(run_dir / CHECKPOINT)
    if resume and has_ckpt:
        diff = arch_diff(run_dir, arch)
        if diff:
            raise ValueError(f"run_dir={run_dir}: cannot resume, architecture differs from the "
                             f"saved checkpoint: {diff}; use a new run_dir")
        return True
    if (run_dir / "inverter.json").is_file() or has_ckpt:
        if not overwrite:
            hint = ("resume=true continues it, " if has_ckpt else
                    "it has no resumable checkpoint (an exported or older inverter); ")
            raise ValueError(f"run_dir={run_dir} already holds an inverter run; {hint}"
                             "overwrite=true replaces it, or choose another run_dir")
        shutil.rmtree(run_dir)
    return False


def train(cfg: dict, train_set: TextSet | None = None, val_set: TextSet | None = None,
          backbone=None) -> Path:
    """Train (or resume) an inverter in ``cfg["run_dir"]``; returns the run directory.

    ``train_set``/``val_set`` default to the corpora in ``cfg["sources"]``/``cfg["val_sources"]``
    embedded through the ``vec2vec.embed`` cache. Stops at ``max_steps`` or after ``max_minutes``.
    Launched by ``torchrun`` with several processes, each takes a share of every batch
    (DistributedDataParallel); batches, results and files are those of a single process, written
    by rank 0.
    """
    run_dir = Path(cfg["run_dir"])
    arch = arch_config(cfg)
    resume = check_run_dir(run_dir, arch, bool(cfg.get("resume")), bool(cfg.get("overwrite")))
    run_dir.mkdir(parents=True, exist_ok=True)
    set_seed(int(cfg["seed"]))
    job = distributed.setup(pick_device(cfg.get("device", "auto")))
    device = job.device
    if job.main:
        write_json(run_dir / "config.json", {**cfg, "argv": sys.argv, "world_size": job.world})

    model = build_inverter(arch, backbone).to(device)
    attention = cfg.get("attention") or "auto"
    if attention == "auto":
        attention = "sdpa" if device.startswith("cuda") else "eager"
    model.set_attention(attention)
    tok = model.tokenizer
    if train_set is None:
        train_set = build_textset(tok, cfg["sources"], arch.embedder, arch.max_tokens,
                                  seed=int(cfg.get("split_seed", 0)))
    if val_set is None:
        val_set = build_textset(tok, cfg["val_sources"], arch.embedder, arch.max_tokens,
                                seed=int(cfg.get("split_seed", 0)))
    if train_set.vectors.shape[1] != arch.emb_dim:
        raise ValueError(f"training vectors have dim {train_set.vectors.shape[1]}, config "
                         f"emb_dim={arch.emb_dim}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg.get("weight_decay", 0.0),
                            betas=(0.9, 0.99))
    step, best, best_state = 0, float("inf"), {}
    if resume:
        step, saved, best_state = load_checkpoint(run_dir, model, opt)
        best = float(saved.get("best_val_loss", float("inf")))
    init_file = init_weights(model, cfg["init_from"], arch) \
        if cfg.get("init_from") and not resume else None
    own_frac = float(cfg.get("own_hyp_frac") or 0.0)
    if own_frac > 0:
        # rank 0 generates and caches them; the others then load that cache
        for writer in (True, False):
            if job.main == writer:
                for name, ts in (("train", train_set), ("val", val_set)):
                    own_hypotheses(run_dir / f"hypotheses-{name}", model, ts, arch, cfg,
                                   init_file, resume)
            distributed.barrier(job)
    # hypothesiser steps leave the e_hat / diff input layers unused
    net = distributed.wrap(job, model, find_unused_parameters=True)
    say = print if job.main else (lambda *a, **k: None)
    say(f"[invert-train] {len(train_set)} train texts, {len(val_set)} held-out, "
        f"{sum(p.numel() for p in params) / 1e6:.2f}M trainable, starting at step {step}"
        f"{f', {job.world} processes' if job.world > 1 else ''}", flush=True)

    meta = {"train_texts": len(train_set), "seed": cfg["seed"], "command": " ".join(sys.argv),
            "best_val_loss": best, "world_size": job.world}
    seed, bs, max_steps = int(cfg["seed"]), int(cfg["batch_size"]), int(cfg["max_steps"])
    # Each step kind draws from its own stream of batches; the n-th batch of a stream is a pure
    # function of (seed, n), so a resumed run continues with the batches it would have seen.
    kinds = step_kinds(seed, cfg.get("corrector_frac", 0.0), max_steps)
    corr_before = np.concatenate([[0], np.cumsum(kinds)])
    per_epoch = max(1, len(train_set) // bs)
    streams: dict[bool, tuple] = {}                 # kind -> (epoch, batches, plan)
    t0, seen, last_save = time.time(), 0, time.time()
    log = open(run_dir / "log.jsonl", "a") if job.main else None
    from tqdm import tqdm

    bar = tqdm(total=max_steps, initial=step, dynamic_ncols=True,
               disable=not (cfg.get("progress", True) and job.main))
    model.train()
    while step < max_steps:
        corrector = bool(kinds[step])
        n_kind = int(corr_before[step]) if corrector else step - int(corr_before[step])
        epoch, b_idx = divmod(n_kind, per_epoch)
        if streams.get(corrector, (None,))[0] != epoch:
            streams[corrector] = (epoch, *epoch_batches(train_set, corrector, epoch, seed, bs,
                                                        own_frac, job.world))
        _, batches, plan = streams[corrector]
        rows = batches[b_idx % len(batches)]
        batch = make_batch(train_set, shard(job, rows), plan, device)
        for g in opt.param_groups:
            g["lr"] = training.lr_at(step, cfg["lr"], cfg["warmup"], max_steps)
        loss = net(**batch)
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
        if log and step % cfg.get("log_every", 10) == 0:
            log.write(json.dumps({"step": step, "loss": loss.item(), "corrector": corrector,
                                  "texts_per_s": rate,
                                  "lr": training.lr_at(step, cfg["lr"], cfg["warmup"], max_steps),
                                  "time": time.time()}) + "\n")
            log.flush()
        is_eval = step % cfg["eval_every"] == 0 or step == max_steps
        # wall-clock decisions are rank 0's, so every process stops and saves at the same step
        out_of_time, save_due = distributed.agree(job, [
            (time.time() - t0) / 60 > cfg.get("max_minutes", float("inf")),
            (time.time() - last_save) / 60 > cfg.get("save_minutes", 10)])
        if is_eval or out_of_time:
            vl = heldout_loss(model, val_set, bs, device, job=job)
            vc = heldout_loss(model, val_set, bs, device, corrector=True, own_frac=own_frac,
                              job=job)
            if vl < best:
                best_state = {k: v.detach().float().clone()
                              for k, v in model.trainable_state().items()}
            best = min(best, vl)
            meta["best_val_loss"] = best
            if job.main:
                rec = {"step": step, "val_loss": vl, "val_corrector_loss": vc, "texts_per_s": rate}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(f"\n[invert-train] step {step}: held-out loss {vl:.3f} (corrector "
                      f"{vc:.3f}), {rate:.1f} texts/s", flush=True)
                save_checkpoint(run_dir, model, opt, step, meta, best_state)
                try:
                    plot_log(run_dir)
                except Exception as exc:  # a figure is not worth a training run
                    print(f"[invert-train] curves.png not drawn: {exc!r}", flush=True)
            last_save = time.time()
        elif save_due:
            if job.main:
                save_checkpoint(run_dir, model, opt, step, meta, best_state)
            last_save = time.time()
        if out_of_time:
            say(f"[invert-train] max_minutes={cfg['max_minutes']} reached at step {step}",
                flush=True)
            break
    bar.close()
    if job.main:
        log.close()
        save_checkpoint(run_dir, model, opt, step, meta, best_state)
    distributed.barrier(job)        # no rank leaves before the last checkpoint is written
    distributed.teardown(job)
    return run_dir


def plot_log(run_dir: str | os.PathLike) -> Path:
    """Draw ``run_dir/log.jsonl`` (every run segment, resumes included) into ``run_dir/curves.png``:
    training loss of hypothesiser and corrector steps, held-out losses, texts/s and learning rate
    against the step."""

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
    training.plot_curves(history, out)
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
