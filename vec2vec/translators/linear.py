"""Linear translators and the linear-algebra pieces the other methods reuse.

Every linear method here works in a *centred, normalised* copy of each space:
``z = l2n(x - mean)``, where ``mean`` is the mean of that space's (L2-normalised) fitting vectors.
Raw embeddings share a large mean direction (raw cosine between unrelated texts is 0.1-0.3), which
would dominate any similarity structure; removing it is what makes the spaces look alike.
A map ``W`` [d_a, d_b] sends centred a-vectors to centred b-vectors; the output is put back into
b's raw space by ``l2n(l2n(z W) * scale_b + mean_b)`` (``scale_b`` = mean norm of b's centred
vectors), so raw cosines with real b vectors are meaningful.

Methods registered here:
- ``identity``: returns the input, L2-normalised (equal dims only; a sanity baseline).
- ``procrustes-oracle``: orthogonal Procrustes on *paired* rows (evaluation ceiling).
- ``lstsq-oracle``: ridge least squares on *paired* rows (evaluation ceiling, not orthogonal).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from vec2vec.data.validation import l2_normalize
from vec2vec.neighbors import topk_both
from vec2vec.translators.base import Translator, as_numpy, register

# ------------------------------------------------------------------------------------------
# shared pieces
# ------------------------------------------------------------------------------------------


def center_normalize(x: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """L2-normalise rows, subtract the mean (computed here unless given), normalise again.

    x: [n, d]. Returns (z [n, d] float32 unit rows, mean [d] float32).
    """
    xn = l2_normalize(x)
    if mean is None:
        mean = xn.mean(axis=0)
    return l2_normalize(xn - mean), np.asarray(mean, dtype=np.float32)


def residual_scale(x: np.ndarray, mean: np.ndarray) -> float:
    """Mean norm of ``l2n(x) - mean``: how far real vectors sit from the space's mean."""
    return float(np.linalg.norm(l2_normalize(x) - mean, axis=1).mean())


def procrustes(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Orthogonal Procrustes: W [d_x, d_y] with orthonormal rows/columns maximising tr(Wᵀ XᵀY).

    x: [n, d_x], y: [n, d_y] paired rows (optionally weighted per row, weights [n]).
    For d_x != d_y, W = U Vᵀ from the thin SVD of XᵀY is the closest semi-orthogonal map
    (W Wᵀ = I when d_x <= d_y), so ``x @ W`` preserves the geometry of x.
    """
    xt = x.T if weights is None else x.T * weights[None, :]
    m = (xt.astype(np.float32) @ y.astype(np.float32)).astype(np.float64)
    u, _, vt = np.linalg.svd(m, full_matrices=False)
    return (u @ vt).astype(np.float32)


def orthogonalize(w: np.ndarray) -> np.ndarray:
    """The nearest semi-orthogonal matrix to w [d_x, d_y] (polar factor U Vᵀ)."""
    u, _, vt = np.linalg.svd(w.astype(np.float64), full_matrices=False)
    return (u @ vt).astype(np.float32)


def ridge(x: np.ndarray, y: np.ndarray, alpha: float = 1e-2) -> np.ndarray:
    """Ridge least squares W [d_x, d_y] minimising |XW - Y|² + λ|W|², λ = alpha·tr(XᵀX)/d_x."""
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    g = x64.T @ x64
    lam = alpha * np.trace(g) / g.shape[0]
    return np.linalg.solve(g + lam * np.eye(g.shape[0]), x64.T @ y64).astype(np.float32)


def knn_objective(src: np.ndarray, tgt: np.ndarray, k: int = 10) -> float:
    """Mean cosine of every src row [n, d] to its k nearest tgt rows [m, d] and of every tgt row
    to its k nearest src rows, averaged over both directions: the quantity kNN-mean refinement
    climbs. Compare it only between maps refined by the same procedure (NN dictionaries can
    inflate it for wrong maps, see ``selection``)."""
    rv, _, cv, _ = topk_both(src, tgt, k)
    return float((rv.mean() + cv.mean()) / 2)


def cov_agreement(y_pred: np.ndarray, y_real: np.ndarray) -> float:
    """1 - |C_pred - C_real|_F / (|C_pred|_F + |C_real|_F) for the second-moment matrices of two
    sets of centred unit vectors [n, d], [m, d]. 1 = same covariance; 0.3-0.4 for a random rotation
    of an anisotropic space. A global, distribution-level criterion: nearest-neighbour dictionaries
    (CSLS, mutual NN) cannot inflate it the way they inflate CSLS scores of a wrong map."""
    cp = y_pred.T.astype(np.float64) @ y_pred / len(y_pred)
    cr = y_real.T.astype(np.float64) @ y_real / len(y_real)
    return float(1 - np.linalg.norm(cp - cr) / (np.linalg.norm(cp) + np.linalg.norm(cr) + 1e-12))


# ------------------------------------------------------------------------------------------
# the shared linear translator
# ------------------------------------------------------------------------------------------


class LinearTranslator(Translator):
    """Base for every method whose fitted form is a linear map between centred spaces.

    State: ``mean_a`` [d_a], ``mean_b`` [d_b], ``scale`` [2] (residual scales of a, b),
    ``w_ab`` [d_a, d_b], ``w_ba`` [d_b, d_a]. Subclasses implement ``_fit`` and set them via
    ``_set_maps``.
    """

    def fit(self, xa: np.ndarray, xb: np.ndarray) -> "LinearTranslator":
        """As ``Translator.fit``; NumPy's BLAS is held to one thread meanwhile: the matrices
        here are small (SVDs of d x d), where a multi-threaded BLAS on busy cores was measured
        ~10x slower than one thread. Large similarity products run in torch (``knn``)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return super().fit(xa, xb)

    def _set_stats(self, xa: np.ndarray, xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre+normalise both spaces, remember the stats; return (za, zb)."""
        za, self.mean_a = center_normalize(xa)
        zb, self.mean_b = center_normalize(xb)
        self.scale = np.array([residual_scale(xa, self.mean_a), residual_scale(xb, self.mean_b)],
                              np.float32)
        return za, zb

    def _set_maps(self, w_ab: np.ndarray, w_ba: np.ndarray | None = None) -> None:
        """Store maps; an orthogonal method passes only w_ab (then w_ba = w_abᵀ)."""
        self.w_ab = np.ascontiguousarray(w_ab, np.float32)
        self.w_ba = np.ascontiguousarray(w_ab.T if w_ba is None else w_ba, np.float32)

    def with_map(self, w_ab: np.ndarray, w_ba: np.ndarray | None = None) -> "LinearTranslator":
        """A copy of this fitted translator with other maps (e.g. an intermediate snapshot)."""
        import copy

        other = copy.copy(self)
        other.shrinkage = {}     # fitted on this map's outputs, not on the other map's
        other._set_maps(w_ab, w_ba)
        return other

    def map_centered(self, z: np.ndarray, direction: str) -> np.ndarray:
        """Map centred unit vectors z to the other space's centred unit vectors (no de-centring)."""
        return l2_normalize(z @ (self.w_ab if direction == "ab" else self.w_ba))

    def center(self, x: np.ndarray, space: str) -> np.ndarray:
        """Raw vectors of space 'a' or 'b' -> centred unit vectors of that space."""
        return center_normalize(x, self.mean_a if space == "a" else self.mean_b)[0]

    def _translate(self, x: np.ndarray, direction: str) -> np.ndarray:
        src, (mean_t, scale_t) = ("a", (self.mean_b, self.scale[1])) if direction == "ab" \
            else ("b", (self.mean_a, self.scale[0]))
        y = self.map_centered(self.center(x, src), direction)
        return l2_normalize(y * scale_t + mean_t)

    def state_dict(self) -> dict[str, Any]:
        return {"mean_a": self.mean_a, "mean_b": self.mean_b, "scale": self.scale,
                "w_ab": self.w_ab, "w_ba": self.w_ba}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        arrays = {k: as_numpy(v) for k, v in state.items()}
        need = {"mean_a", "mean_b", "scale", "w_ab", "w_ba"}
        if not need <= set(arrays):
            raise ValueError(f"{self.method} checkpoint lacks tensors {sorted(need - set(arrays))}")
        d_a, d_b = self.dims
        if arrays["w_ab"].shape != (d_a, d_b) or arrays["w_ba"].shape != (d_b, d_a) \
                or arrays["mean_a"].shape != (d_a,) or arrays["mean_b"].shape != (d_b,):
            raise ValueError(f"{self.method} checkpoint tensors do not match dims {self.dims}: "
                             f"w_ab {arrays['w_ab'].shape}, w_ba {arrays['w_ba'].shape}")
        self.mean_a, self.mean_b, self.scale = arrays["mean_a"], arrays["mean_b"], arrays["scale"]
        self.w_ab, self.w_ba = arrays["w_ab"], arrays["w_ba"]


# ------------------------------------------------------------------------------------------
# methods
# ------------------------------------------------------------------------------------------


@register("identity")
class Identity(Translator):
    """x -> l2n(x): what you get by pretending the two embedders share a space (equal dims)."""

    def _fit(self, xa, xb):
        if xa.shape[1] != xb.shape[1]:
            raise ValueError(f"identity needs equal dims; got {xa.shape[1]} and {xb.shape[1]}")

    def _translate(self, x, direction):
        return l2_normalize(x)

    def state_dict(self):
        return {"dims": np.asarray(self.dims, np.float32)}

    def load_state_dict(self, state):
        if "dims" not in state:
            raise ValueError("identity checkpoint lacks its 'dims' tensor")


@register("procrustes-oracle")
class ProcrustesOracle(LinearTranslator):
    """Orthogonal Procrustes on paired rows (row i of xa and xb = same text). A ceiling only."""

    needs_pairs = True

    def _fit(self, xa, xb):
        za, zb = self._set_stats(xa, xb)
        self._set_maps(procrustes(za, zb))


@register("lstsq-oracle")
class LstsqOracle(LinearTranslator):
    """Ridge least squares on paired rows, one map per direction. Config: ``alpha`` (1e-2)."""

    needs_pairs = True

    def __init__(self, alpha: float = 1e-2, **config):
        super().__init__(alpha=alpha, **config)

    def _fit(self, xa, xb):
        za, zb = self._set_stats(xa, xb)
        a = float(self.config["alpha"])
        self._set_maps(ridge(za, zb, a), ridge(zb, za, a))
