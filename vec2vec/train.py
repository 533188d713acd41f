"""Training: the vec2vec GAN loop (``train_gan``) and ``vec2vec train`` for every method (``cli``).

The GAN loop, in one readable function. Per step:
1. (every ``pseudo_refresh`` steps) self-training targets: mutual CSLS nearest neighbours (or
   kNN means) between the current translations of a pool of a-vectors and a pool of b-vectors --
   no paired data, the pairs are *different* texts that the current map finds closest;
2. discriminator step (least squares GAN) on both output spaces and on the latent, if enabled;
3. generator step on the weighted sum of: reconstruction, cycle consistency, vector-space
   preservation (one-way and/or cycle), adversarial (output + latent), pseudo-pair regression.

All vectors inside the loop are *centred* unit vectors (see ``VecGANNet.center``).

Checkpoints (``run_dir/checkpoint/``: ``state.safetensors`` + ``state.json``) hold the networks,
both optimisers, every RNG state, the pseudo pairs and the loss history, and are replaced
atomically, so ``resume=true`` after a kill continues bit-for-bit where the last checkpoint was
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

import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import distributed, rundir
from .io import load_safetensors, read_json, replace_dir, save_safetensors, write_json
from .losses import cosine_loss, lsgan_d_loss, lsgan_g_loss, r1_penalty, vsp_loss
from .runtime import autocast, cpu_threads, pick_device, set_seed
from .validation import check_vectors

CKPT_FORMAT = "vec2vec-train-checkpoint"
CKPT_VERSION = 1
# config keys that change the shape/meaning of a checkpoint: resuming with other values is refused
ARCH_KEYS = ("width", "in_depth", "backbone_depth", "out_depth", "norm", "disc_width",
             "disc_depth", "disc_norm", "seed", "steps", "batch_size", "warm_start")


# ---------------------------------------------------------------------------------------------
# pieces of the loop
# ---------------------------------------------------------------------------------------------
def lr_at(step: int, base: float, warmup: int, total: int) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay to 10% of ``base`` at ``total``."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac))))


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


def generator_losses(net, discs, xa: torch.Tensor, xb: torch.Tensor, pseudo: tuple | None,
                     cfg: dict) -> dict[str, torch.Tensor]:
    """Every generator loss term (unweighted) for one batch of centred vectors xa, xb.

    pseudo: None or (a_src [p, d_a], b_tgt [p, d_b], b_src [q, d_b], a_tgt [q, d_a]) batches of
    self-training pairs (see ``pseudo_targets``).
    """
    la, lb = net.encode(xa, "a"), net.encode(xb, "b")
    fab, fba = net.decode(la, "b"), net.decode(lb, "a")        # one-way translations
    out: dict[str, torch.Tensor] = {}
    if cfg["w_rec"]:
        out["rec"] = cosine_loss(net.decode(la, "a"), xa) + cosine_loss(net.decode(lb, "b"), xb)
    need_cycle = cfg["w_cycle"] or cfg["w_cycle_vsp"]
    if need_cycle:
        src_ab, src_ba = (fab.detach(), fba.detach()) if cfg["cycle_detach"] else (fab, fba)
        cyc_a = net.translate_centered(src_ab, "b", "a")
        cyc_b = net.translate_centered(src_ba, "a", "b")
        if cfg["w_cycle"]:
            out["cycle"] = cosine_loss(cyc_a, xa) + cosine_loss(cyc_b, xb)
        if cfg["w_cycle_vsp"]:
            out["cycle_vsp"] = vsp_loss(xa, cyc_a) + vsp_loss(xb, cyc_b)
    if cfg["w_vsp"] and cfg["vsp_one_way"]:
        out["vsp"] = vsp_loss(xa, fab) + vsp_loss(xb, fba)
    if cfg["w_gan"]:
        out["gan"] = lsgan_g_loss(discs["b"](fab)) + lsgan_g_loss(discs["a"](fba))
    if cfg["w_latent_gan"]:
        # the generator wants latents of a scored as b (1) and latents of b scored as a (0)
        d = discs["latent"]
        out["latent_gan"] = lsgan_g_loss(d(la)) + 0.5 * d(lb).pow(2).mean()
    if cfg["w_pseudo"] and pseudo is not None and len(pseudo[0]) and len(pseudo[2]):
        a_src, b_tgt, b_src, a_tgt = pseudo
        out["pseudo"] = (cosine_loss(net.translate_centered(a_src, "a", "b"), b_tgt)
                         + cosine_loss(net.translate_centered(b_src, "b", "a"), a_tgt))
    return out


class GanLosses(torch.nn.Module):
    """Both losses of a step as one module's ``forward``: DistributedDataParallel syncs the
    gradients of what runs inside ``forward``, so it wraps generator and discriminators together.
    ``forward("g", xa, xb, pseudo)`` -> dict of generator terms; ``forward("d", xa, xb)`` -> the
    discriminator loss."""

    def __init__(self, net, discs, cfg: dict):
        super().__init__()
        self.net, self.discs, self.cfg = net, discs, cfg

    def forward(self, kind: str, xa: torch.Tensor, xb: torch.Tensor, pseudo: tuple | None = None):
        if kind == "d":
            return discriminator_loss(self.net, self.discs, xa, xb, self.cfg)
        return generator_losses(self.net, self.discs, xa, xb, pseudo, self.cfg)


def discriminator_loss(net, discs, xa: torch.Tensor, xb: torch.Tensor, cfg: dict) -> torch.Tensor:
    """Least-squares GAN loss of the three discriminators on one batch (+ R1 when cfg["r1"])."""
    with torch.no_grad():
        la, lb = net.encode(xa, "a"), net.encode(xb, "b")
        fab, fba = net.decode(la, "b"), net.decode(lb, "a")
    loss = xa.new_zeros(())
    if cfg["w_gan"]:
        loss = loss + lsgan_d_loss(discs["b"](xb), discs["b"](fab)) \
            + lsgan_d_loss(discs["a"](xa), discs["a"](fba))
        if cfg["r1"]:
            loss = loss + cfg["r1"] * (r1_penalty(discs["a"], xa) + r1_penalty(discs["b"], xb))
    if cfg["w_latent_gan"]:
        # latent discriminator: latents of a -> 1, latents of b -> 0
        loss = loss + lsgan_d_loss(discs["latent"](la), discs["latent"](lb))
    return loss


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------
def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Optimizer state -> (tensors for safetensors, JSON-able rest)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}/{pid}/{k}"] = v
            else:
                scalars.setdefault(str(pid), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(prefix: str, tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "/"):
            _, pid, k = key.split("/", 2)
            state.setdefault(int(pid), {})[k] = v
    for pid, st in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(st)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path: Path, st: dict) -> None:
    """Write the full training state atomically into directory ``path``."""
    tensors = {f"net/{k}": v for k, v in st["net"].state_dict().items()}
    tensors |= {f"disc/{k}": v for k, v in st["discs"].state_dict().items()}
    opt_meta = {}
    for name in ("opt_g", "opt_d"):
        t, m = _flatten_optimizer(name, st[name])
        tensors |= t
        opt_meta[name] = m
    if st.get("best") is not None:
        tensors |= {f"best/{k}": v for k, v in st["best"]["state"].items()}
    tensors["rng/torch"] = torch.get_rng_state()
    tensors["rng/data"] = st["gen"].get_state()
    if st["pairs"] is not None:
        tensors |= {f"pairs/{k}": v for k, v in st["pairs"].items()}
    meta = {"format": CKPT_FORMAT, "version": CKPT_VERSION, "step": st["step"],
            "dims": list(st["dims"]), "config": st["cfg"], "optimizers": opt_meta,
            "scalers": {k: st[k].state_dict() for k in ("scaler_g", "scaler_d")},
            "history": st["history"], "elapsed": st["elapsed"], "stopped": bool(st.get("stopped")),
            "best": None if st.get("best") is None else
            {"score": st["best"]["score"], "step": st["best"]["step"]}}
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_safetensors(tmp / "state.safetensors", tensors, metadata={"format": CKPT_FORMAT})
    write_json(tmp / "state.json", meta)
    replace_dir(tmp, path)


def load_checkpoint(path: Path, st: dict) -> None:
    """Restore ``st`` (built with the same config) from directory ``path``; clear errors on
    foreign, truncated or incompatible checkpoints."""
    meta = read_json(path / "state.json")
    if not isinstance(meta, dict) or meta.get("format") != CKPT_FORMAT:
        raise ValueError(f"{path}: not a vec2vec training checkpoint (state.json format "
                         f"{meta.get('format') if isinstance(meta, dict) else type(meta).__name__!r})")
    if meta.get("version") != CKPT_VERSION:
        raise ValueError(f"{path}: checkpoint version {meta.get('version')} unsupported")
    if list(meta["dims"]) != list(st["dims"]):
        raise ValueError(f"{path}: checkpoint dims {meta['dims']} do not match the data "
                         f"{list(st['dims'])}: different embedders?")
    diff = {k: (meta["config"].get(k), st["cfg"].get(k)) for k in ARCH_KEYS
            if meta["config"].get(k) != st["cfg"].get(k)}
    if diff:
        raise ValueError(f"{path}: checkpoint was written with a different config "
                         f"(saved vs now: {diff}); use a new run_dir or resume=false")
    tensors = load_safetensors(path / "state.safetensors")
    try:
        st["net"].load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net/")})
        st["discs"].load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("disc/")})
        for name in ("opt_g", "opt_d"):
            st[name].load_state_dict(_unflatten_optimizer(name, tensors, meta["optimizers"][name]))
    except (RuntimeError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: checkpoint tensors do not fit this network ({e})") from e
    for k in ("scaler_g", "scaler_d"):
        if meta["scalers"].get(k):
            st[k].load_state_dict(meta["scalers"][k])
    torch.set_rng_state(tensors["rng/torch"])
    st["gen"].set_state(tensors["rng/data"])
    if meta.get("best"):
        st["best"] = {**meta["best"],
                      "state": {k[5:]: v for k, v in tensors.items() if k.startswith("best/")}}
    pairs = {k[6:]: v for k, v in tensors.items() if k.startswith("pairs/")}
    st["pairs"] = pairs or None
    st["step"], st["history"], st["elapsed"] = meta["step"], meta["history"], meta.get("elapsed", 0.0)
    st["stopped"] = bool(meta.get("stopped")) and int(st["cfg"].get("patience") or 0) > 0


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
              score_fn: Callable | None = None, stop_after: int | None = None) -> dict:
    """Fit the GAN translator ``tr`` (a ``GANTranslator``) on unpaired xa [n_a, d_a], xb [n_b, d_b].

    run_dir: where checkpoints (every ``ckpt_every`` steps and at the end) and curves.png go;
    None = in memory only. resume: continue from run_dir/checkpoint if present.
    score_fn(translator) -> float (higher = better, no pairs) is logged at step 0 (the warm start)
    and every ``eval_every`` steps; with ``keep_best`` the best-scoring state is the result, and
    with ``patience`` = p > 0 training stops early once p evaluations in a row brought no new best.
    stop_after: stop abruptly once this step is reached, without checkpointing -- tests use it to
    simulate a kill. Returns {"history": [...], "steps": n, "seconds": t}.
    """
    from .translators.gan import build_discriminators, fit_warm_start, init_from_linear
    from .translators.linear import center_normalize, residual_scale

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
        "net": net, "discs": discs, "cfg": cfg, "dims": tr.dims, "step": 0, "history": [],
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
    if distributed.agree(job, [float(resume and ckpt is not None and (ckpt / "state.json").is_file())])[0]:
        load_checkpoint(ckpt, st)
    elif job.main:  # other ranks get these weights when DDP wraps the networks (below)
        t0 = time.time()
        if cfg["warm_start"]:
            maps = fit_warm_start(cfg, xa, xb)
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


def plot_curves(history: list[dict] | dict[str, list[dict]], path: Path) -> None:
    """One panel per logged quantity (losses, pseudo-pair count, selection score) vs step.
    ``history``: one run's log entries, or {label: entries} to overlay several runs (seeds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = history if isinstance(history, dict) else {"": history}
    keys = sorted({k for hist in runs.values() for h in hist for k in h
                   if k != "step" and not k.endswith("seconds")})
    if not keys:
        return
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, k in zip(axes.flat, keys):
        for label, hist in runs.items():
            pts = [(h["step"], h[k]) for h in hist if k in h]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label or None,
                    marker="." if len(pts) < 30 else None)
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    if len(runs) > 1:
        axes.flat[0].legend(fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# `vec2vec train`: any registered method, one or several seeds, selection without pairs
# ---------------------------------------------------------------------------------------------
def make_translator(method: str, params: dict, seed: int, device: str = "auto"):
    """Build ``method`` with ``params``; the run's seed (and device, for methods trained by this
    module's loop) are filled in when the method takes them."""
    import inspect

    from .translators.base import REGISTRY, get_translator
    from .translators import _load_all  # noqa: F401

    if method not in REGISTRY:
        return get_translator(method)  # raises with the list of valid names
    params = dict(params)
    cls = REGISTRY[method]
    if cls.uses_train_loop:
        params |= {"seed": int(seed), "device": device}
    elif "seed" in inspect.signature(cls.__init__).parameters:
        params["seed"] = int(seed)
    return get_translator(method, **params)


def selection_score(translator, xa: np.ndarray, xb: np.ndarray) -> dict:
    """Part A's unsupervised criterion (``vec2vec.selection.unsupervised_score``): a dict whose
    ``"score"`` entry (higher = better) picks seeds and checkpoints. No pairs involved."""
    from .selection import unsupervised_score

    return unsupervised_score(translator, xa, xb)


def selection_scorer(xa: np.ndarray, xb: np.ndarray) -> Callable:
    """``score_fn`` for :func:`train_gan`: translator -> the selection score's float on unpaired
    xa [n_a, d_a], xb [n_b, d_b] (higher = better; no pairs)."""
    return lambda translator: _score_value(selection_score(translator, xa, xb))


def _score_value(scores: dict) -> float:
    if "score" in scores:
        return float(scores["score"])
    return float(next(v for v in scores.values() if isinstance(v, (int, float))))


def load_training_data(cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """Unpaired training vectors: split a by ``source`` and split b by ``target`` (cached)."""
    from .embed import embed

    kw = dict(corpus=cfg["corpus"], seed=int(cfg["data_seed"]), progress=bool(cfg["progress"]))
    xa = embed(cfg["source"], split="a", limit=cfg["n_a"], **kw)
    xb = embed(cfg["target"], split="b", limit=cfg["n_b"], **kw)
    return xa, xb


def run(cfg: dict, xa: np.ndarray | None = None, xb: np.ndarray | None = None,
        fit_kw: dict | None = None) -> dict:
    """Train every seed of ``cfg`` (the resolved train config) into ``cfg["run_dir"]``; choose the
    best seed by the unsupervised score; return the selection record. ``fit_kw``: the method's
    extra ``fit`` inputs (``Translator.fit_inputs``, e.g. the pivot's vectors); loaded by the
    method's ``load_fit_inputs`` when run loads xa and xb itself.
    Under ``torchrun`` a method trained by this module's loop (``uses_train_loop``: the GAN)
    trains on every rank (``train_gan``); rank 0 alone fits any other method, writes files and
    returns the record (the other ranks return {})."""
    from .translators import _load_all  # noqa: F401
    from .translators.base import REGISTRY, get_translator

    method_cfg = dict(cfg["method"])
    method = method_cfg.pop("name")
    if method not in REGISTRY:
        get_translator(method)                  # raises with the list of valid names
    cls = REGISTRY[method]
    seeds = [int(s) for s in (cfg["seeds"] if cfg.get("seeds") is not None else [cfg["seed"]])]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {cfg.get('seeds')}")
    run_dir = Path(cfg["run_dir"])
    from .selection import unsupervised_score  # noqa: F401  (fail now, not after training)
    device = pick_device(cfg.get("device", "auto"))
    job = distributed.setup(device)
    if not job.main and not cls.uses_train_loop:   # only the loop trains data-parallel
        distributed.teardown(job)
        return {}
    if fit_kw is None:
        if cls.fit_inputs and (xa is not None or xb is not None):
            raise ValueError(f"method={method} with given xa/xb also needs fit_kw with "
                             f"{', '.join(cls.fit_inputs)} (see {cls.__name__}.fit)")
        fit_kw = cls.load_fit_inputs(cfg, method_cfg)
    if xa is None or xb is None:
        xa, xb = load_training_data(cfg)
    record = {**{k: v for k, v in cfg.items() if k != "method"}, "method": method,
              "method_config": method_cfg, "seeds": seeds, "n_a": int(len(xa)), "n_b": int(len(xb)),
              "dims": [int(xa.shape[1]), int(xb.shape[1])]}
    old = rundir.config_path(run_dir)
    if cfg.get("resume") and old.is_file():
        prev = read_json(old)
        changed = [k for k in ("method", "method_config", "source", "target", "corpus", "n_a",
                               "n_b", "data_seed") if prev.get(k) != record.get(k)]
        if changed:
            raise ValueError(f"{run_dir}: resume=true but the config differs from the saved run "
                             f"in {changed}; use another run_dir or resume=false")
    if job.main:
        rundir.write_config(run_dir, record)
    per_seed: dict[str, dict] = {}
    for seed in seeds:
        sdir = rundir.seed_dir(run_dir, seed)
        tdir = rundir.translator_dir(run_dir, seed)
        t0 = time.time()
        done = bool(cfg.get("resume") and (tdir / "translator.json").is_file()
                    and (sdir / "done.json").is_file())
        if cls.uses_train_loop:  # the ranks train together: rank 0's files decide for all
            done = bool(distributed.agree(job, [float(done)])[0])
        if done:
            from .translators.base import Translator
            tr = Translator.load(tdir)
            seconds = read_json(sdir / "done.json")["seconds"]
        else:
            tr = make_translator(method, method_cfg, seed, device)
            if cls.uses_train_loop:
                train_gan(tr, xa, xb, run_dir=sdir, resume=bool(cfg.get("resume")),
                          ckpt_every=int(cfg["ckpt_every"]), progress=bool(cfg["progress"]),
                          score_fn=selection_scorer(xa, xb))
                tr.dims = (xa.shape[1], xb.shape[1])
                if job.main and tr.shrink_k > 0:
                    tr.fit_shrinkage(xa, xb)     # ``fit`` does this for the other methods
            else:
                tr.fit(xa, xb, **fit_kw)
            seconds = time.time() - t0
            if job.main:
                tr.save(tdir)
                write_json(sdir / "done.json", {"seconds": seconds})
        if not job.main:
            continue
        scores = selection_score(tr, xa, xb)
        per_seed[str(seed)] = {**scores, "seconds": seconds}
        print(f"seed {seed}: {json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in per_seed[str(seed)].items()})}",
              file=sys.stderr)
    distributed.teardown(job)
    if not job.main:
        return {}
    chosen = max(seeds, key=lambda s: _score_value(per_seed[str(s)]))
    if cls.uses_train_loop:   # every seed's training curves in one figure: DIR/curves.png
        states = {s: rundir.seed_dir(run_dir, s) / "checkpoint" / "state.json" for s in seeds}
        logs = {f"seed {s}" + (" (chosen)" if s == chosen else ""): read_json(p)["history"]
                for s, p in states.items() if p.is_file()}
        if logs:
            plot_curves(logs, run_dir / "curves.png")
    tmp = run_dir / (rundir.TRANSLATOR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(rundir.translator_dir(run_dir, chosen), tmp)
    replace_dir(tmp, rundir.translator_dir(run_dir))
    selection = {"criterion": "vec2vec.selection.unsupervised_score['score'] (higher is better)",
                 "chosen_seed": chosen, "per_seed": per_seed}
    write_json(rundir.selection_path(run_dir), selection)
    return selection


def cli(overrides: list[str]) -> int:
    """``vec2vec train method=vec2vec source=minilm target=mpnet corpus=gcide-definitions
    run_dir=DIR seed=0`` (or ``seeds=[0,1,2]``): fit on unpaired splits a/b, save DIR/translator."""
    from .config import compose, to_dict

    cfg = to_dict(compose("train", overrides))
    t0 = time.time()
    sel = run(cfg)
    if not sel:  # a torchrun rank other than 0: rank 0 reports
        return 0
    print(f"{'seed':>6} {'score':>9} {'seconds':>8}")
    for s, rec in sel["per_seed"].items():
        mark = "  <- chosen" if int(s) == sel["chosen_seed"] else ""
        print(f"{s:>6} {_score_value(rec):>9.4f} {rec['seconds']:>8.1f}{mark}")
    print(f"run dir: {cfg['run_dir']} ({time.time() - t0:.1f} s); next: vec2vec evaluate "
          f"run_dir={cfg['run_dir']}")
    return 0
