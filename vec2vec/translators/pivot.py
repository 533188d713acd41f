"""``pivot``: unsupervised translation a -> b, helped by a third embedder p.

Some pairs stay at chance when fitted directly while each of them aligns with a third space.
Measured (gcide-definitions, 5,000 unpaired texts a side, top-1 @1024): minilm-l3 <-> mpnet
directly 0.003 / 0.002 (oracle 0.892 / 0.925), but minilm-l3 <-> minilm 0.98 and minilm <-> mpnet
0.97. The two good maps composed give 0.77 / 0.81, and a few gentle kNN-mean steps on the pair
itself from that start 0.81 / 0.84.

Fit (every step sees unpaired vectors only):

1. leg a->p: ``mini-vec2vec`` on (xa, xp); leg p->b: ``mini-vec2vec`` on (xp, xb). ``xp`` are
   vectors of the pivot embedder on texts disjoint from those of xa and xb
   (``vec2vec train method=pivot`` takes them from split ``a`` after the first ``n_a`` rows);
2. the two maps between centred unit spaces compose: W0 = W_ap W_pb [d_a, d_b], made
   semi-orthogonal by ``mini-vec2vec`` (polar factor). The composition is already so when d_p
   lies between d_a and d_b (e.g. 384 -> 384 -> 768); a pivot smaller than both loses
   directions, one larger than both contracts some;
3. ``mini-vec2vec`` on (xa, xb) itself, with W0 as one more start (``start_maps``, refined by its
   gentle ``start_maps_schedule``) beside its own identity and anchor starts: the start with the
   highest kNN-mean objective wins, so the pivot only adds a candidate, judged without pairs.
   On minilm-l3 -> mpnet that objective is 0.372 for the pivot's map and 0.351 for the direct
   one (at chance), while the covariance score of ``selection`` preferred the direct map
   (0.769 vs 0.745): comparing methods by that score alone would have thrown the pivot away.

The result is one linear map like every ``LinearTranslator``; the pivot is only needed to fit.
``history`` keeps both legs' and the final fit's logs (``chosen-start`` says which start won).
"""
from __future__ import annotations

import numpy as np

from vec2vec.data.cache import embed
from vec2vec.data.validation import check_vectors
from vec2vec.translators.base import register
from vec2vec.translators.linear import LinearTranslator
from vec2vec.translators.minivec2vec import MiniVec2Vec

DEFAULT_PIVOT, DEFAULT_N_PIVOT = "minilm", 10000


def load_pivot_vectors(run_cfg: dict, pivot: str, n_pivot: int) -> np.ndarray:
    """Vectors of the ``pivot`` embedder for ``vec2vec train method=pivot``: split a of the run's
    corpus, rows [n_a, n_a + n_pivot), texts disjoint from both training sides (split a's first
    n_a rows and split b)."""

    if run_cfg.get("n_a") is None:
        raise ValueError("method=pivot needs n_a set: its pivot texts are the split-a rows after "
                         "the first n_a")
    n_a, n_pivot = int(run_cfg["n_a"]), int(n_pivot)
    xp = embed(pivot, corpus=run_cfg["corpus"], split="a", limit=n_a + n_pivot,
               seed=int(run_cfg["split_seed"]), progress=bool(run_cfg["progress"]))[n_a:]
    if len(xp) < min(n_pivot, 1000):
        raise ValueError(f"method=pivot: split a of {run_cfg['corpus']} has {n_a + len(xp)} texts, "
                         f"leaving {len(xp)} after n_a={n_a} for the pivot; lower n_a or n_pivot")
    return xp


@register("pivot")
class PivotTranslator(LinearTranslator):
    """a -> p -> b as one more start of ``mini-vec2vec`` on (a, b) (module docstring).

    Config: ``pivot`` the pivot embedder's name (recorded; ``vec2vec train`` embeds with it);
    ``n_pivot`` pivot texts (``vec2vec train``); ``seed``; ``leg_config`` extra ``mini-vec2vec``
    config of both legs; ``final_config`` extra ``mini-vec2vec`` config of step 3
    (``{"n_starts": 0, "identity_start": False}`` refines the composed map alone).
    """

    fit_inputs = ("xp",)

    def __init__(self, pivot: str = DEFAULT_PIVOT, n_pivot: int = DEFAULT_N_PIVOT, seed: int = 0,
                 leg_config: dict | None = None, final_config: dict | None = None, **config):
        super().__init__(pivot=pivot, n_pivot=n_pivot, seed=seed, leg_config=dict(leg_config or {}),
                         final_config=dict(final_config or {}), **config)
        self.history: list[dict] = []
        self._xp: np.ndarray | None = None

    @classmethod
    def load_fit_inputs(cls, run_cfg: dict, params: dict) -> dict:
        """``xp``: the pivot embedder's vectors on split-a rows after the first n_a."""
        return {"xp": load_pivot_vectors(run_cfg, params.get("pivot", DEFAULT_PIVOT),
                                         params.get("n_pivot", DEFAULT_N_PIVOT))}

    def fit(self, xa: np.ndarray, xb: np.ndarray, xp: np.ndarray | None = None) -> "PivotTranslator":
        """As ``Translator.fit``, plus ``xp`` [n_p, d_p]: vectors of the pivot embedder on texts
        disjoint from those of xa and xb (required)."""
        if xp is None:
            raise ValueError(f"pivot: fit needs xp, vectors of the pivot embedder "
                             f"({self.config['pivot']!r}) on texts disjoint from xa's and xb's; "
                             f"`vec2vec train method=pivot` embeds them from split a after n_a")
        self._xp = check_vectors(xp, "xp (pivot vectors)", min_rows=2)
        try:
            return super().fit(xa, xb)
        finally:
            self._xp = None  # not part of the fitted translator

    def _fit(self, xa, xb):
        c = self.config
        seed = int(c["seed"])
        leg_cfg, final_cfg = ({**c[k], "seed": seed} for k in ("leg_config", "final_config"))
        legs = {"a->p": MiniVec2Vec(**leg_cfg).fit(xa, self._xp),
                "p->b": MiniVec2Vec(**leg_cfg).fit(self._xp, xb)}
        w0 = legs["a->p"].w_ab @ legs["p->b"].w_ab
        final = MiniVec2Vec(**final_cfg).fit(xa, xb, start_maps={"pivot": w0})
        self.history = [{"stage": name, **h} for name, leg in legs.items() for h in leg.history]
        self.history += [{"stage": "a->b", **h} for h in final.history]
        self.mean_a, self.mean_b, self.scale = final.mean_a, final.mean_b, final.scale
        self.fit_evidence = dict(final.fit_evidence)
        self._set_maps(final.w_ab)
