"""The ``vec2vec`` GAN translator's networks (Jha et al. 2025), sized and warm-started for a CPU.

Network (``VecGANNet``), for spaces ``a`` (dim d_a) and ``b`` (dim d_b):

    F_ab(x) = normalize(out_b(T(in_a(x))))      x: [n, d_a] -> [n, d_b]

- ``in_i``: per-space input adapter, Linear(d_i -> width) then ``in_depth`` residual blocks;
- ``T``: shared backbone, ``backbone_depth`` residual blocks on the width-dim latent;
- ``out_j``: per-space output adapter, ``out_depth`` residual blocks then Linear(width -> d_j);
- residual block: h + g * dropout(norm(SiLU(Linear(h)))) with a learnable gain g. With
  ``residual_gain_init = 0`` every block starts as the identity, so the whole network starts as the
  product of its two linear layers -- which is what makes an exact warm start possible.

Discriminators (least-squares GAN): one per output space (real vectors of that space vs
translations into it) and one on the latent (latents of a vs latents of b).

Warm start (``warm_start``): a fitted translator of another method (default ``mini-vec2vec``,
an unsupervised linear pipeline), or the directory of one already fitted. Its centring statistics
and a->b / b->a maps are copied into the linear layers so that, at step 0, F_ab and F_ba equal the
linear maps exactly (``init_from_linear``); training (:mod:`.loop`) then refines them.

What moves the map past the linear ceiling on a CPU (measured; docs/translation.md and
tests/test_gan.py): self-training on *kNN-mean* targets of the current map (each
vector's target is the mean of its ``pseudo_k`` best CSLS matches among real vectors of the other
space -- different texts, no pairs), together with VSP, reconstruction and cycle losses that keep
the neighbourhood structure (hence top-1). The adversarial terms (``w_gan``, ``w_latent_gan``,
``r1``) are implemented and configurable, but off by default: in CPU minutes they did not add to
the refinement (nor did the paper's recipe from random init in CPU hours:
docs/research-notes.md).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vec2vec.translators.base import Translator, get_translator, method_class
from vec2vec.translators.linear import center_normalize, residual_scale


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm(width)
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind in ("none", None):
        return nn.Identity()
    raise ValueError(f"norm must be 'layer', 'batch' or 'none', got {kind!r}")


class ResBlock(nn.Module):
    """h -> h + gain * dropout(norm(SiLU(Linear(h)))); [n, width] -> [n, width]."""

    def __init__(self, width: int, norm: str, dropout: float, gain_init: float):
        super().__init__()
        self.lin = nn.Linear(width, width)
        self.norm = _norm(norm, width)
        self.drop = nn.Dropout(dropout)
        self.gain = nn.Parameter(torch.full((1,), float(gain_init)))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.gain * self.drop(self.norm(F.silu(self.lin(h))))

    def infer_(self, h: torch.Tensor) -> torch.Tensor:
        """``forward`` in eval mode, updating h in place (h must be a temporary)."""
        r = self.norm(F.silu(self.lin(h), inplace=True))
        return h.add_(r.mul_(self.gain))


def _blocks(n: int, width: int, norm: str, dropout: float, gain: float) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(width, norm, dropout, gain) for _ in range(n)])


class VecGANNet(nn.Module):
    """Generator: adapters per space + shared backbone. ``dims`` = {"a": d_a, "b": d_b}.

    The network works on *centred* unit vectors ``z = l2n(l2n(x) - mean_s)`` of each space s (the
    shared mean direction would otherwise dominate every similarity); raw outputs are put back into
    the target's raw space as ``l2n(z * scale_t + mean_t)``. ``mean_*`` and ``scale`` are buffers
    fitted from the training data (the same convention as ``linear.LinearTranslator``, which makes
    an exact warm start from any linear method possible).
    """

    def __init__(self, dims: dict[str, int], width: int, in_depth: int, backbone_depth: int,
                 out_depth: int, norm: str, dropout: float, residual_gain_init: float, **_):
        super().__init__()
        blk = dict(width=width, norm=norm, dropout=dropout, gain=residual_gain_init)
        self.in_lin = nn.ModuleDict({s: nn.Linear(d, width) for s, d in dims.items()})
        self.in_blocks = nn.ModuleDict({s: _blocks(in_depth, **blk) for s in dims})
        self.backbone = _blocks(backbone_depth, **blk)
        self.out_blocks = nn.ModuleDict({s: _blocks(out_depth, **blk) for s in dims})
        self.out_lin = nn.ModuleDict({s: nn.Linear(width, d) for s, d in dims.items()})
        for s, d in dims.items():
            self.register_buffer(f"mean_{s}", torch.zeros(d))
        self.register_buffer("scale", torch.ones(2))

    def set_stats(self, mean_a, mean_b, scale) -> None:
        """Store the centring statistics (arrays [d_a], [d_b], [2])."""
        with torch.no_grad():
            self.mean_a.copy_(torch.as_tensor(np.asarray(mean_a), dtype=torch.float32))
            self.mean_b.copy_(torch.as_tensor(np.asarray(mean_b), dtype=torch.float32))
            self.scale.copy_(torch.as_tensor(np.asarray(scale), dtype=torch.float32))

    def center(self, x: torch.Tensor, space: str) -> torch.Tensor:
        """Raw vectors [n, d_s] -> centred unit vectors [n, d_s]."""
        return F.normalize(F.normalize(x, dim=-1) - getattr(self, f"mean_{space}"), dim=-1)

    def uncenter(self, z: torch.Tensor, space: str) -> torch.Tensor:
        """Centred unit vectors [n, d_s] -> raw unit vectors of space s."""
        k = 0 if space == "a" else 1
        return F.normalize(z * self.scale[k] + getattr(self, f"mean_{space}"), dim=-1)

    def encode(self, z: torch.Tensor, space: str) -> torch.Tensor:
        """Centred [n, d_space] -> latent [n, width] (after the shared backbone)."""
        return self.backbone(self.in_blocks[space](self.in_lin[space](z)))

    def decode(self, h: torch.Tensor, space: str) -> torch.Tensor:
        """Latent [n, width] -> centred unit vectors [n, d_space]."""
        return F.normalize(self.out_lin[space](self.out_blocks[space](h)), dim=-1)

    def translate_centered(self, z: torch.Tensor, src: str, tgt: str) -> torch.Tensor:
        """Centred [n, d_src] -> centred [n, d_tgt] (unit norm)."""
        return self.decode(self.encode(z, src), tgt)

    def forward(self, x: torch.Tensor, src: str, tgt: str) -> torch.Tensor:
        """Translate raw vectors [n, d_src] -> raw unit vectors [n, d_tgt]."""
        return self.uncenter(self.translate_centered(self.center(x, src), src, tgt), tgt)


    def infer(self, x: torch.Tensor, src: str, tgt: str) -> torch.Tensor:
        """``forward`` for inference (eval mode, no autograd): the same maths with in-place
        element-wise steps, so a chunk allocates few [n, width] temporaries.
        x [n, d_src] raw -> [n, d_tgt] raw unit vectors."""
        z = _normalize_(_normalize_(x.clone()).sub_(getattr(self, f"mean_{src}")))
        h = self.in_lin[src](z)
        for blk in (*self.in_blocks[src], *self.backbone, *self.out_blocks[tgt]):
            h = blk.infer_(h)
        y = _normalize_(self.out_lin[tgt](h))
        k = 0 if tgt == "a" else 1
        return _normalize_(y.mul_(self.scale[k]).add_(getattr(self, f"mean_{tgt}")))


def _normalize_(t: torch.Tensor) -> torch.Tensor:
    """In-place ``F.normalize(t, dim=-1)`` (same eps) for rows of t [n, d]."""
    return t.div_(torch.linalg.vector_norm(t, dim=-1, keepdim=True).clamp_min_(1e-12))


def as_tensor(x: np.ndarray) -> torch.Tensor:
    """A CPU tensor sharing x's memory (read-only arrays too: the tensor is only read)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "non-writable array" warning
        return torch.from_numpy(x)


class Discriminator(nn.Module):
    """MLP [n, d] -> score [n, 1]: Linear -> SiLU -> norm, ``depth`` times, then Linear(width, 1)."""

    def __init__(self, dim: int, width: int, depth: int, norm: str):
        super().__init__()
        layers: list[nn.Module] = []
        d = dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.SiLU(), _norm(norm, width)]
            d = width
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_discriminators(dims: dict[str, int], cfg: dict) -> nn.ModuleDict:
    """Output-space discriminators ``a``, ``b`` and the latent one ``latent``."""
    mk = lambda d: Discriminator(d, cfg["disc_width"], cfg["disc_depth"], cfg["disc_norm"])  # noqa: E731
    return nn.ModuleDict({"a": mk(dims["a"]), "b": mk(dims["b"]), "latent": mk(cfg["width"])})


# ---------------------------------------------------------------------------------------------
# Warm start: take a fitted linear translator's maps and write them into the generator.
# ---------------------------------------------------------------------------------------------
def linear_maps(translator: Translator, xa: np.ndarray, xb: np.ndarray) -> dict[str, np.ndarray]:
    """Centring stats and centred-space maps of a fitted translator.

    Returns {"mean_a" [d_a], "mean_b" [d_b], "scale" [2], "w_ab" [d_a, d_b], "w_ba" [d_b, d_a]}.
    A ``LinearTranslator`` (every linear/OT method) hands over its own exactly; any other method is
    linearised by least squares on its own outputs (centred), which needs no pairs.
    """
    if all(hasattr(translator, k) for k in ("w_ab", "w_ba", "mean_a", "mean_b", "scale")):
        return {k: np.asarray(getattr(translator, k), np.float32)
                for k in ("mean_a", "mean_b", "scale", "w_ab", "w_ba")}
    za, mean_a = center_normalize(xa)
    zb, mean_b = center_normalize(xb)
    out = {"mean_a": mean_a, "mean_b": mean_b,
           "scale": np.array([residual_scale(xa, mean_a), residual_scale(xb, mean_b)], np.float32)}
    for key, z, x, d, m_t in (("w_ab", za, xa, "ab", mean_b), ("w_ba", zb, xb, "ba", mean_a)):
        y = center_normalize(translator.translate(x, d), m_t)[0].astype(np.float64)
        z64 = z.astype(np.float64)
        gram = z64.T @ z64 + 1e-6 * len(z) * np.eye(z.shape[1])  # tiny ridge: well-posed fit
        out[key] = np.linalg.solve(gram, z64.T @ y).astype(np.float32)
    return out


def _orthonormal_rows(d: int, width: int, z: np.ndarray) -> np.ndarray:
    """Q [d, width] with Q Q^T = I_d when width >= d (identity padded with zeros). For width < d,
    the top-``width`` principal directions of the centred vectors z (then the warm start is an
    approximation that drops d - width dimensions)."""
    if width >= d:
        q = np.zeros((d, width), np.float32)
        q[:, :d] = np.eye(d, dtype=np.float32)
        return q
    _, _, vt = np.linalg.svd(z[: min(len(z), 20000)], full_matrices=False)
    return vt[:width].T.astype(np.float32)  # [d, width], orthonormal columns


@torch.no_grad()
def init_from_linear(net: VecGANNet, maps: dict[str, np.ndarray], z_anchor: np.ndarray | None = None) -> None:
    """Make ``net`` (identity blocks) compute exactly the linear maps of ``maps`` (see linear_maps).

    The latent holds the coordinates of the lower-dimensional space s through Q [d_s, width]
    (Q Q^T = I): in_s = Q, out_s = Q^T; the other space t enters as in_t(z) = z W_ts Q and leaves
    as out_t(h) = h Q^T W_st. Then F_st = W_st, F_ts = W_ts and s reconstructs itself exactly.
    z_anchor: centred vectors of s, used only when width < d_s (PCA directions).
    """
    net.set_stats(maps["mean_a"], maps["mean_b"], maps["scale"])
    d = {"a": maps["w_ab"].shape[0], "b": maps["w_ab"].shape[1]}
    s, t = ("a", "b") if d["a"] <= d["b"] else ("b", "a")
    w_st, w_ts = maps[f"w_{s}{t}"], maps[f"w_{t}{s}"]
    q = _orthonormal_rows(d[s], net.in_lin[s].out_features, z_anchor)
    tt = lambda m: torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))  # noqa: E731
    # torch Linear computes z @ weight.T + bias, so weight = matrix.T
    net.in_lin[s].weight.copy_(tt(q.T))
    net.out_lin[s].weight.copy_(tt(q))
    net.in_lin[t].weight.copy_(tt((w_ts @ q).T))
    net.out_lin[t].weight.copy_(tt((q.T @ w_st).T))
    for lin in (*net.in_lin.values(), *net.out_lin.values()):
        lin.bias.zero_()


def fit_warm_start(cfg: dict, xa: np.ndarray, xb: np.ndarray,
                   start_maps: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the warm-start method (cfg["warm_start"]) on unpaired xa, xb; return its linear maps
    and its ``fit_evidence`` (the GAN inherits it: a refinement does not rescue a wrong start).

    ``warm_start`` is a method name (fitted here, with this run's seed unless
    ``warm_start_config`` sets one) or the directory of an already fitted translator (loaded).
    ``start_maps``: given starts for a warm-start method that takes them (mini-vec2vec).
    """
    name = str(cfg["warm_start"])
    if (Path(name) / "translator.json").is_file():
        if start_maps:
            raise ValueError(f"warm_start={name} is an already fitted translator: start maps "
                             "(known pairs) need warm_start=mini-vec2vec")
        lin = Translator.load(name)
        if lin.needs_pairs:   # a saved oracle must not seed an unsupervised fit either
            raise ValueError(f"warm_start={name}: a {lin.method} translator was fitted on paired "
                             "data; vec2vec is unsupervised: warm-start from an unsupervised "
                             "method (e.g. warm_start=mini-vec2vec)")
        if tuple(lin.dims) != (xa.shape[1], xb.shape[1]):
            raise ValueError(f"warm_start={name}: translator dims {lin.dims} do not match the data "
                             f"({xa.shape[1]}, {xb.shape[1]})")
    else:
        wcfg = dict(cfg.get("warm_start_config") or {})
        cls = method_class(name)   # unknown names are refused, listing the valid ones
        if cls.needs_pairs:
            raise ValueError(f"warm_start={name!r} needs paired data; vec2vec is unsupervised: "
                             "use an unsupervised method (e.g. warm_start=mini-vec2vec)")
        if "seed" in cls.config_keys():
            wcfg.setdefault("seed", int(cfg["seed"]))
        lin = get_translator(name, **wcfg)
        lin.fit(xa, xb, **({"start_maps": start_maps} if start_maps else {}))
    return linear_maps(lin, xa, xb), {**lin.fit_evidence, "warm_start": lin.method}
