"""The GAN translator's losses: small composable terms, and the per-step sums built from them.

The terms take torch tensors of shape [n, d] (rows are vectors) and return a scalar tensor.
Cosine-based losses normalise their inputs, so callers may pass raw or unit vectors.
:func:`generator_losses` and :func:`discriminator_loss` evaluate every enabled term for one
batch; :class:`GanLosses` wraps both in one module so DistributedDataParallel syncs them.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of 1 - cos(x_i, y_i) over rows; x, y: [n, d]. 0 when every row points the same way."""
    return (1.0 - F.cosine_similarity(x, y, dim=-1)).mean()


def vsp_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Vector-space preservation: mean |cos(x_i, x_j) - cos(y_i, y_j)| over all pairs of a batch.

    x: [n, d_x], y: [n, d_y] are the same n items in two spaces (e.g. inputs and their
    translations); the loss keeps the batch's pairwise similarity structure.
    """
    xn, yn = F.normalize(x, dim=-1), F.normalize(y, dim=-1)
    return (xn @ xn.T - yn @ yn.T).abs().mean()


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN discriminator loss: real scores -> 1, fake scores -> 0. Inputs [n, 1]."""
    return 0.5 * ((d_real - 1.0).pow(2).mean() + d_fake.pow(2).mean())


def lsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN generator loss: push the discriminator's score on fakes to 1. [n, 1]."""
    return 0.5 * (d_fake - 1.0).pow(2).mean()


def r1_penalty(discriminator, real: torch.Tensor) -> torch.Tensor:
    """R1 regulariser: mean squared gradient norm of D at real samples ([n, d]); keeps D smooth."""
    real = real.detach().requires_grad_(True)
    score = discriminator(real).sum()
    (grad,) = torch.autograd.grad(score, real, create_graph=True)
    return grad.pow(2).sum(dim=1).mean()


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
