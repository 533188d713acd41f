"""The GAN translator's training loop (``train_gan``), in one readable function. Per step:

1. (every ``pseudo_refresh`` steps) self-training targets: mutual CSLS nearest neighbours (or
   kNN means) between the current translations of a pool of a-vectors and a pool of b-vectors --
   no paired data, the pairs are *different* texts that the current map finds closest;
2. discriminator step (least squares GAN) on both output spaces and on the latent, if enabled;
3. generator step on the weighted sum of: reconstruction, cycle consistency, vector-space
   preservation (one-way and/or cycle), adversarial (output + latent), pseudo-pair regression.

All vectors inside the loop are *centred* unit vectors (see ``VecGANNet.center``).

Checkpoints (``run_dir/checkpoint/``, written by :func:`vec2vec.training.write_checkpoint` as one
directory) hold the networks, both optimisers, every RNG state, the pseudo pairs and the loss
history, so ``resume=true`` after a kill continues bit-for-bit where the last checkpoint was
taken and ends at the same numbers as an uninterrupted run (CPU, same seed, same thread count).

Several processes train data-parallel when launched by ``torchrun`` (``vec2vec/distributed.py``;
gloo on CPU, nccl + one GPU per process)::

    torchrun --standalone --nproc_per_node=2 -m vec2vec.cli train method=vec2vec method.threads=1 ...

Every rank draws the same global batch (same seeded generator) and takes every world-th row of it;
``DistributedDataParallel`` averages the gradients, so per-row losses (reconstruction, cycle,
pseudo-pairs, adversarial) get the single-process gradient of the global batch, while VSP compares
pairs within a rank's half only. Rank 0 alone fits the warm start (DDP copies its weights to the
others when it wraps the networks), scores checkpoints (its score is broadcast so every rank keeps
the same best state) and writes files.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vec2vec import distributed
from vec2vec.data.validation import check_vectors
from vec2vec.runtime import autocast, cpu_threads, pick_device, set_seed
from vec2vec.training import (
    has_checkpoint,
    lr_at,
    optimizer_state,
    optimizer_tensors,
    plot_curves,
    prefixed,
    read_checkpoint,
    rng_tensors,
    set_rng,
    write_checkpoint,
)
from vec2vec.translators.gan.losses import GanLosses
from vec2vec.translators.gan.model import build_discriminators, fit_warm_start, init_from_linear
from vec2vec.translators.linear import center_normalize, residual_scale

CKPT_FORMAT = "vec2vec-train-checkpoint"
CKPT_VERSION = 1
# config keys that change the shape/meaning of a checkpoint: resuming with other values is refused
ARCH_KEYS = ("width", "in_depth", "backbone_depth", "out_depth", "norm", "disc_width",
             "disc_depth", "disc_norm", "seed", "steps", "batch_size", "warm_start")


@torch.no_grad()
def pseudo_targets(net, za: torch.Tensor, zb: torch.Tensor, pool: int, csls_k: int, mode: str,
                   k: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Self-training targets from the current map, within random pools of each space.

    za [n_a, d_a], zb [n_b, d_b]: centred unit vectors. The similarity of (i, j) averages both
    directions, cos(F_ab(a_i), b_j) and cos(a_i, F_ba(b_j)); with ``csls_k`` > 0 it is CSLS-
    corrected (hubs penalised). ``mode``:
    - ``mnn``: mutual nearest neighbours (i, j) -> a_i's target is b_j and b_j's target is a_i;
    - ``knn``: every pooled vector's target is the normalised mean of its ``k`` best matches in
      the other space (a smoothed, denser target).
    These are *different* texts that the current map finds closest: no paired data is involved.
    Returns {"ia": [p] indices into za, "tb": [p, d_b] targets, "ib": [q], "ta": [q, d_a]}.
    """
    pa = torch.randperm(len(za), generator=gen)[:pool].to(za.device)
    pb = torch.randperm(len(zb), generator=gen)[:pool].to(zb.device)
    was_training = net.training
    net.eval()
    a, b = za[pa], zb[pb]
    sim = net.translate_centered(a, "a", "b") @ b.T
    sim += a @ net.translate_centered(b, "b", "a").T
    sim *= 0.5
    net.train(was_training)
    if csls_k > 0:
        kk = min(csls_k, sim.shape[0], sim.shape[1])
        r_a = sim.topk(kk, dim=1).values.mean(1)
        r_b = sim.topk(kk, dim=0).values.mean(0)
        sim = 2 * sim - r_a[:, None] - r_b[None, :]
    if mode == "mnn":
        fwd, bwd = sim.argmax(1), sim.argmax(0)
        keep = bwd[fwd] == torch.arange(len(pa), device=sim.device)
        ia, ib = pa[keep], pb[fwd[keep]]
        return {"ia": ia.cpu(), "tb": zb[ib], "ib": ib.cpu(), "ta": za[ia]}
    if mode == "knn":
        kk = min(k, sim.shape[0], sim.shape[1])
        nb = sim.topk(kk, dim=1).indices            # [P, k] into the b pool
        na = sim.topk(kk, dim=0).indices.T          # [P, k] into the a pool
        # embedding_bag = mean of the gathered rows without the [P, k, d] copy
        tb = torch.nn.functional.normalize(torch.nn.functional.embedding_bag(nb, b, mode="mean"), dim=-1)
        ta = torch.nn.functional.normalize(torch.nn.functional.embedding_bag(na, a, mode="mean"), dim=-1)
        return {"ia": pa.cpu(), "tb": tb, "ib": pb.cpu(), "ta": ta}
    raise ValueError(f"pseudo_mode must be 'mnn' or 'knn', got {mode!r}")


# ---------------------------------------------------------------------------------------------
# checkpoints: one directory, written whole (vec2vec.training)
# ---------------------------------------------------------------------------------------------
def save_checkpoint(path: Path, st: dict) -> None:
    """Write the full training state ``st`` atomically into directory ``path``."""
    tensors = {f"net/{k}": v for k, v in st["net"].state_dict().items()}
    tensors |= {f"disc/{k}": v for k, v in st["discs"].state_dict().items()}
    opt_meta = {}
    for name in ("opt_g", "opt_d"):
        t, m = optimizer_tensors(name, st[name])
        tensors |= t
        opt_meta[name] = m
    if st.get("best") is not None:
        tensors |= {f"best/{k}": v for k, v in st["best"]["state"].items()}
    tensors |= rng_tensors(st["gen"])
    if st["pairs"] is not None:
        tensors |= {f"pairs/{k}": v for k, v in st["pairs"].items()}
    meta = {"step": st["step"], "dims": list(st["dims"]), "config": st["cfg"],
            "optimizers": opt_meta,
            "scalers": {k: st[k].state_dict() for k in ("scaler_g", "scaler_d")},
            "history": st["history"], "elapsed": st["elapsed"], "stopped": bool(st.get("stopped")),
            "fit_evidence": st["tr"].fit_evidence,
            "best": None if st.get("best") is None else
            {"score": st["best"]["score"], "step": st["best"]["step"]}}
    write_checkpoint(path, tensors, meta, CKPT_FORMAT, CKPT_VERSION)


def load_checkpoint(path: Path, st: dict) -> None:
    """Restore ``st`` (built with the same config) from directory ``path``; clear errors on
    foreign, truncated or incompatible checkpoints."""
    tensors, meta = read_checkpoint(path, CKPT_FORMAT, CKPT_VERSION, "vec2vec training")
    if list(meta["dims"]) != list(st["dims"]):
        raise ValueError(f"{path}: checkpoint dims {meta['dims']} do not match the data "
                         f"{list(st['dims'])}: different embedders?")
    diff = {k: (meta["config"].get(k), st["cfg"].get(k)) for k in ARCH_KEYS
            if meta["config"].get(k) != st["cfg"].get(k)}
    if diff:
        raise ValueError(f"{path}: checkpoint was written with a different config "
                         f"(saved vs now: {diff}); use a new run_dir or resume=false")
    try:
        st["net"].load_state_dict(prefixed(tensors, "net"))
        st["discs"].load_state_dict(prefixed(tensors, "disc"))
        for name in ("opt_g", "opt_d"):
            st[name].load_state_dict(optimizer_state(name, tensors, meta["optimizers"][name]))
    except (RuntimeError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: checkpoint tensors do not fit this network ({e})") from e
    for k in ("scaler_g", "scaler_d"):
        if meta["scalers"].get(k):
            st[k].load_state_dict(meta["scalers"][k])
    set_rng(tensors, st["gen"])
    if meta.get("best"):
        st["best"] = {**meta["best"], "state": prefixed(tensors, "best")}
    st["pairs"] = prefixed(tensors, "pairs") or None
    st["step"], st["history"], st["elapsed"] = meta["step"], meta["history"], meta.get("elapsed", 0.0)
    st["stopped"] = bool(meta.get("stopped")) and int(st["cfg"].get("patience") or 0) > 0
    st["tr"].fit_evidence = dict(meta.get("fit_evidence") or {})


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
def _score_and_keep_best(tr, st: dict, score_fn: Callable, job: distributed.Dist) -> None:
    """Log the unsupervised score of the current network; remember the best state so far.
    Rank 0 scores; every rank takes its score, so all keep the same best state."""
    net = st["net"]
    was_training = net.training
    net.eval()
    score = distributed.agree(job, [float(score_fn(tr)) if job.main else 0.0])[0]
    net.train(was_training)
    st["history"].append({"step": st["step"], "score": score})
    if st.get("best") is None or score > st["best"]["score"]:
        st["best"] = {"score": score, "step": st["step"],
                      "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}


def check_batch(n_a: int, n_b: int, batch_size: int) -> None:
    """Refuse data with fewer vectors than one batch (the loop samples without replacement)."""
    if min(n_a, n_b) < batch_size:
        raise ValueError(f"too few vectors for batch_size={batch_size}: xa has {n_a}, xb has "
                         f"{n_b}; use more data or a smaller batch_size")


def train_gan(tr, xa: np.ndarray, xb: np.ndarray, run_dir: str | Path | None = None,
              resume: bool = False, ckpt_every: int = 0, progress: bool = False,
              score_fn: Callable | None = None, stop_after: int | None = None,
              start_maps: dict | None = None) -> dict:
    """Fit the GAN translator ``tr`` (a ``GANTranslator``) on unpaired xa [n_a, d_a], xb [n_b, d_b].

    run_dir: where checkpoints (every ``ckpt_every`` steps and at the end) and curves.png go;
    None = in memory only. resume: continue from run_dir/checkpoint if present.
    score_fn(translator) -> float (higher = better, no pairs) is logged at step 0 (the warm start)
    and every ``eval_every`` steps; with ``keep_best`` the best-scoring state is the result, and
    with ``patience`` = p > 0 training stops early once p evaluations in a row brought no new best.
    stop_after: stop abruptly once this step is reached, without checkpointing -- tests use it to
    simulate a kill. Returns {"history": [...], "steps": n, "seconds": t}.
    """
    cfg = tr.config
    xa = check_vectors(xa, "xa", min_rows=2)
    xb = check_vectors(xb, "xb", min_rows=2)
    check_batch(len(xa), len(xb), int(cfg["batch_size"]))
    patience = int(cfg.get("patience") or 0)
    if patience < 0:
        raise ValueError(f"patience must be >= 0 (0 = no early stopping), got {patience}")
    job = distributed.setup(pick_device(cfg["device"]))   # one process unless run by torchrun
    device = job.device
    if int(cfg["batch_size"]) % job.world:
        raise ValueError(f"batch_size={cfg['batch_size']} must be a multiple of the {job.world} "
                         f"processes: every rank takes an equal share of the global batch")
    torch.set_num_threads(int(cfg["threads"]) or cpu_threads())
    set_seed(int(cfg["seed"]))
    net = tr.build((xa.shape[1], xb.shape[1])).to(device)
    discs = build_discriminators({"a": xa.shape[1], "b": xb.shape[1]}, cfg).to(device)
    betas = tuple(cfg["betas"])
    use_amp = bool(cfg["amp"]) and device.startswith("cuda")
    st: dict[str, Any] = {
        "tr": tr, "net": net, "discs": discs, "cfg": cfg, "dims": tr.dims, "step": 0, "history": [],
        "elapsed": 0.0, "pairs": None,
        "opt_g": torch.optim.Adam(net.parameters(), lr=cfg["lr_g"], betas=betas,
                                  weight_decay=cfg["weight_decay"]),
        "opt_d": torch.optim.Adam(discs.parameters(), lr=cfg["lr_d"], betas=betas),
        "scaler_g": torch.amp.GradScaler("cuda", enabled=use_amp),
        "scaler_d": torch.amp.GradScaler("cuda", enabled=use_amp),
        "gen": torch.Generator().manual_seed(int(cfg["seed"])),
    }
    ckpt = Path(run_dir) / "checkpoint" if run_dir is not None else None
    # rank 0 decides, before it writes anything, so that every rank resumes or none does
    if distributed.agree(job, [float(resume and ckpt is not None and has_checkpoint(ckpt))])[0]:
        load_checkpoint(ckpt, st)
    elif job.main:  # other ranks get these weights when DDP wraps the networks (below)
        t0 = time.time()
        if cfg["warm_start"]:
            maps, tr.fit_evidence = fit_warm_start(cfg, xa, xb, start_maps)
            s, xs = ("a", xa) if xa.shape[1] <= xb.shape[1] else ("b", xb)
            init_from_linear(net, maps, center_normalize(xs, maps[f"mean_{s}"])[0])
        else:
            _, ma = center_normalize(xa)
            _, mb = center_normalize(xb)
            net.set_stats(ma, mb, [residual_scale(xa, ma), residual_scale(xb, mb)])
        st["elapsed"] = time.time() - t0
        st["history"].append({"step": 0, "warm_start_seconds": st["elapsed"]})
        if ckpt is not None:  # a crash after this point does not pay for the warm start again
            save_checkpoint(ckpt, st)
    # DDP broadcasts rank 0's parameters and buffers here (a no-op wrapper for one process)
    losses = distributed.wrap(job, GanLosses(net, discs, cfg), find_unused_parameters=True)
    with torch.no_grad():
        za = net.center(torch.from_numpy(xa).to(device), "a")
        zb = net.center(torch.from_numpy(xb).to(device), "b")
    if score_fn is not None and st["step"] == 0:
        _score_and_keep_best(tr, st, score_fn, job)  # the warm start itself is a candidate
    gan_on = bool(cfg["w_gan"] or cfg["w_latent_gan"])
    steps, bs = int(cfg["steps"]), int(cfg["batch_size"])
    bar = None
    if progress and job.main:
        from tqdm import tqdm
        bar = tqdm(total=steps, initial=st["step"], desc="vec2vec", file=sys.stderr, dynamic_ncols=True)
    t_start = time.time() - st["elapsed"]
    net.train()
    discs.train()
    while st["step"] < steps and not st.get("stopped"):
        step = st["step"]
        for g in st["opt_g"].param_groups:
            g["lr"] = lr_at(step, cfg["lr_g"], cfg["warmup_steps"], steps)
        for g in st["opt_d"].param_groups:
            g["lr"] = lr_at(step, cfg["lr_d"], cfg["warmup_steps"], steps)
        if cfg["w_pseudo"] and (st["pairs"] is None or
                                (cfg["pseudo_refresh"] and step % cfg["pseudo_refresh"] == 0)):
            st["pairs"] = pseudo_targets(net, za, zb, int(cfg["pseudo_pool"]),
                                         int(cfg["pseudo_csls_k"]), cfg["pseudo_mode"],
                                         int(cfg["pseudo_k"]), st["gen"])
        # the global batch (the same on every rank), of which this rank takes its share
        ia = distributed.shard(job, torch.randperm(len(za), generator=st["gen"])[:bs])
        ib = distributed.shard(job, torch.randperm(len(zb), generator=st["gen"])[:bs])
        xa_b, xb_b = za[ia.to(device)], zb[ib.to(device)]
        pseudo = None
        if st["pairs"] is not None:
            pp = st["pairs"]
            # as many pairs as fit in equal shares (all of them for one process)
            na, nb = ((min(len(pp[k]), bs) // job.world) * job.world for k in ("ia", "ib"))
            sa = distributed.shard(job, torch.randperm(len(pp["ia"]), generator=st["gen"])[:na])
            sb = distributed.shard(job, torch.randperm(len(pp["ib"]), generator=st["gen"])[:nb])
            pseudo = (za[pp["ia"][sa].to(device)], pp["tb"][sa.to(device)],
                      zb[pp["ib"][sb].to(device)], pp["ta"][sb.to(device)])
        logs: dict[str, float] = {}
        if gan_on:  # ---- discriminator step
            with autocast(device, use_amp):
                d_loss = losses("d", xa_b, xb_b)
            st["opt_d"].zero_grad(set_to_none=True)
            st["scaler_d"].scale(d_loss).backward()
            st["scaler_d"].step(st["opt_d"])
            st["scaler_d"].update()
            logs["disc"] = float(d_loss.detach())
        # ---- generator step
        with autocast(device, use_amp):
            terms = losses("g", xa_b, xb_b, pseudo)
            g_loss = sum(cfg[f"w_{k}"] * v for k, v in terms.items())
        st["opt_g"].zero_grad(set_to_none=True)
        st["scaler_g"].scale(g_loss).backward()
        if cfg["grad_clip"]:
            st["scaler_g"].unscale_(st["opt_g"])
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg["grad_clip"])
        st["scaler_g"].step(st["opt_g"])
        st["scaler_g"].update()
        st["step"] = step = step + 1
        logs |= {k: float(v.detach()) for k, v in terms.items()}
        logs["total"] = float(g_loss.detach())
        if job.world > 1:  # log the global batch's losses: the mean of the ranks' shares
            logs = dict(zip(logs, (v / job.world for v in distributed.all_sum(job, list(logs.values())))))
        if st["pairs"] is not None:
            logs["n_pairs"] = int(len(st["pairs"]["ia"]))
        if step % cfg["log_every"] == 0 or step == steps:
            st["history"].append({"step": step, **logs, "elapsed_seconds": time.time() - t_start})
        if score_fn is not None and (step % cfg["eval_every"] == 0 or step == steps):
            _score_and_keep_best(tr, st, score_fn, job)
            if patience and step < steps and step - st["best"]["step"] >= patience * int(cfg["eval_every"]):
                st["stopped"] = True     # early stop: the pair-free score stopped rising
                st["history"].append({"step": step, "early_stop_step": step})
        if bar is not None:
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k != "n_pairs"}, refresh=False)
        st["elapsed"] = time.time() - t_start
        if ckpt is not None and job.main and ((ckpt_every and step % ckpt_every == 0)
                                              or step == steps or st.get("stopped")):
            save_checkpoint(ckpt, st)
        if stop_after is not None and step >= stop_after:
            break  # simulated kill: nothing is saved beyond the last periodic checkpoint
    if bar is not None:
        bar.close()
    net.eval()
    best = st.get("best")
    finished = st["step"] >= steps or st.get("stopped")
    if cfg["keep_best"] and best is not None and finished and best["step"] != st["step"]:
        net.load_state_dict(best["state"])  # the unsupervised criterion preferred an earlier state
        st["history"].append({"step": st["step"], "selected_step": best["step"]})
    tr.history = st["history"]
    if run_dir is not None and job.main:
        plot_curves(st["history"], Path(run_dir) / "curves.png")
    distributed.barrier(job)      # no rank leaves before rank 0 has written the last checkpoint
    distributed.teardown(job)     # only if this call created the process group
    return {"history": st["history"], "steps": st["step"], "seconds": st["elapsed"]}
