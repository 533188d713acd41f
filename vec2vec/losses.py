"""Small composable loss functions for the vec2vec GAN translator.

Every function takes torch tensors of shape [n, d] (rows are vectors) and returns a scalar tensor.
Cosine-based losses normalise their inputs, so callers may pass raw or unit vectors.
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
