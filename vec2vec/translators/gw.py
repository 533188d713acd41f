"""``gw``: Gromov-Wasserstein anchors -> Procrustes -> CSLS refinement (Alvarez-Melis & Jaakkola 2018).

Gromov-Wasserstein couples two point clouds by comparing their *internal* distance matrices, so
it needs no shared coordinates: on ``n_gw`` sampled rows per side, with cost matrices
C = 1 - cos (centred, normalised vectors, scaled to mean 1), POT solves for a coupling T [n, n]
(``solver``: "entropic" = ``ot.gromov.entropic_gromov_wasserstein`` with ``epsilon``, "cg" =
conditional-gradient exact GW). Rows whose coupling argmax is mutual become anchor pairs; an
orthogonal Procrustes map on them is refined by ``csls_rounds`` of mutual-NN CSLS Procrustes.

Expected behaviour (Alvarez-Melis & Jaakkola 2018; docs/research-notes.md): GW recovers a
rotation of the *same* points, but on disjoint samples of two embedders the GW landscape is flat
enough that it stays near chance.
"""
from __future__ import annotations

import numpy as np

from vec2vec.neighbors import subsample
from vec2vec.translators.base import register
from vec2vec.translators.linear import LinearTranslator, procrustes
from vec2vec.translators.minivec2vec import refine


def gw_coupling(za: np.ndarray, zb: np.ndarray, solver: str, epsilon: float, max_iter: int,
                seed: int) -> np.ndarray:
    """GW coupling [n_a, n_b] between unit-row clouds za, zb (uniform marginals)."""
    import ot

    c1 = 1.0 - (za @ za.T).astype(np.float64)
    c2 = 1.0 - (zb @ zb.T).astype(np.float64)
    c1 /= c1.mean()
    c2 /= c2.mean()
    p, q = ot.unif(len(za)), ot.unif(len(zb))
    rng = np.random.default_rng(seed)
    # a random feasible start breaks the symmetry of the uniform coupling (seeds differ)
    g0 = np.outer(p, q) * (1 + 0.1 * rng.random((len(za), len(zb))))
    g0 = ot.sinkhorn(p, q, -np.log(g0), 1.0)
    if solver == "entropic":
        return ot.gromov.entropic_gromov_wasserstein(c1, c2, p, q, "square_loss", epsilon=epsilon,
                                                     G0=g0, max_iter=max_iter, solver="PPA")
    if solver == "cg":
        return ot.gromov.gromov_wasserstein(c1, c2, p, q, "square_loss", G0=g0, max_iter=max_iter)
    raise ValueError(f"gw solver must be 'entropic' or 'cg', got {solver!r}")


@register("gw")
class GromovWasserstein(LinearTranslator):
    """Config: ``seed`` 0, ``n_gw`` 1500 (rows per side in the GW problem), ``solver``
    "entropic" | "cg", ``epsilon`` 5e-3, ``max_iter`` 200, ``csls_rounds`` 5, ``csls_k`` 10,
    ``max_rows`` 20000 (rows per side for refinement)."""

    def __init__(self, seed: int = 0, n_gw: int = 1500, solver: str = "entropic",
                 epsilon: float = 5e-3, max_iter: int = 200, csls_rounds: int = 5, csls_k: int = 10,
                 max_rows: int = 20000, **config):
        super().__init__(seed=seed, n_gw=n_gw, solver=solver, epsilon=epsilon, max_iter=max_iter,
                         csls_rounds=csls_rounds, csls_k=csls_k, max_rows=max_rows, **config)
        self.history: list[dict] = []

    def _fit(self, xa, xb):
        c = self.config
        seed = int(c["seed"])
        za, zb = self._set_stats(xa, xb)
        ga, gb = subsample(za, c["n_gw"], seed * 2 + 1), subsample(zb, c["n_gw"], seed * 2 + 2)
        t = gw_coupling(ga, gb, c["solver"], float(c["epsilon"]), int(c["max_iter"]), seed)
        fwd, bwd = t.argmax(axis=1), t.argmax(axis=0)
        i = np.where(bwd[fwd] == np.arange(len(ga)))[0]
        self.history = [{"step": "gw", "mutual_anchors": int(len(i)),
                         "coupling_max_over_uniform": float(t.max() * t.size)}]
        if len(i) < 2:
            i = np.arange(len(ga))  # degenerate coupling: use every row's argmax
        w = procrustes(ga[i], gb[fwd[i]])
        za_s, zb_s = subsample(za, c["max_rows"], seed * 2 + 3), subsample(zb, c["max_rows"], seed * 2 + 4)
        w = refine(za_s, zb_s, w, 0, 1, 1, 0.0, int(c["csls_rounds"]), int(c["csls_k"]), self.history)
        self._set_maps(w)
