"""``muse``: adversarial orthogonal linear map + CSLS Procrustes refinement (Conneau et al. 2018).

A map W [d_a, d_b] is trained to fool a discriminator that tells mapped a-vectors (za W) from
real b-vectors (centred, normalised). After every generator step W is pulled back towards the
orthogonal manifold with W <- (1+β) W - β W Wᵀ W. Each epoch the map is scored without pairs
(covariance agreement of mapped a with b; MUSE's own mean-CSLS criterion rewards wrong maps,
see selection.py); the best epoch's map is refined by
``csls_rounds`` rounds of Procrustes on the mutual-NN CSLS dictionary.
"""
from __future__ import annotations

import numpy as np

from vec2vec.data.validation import l2_normalize
from vec2vec.neighbors import subsample
from vec2vec.runtime import cpu_threads
from vec2vec.translators.base import register
from vec2vec.translators.linear import LinearTranslator, cov_agreement, orthogonalize
from vec2vec.translators.minivec2vec import refine


def _discriminator(d: int, hidden: int, dropout_in: float):
    import torch.nn as nn

    return nn.Sequential(nn.Dropout(dropout_in), nn.Linear(d, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


def adversarial_map(za: np.ndarray, zb: np.ndarray, seed: int, epochs: int, steps: int,
                    batch: int, lr: float, beta: float, hidden: int, smooth: float,
                    dis_steps: int, history: list) -> np.ndarray:
    """Train the orthogonal generator; return the best-by-CSLS W [d_a, d_b] over epochs."""
    import torch

    torch.set_num_threads(min(torch.get_num_threads(), cpu_threads()))
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    d_a, d_b = za.shape[1], zb.shape[1]
    w0 = orthogonalize(np.random.default_rng(seed).standard_normal((d_a, d_b)).astype(np.float32))
    w = torch.nn.Parameter(torch.from_numpy(w0))
    dis = _discriminator(d_b, hidden, 0.1)
    opt_g = torch.optim.SGD([w], lr=lr)
    opt_d = torch.optim.SGD(dis.parameters(), lr=lr)
    ta, tb = torch.from_numpy(za), torch.from_numpy(zb)
    bce = torch.nn.BCEWithLogitsLoss()
    best_w, best = w0, -np.inf
    for ep in range(epochs):
        for _ in range(steps):
            for _ in range(dis_steps):  # discriminator: real b -> 1 - smooth, mapped a -> smooth
                ia = torch.randint(len(ta), (batch,), generator=g)
                ib = torch.randint(len(tb), (batch,), generator=g)
                x = torch.cat([(ta[ia] @ w).detach(), tb[ib]])
                y = torch.cat([torch.full((batch, 1), smooth), torch.full((batch, 1), 1 - smooth)])
                opt_d.zero_grad()
                bce(dis(x), y).backward()
                opt_d.step()
            ia = torch.randint(len(ta), (batch,), generator=g)  # generator: fool it
            opt_g.zero_grad()
            bce(dis(ta[ia] @ w), torch.full((batch, 1), 1 - smooth)).backward()
            opt_g.step()
            with torch.no_grad():  # stay (semi-)orthogonal
                w.copy_((1 + beta) * w - beta * (w @ w.T @ w))
        wn = orthogonalize(w.detach().numpy())
        # pair-free epoch score (MUSE used mean CSLS; see selection.py for why covariance)
        score = cov_agreement(l2_normalize(za[:4000] @ wn), zb[:4000])
        history.append({"step": f"adv{ep}", "cov": score})
        if score > best:
            best, best_w = score, wn
    return best_w


@register("muse")
class Muse(LinearTranslator):
    """Config: ``seed`` 0, ``epochs`` 5, ``steps`` 400 per epoch, ``batch`` 64, ``lr`` 0.1,
    ``beta`` 0.01, ``hidden`` 512, ``smooth`` 0.1, ``dis_steps`` 5, ``csls_rounds`` 5,
    ``csls_k`` 10, ``max_rows`` 20000."""

    def __init__(self, seed: int = 0, epochs: int = 5, steps: int = 400, batch: int = 64,
                 lr: float = 0.1, beta: float = 0.01, hidden: int = 512, smooth: float = 0.1,
                 dis_steps: int = 5, csls_rounds: int = 5, csls_k: int = 10, max_rows: int = 20000,
                 **config):
        super().__init__(seed=seed, epochs=epochs, steps=steps, batch=batch, lr=lr, beta=beta,
                         hidden=hidden, smooth=smooth, dis_steps=dis_steps, csls_rounds=csls_rounds,
                         csls_k=csls_k, max_rows=max_rows, **config)
        self.history: list[dict] = []

    def _fit(self, xa, xb):
        c = self.config
        seed = int(c["seed"])
        za, zb = self._set_stats(xa, xb)
        za, zb = subsample(za, c["max_rows"], seed * 2 + 1), subsample(zb, c["max_rows"], seed * 2 + 2)
        self.history = []
        w = adversarial_map(za, zb, seed, int(c["epochs"]), int(c["steps"]), int(c["batch"]),
                            float(c["lr"]), float(c["beta"]), int(c["hidden"]), float(c["smooth"]),
                            int(c["dis_steps"]), self.history)
        w = refine(za, zb, w, 0, 1, 1, 0.0, int(c["csls_rounds"]), int(c["csls_k"]), self.history)
        self._set_maps(w)
