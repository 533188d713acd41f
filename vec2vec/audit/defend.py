"""Defences for a stored vector set, and ``vec2vec defend``.

The owner of a vector database applies a defence to the stored vectors (and, where retrieval needs
it, the same transform to queries) to make a leak reveal less while search keeps working:

=========== ============================================================ ==========================
kind        stored vector y                                              query transform
=========== ============================================================ ==========================
noise       x + param * g,  g ~ N(0, I_d) per dimension (vec2text's       none (clean queries)
            defence; param is the per-dimension std, unit vectors have
            per-dimension std ~ 1/sqrt(d))
rotation    Q x, Q a secret random orthogonal d x d matrix (seeded)        Q q
int8        round(x / s) * s, s = max|x| / 127 (one scale, fitted on the   same quantisation
            set): 8-bit scalar quantisation, stored back as float
binary      sign(x) / sqrt(d) (1 bit per dimension)                       same
pca         the top ``param`` principal directions (fitted on the set):     same projection
            y = P^T (x - mean), dimension becomes ``param``
=========== ============================================================ ==========================

Every defence is an estimator: ``fit(x)`` learns what it needs from the stored set (a scale, a
basis, a rotation), ``transform(x)`` defends stored vectors, ``transform_query(q)`` maps queries.
Its state saves to safetensors + JSON, so the owner can transform later queries the same way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vec2vec.data.io import load_safetensors, read_json, save_safetensors, write_json
from vec2vec.data.validation import check_vectors
from vec2vec.neighbors import knn

KINDS = ("none", "noise", "rotation", "int8", "binary", "pca")
NEEDS_PARAM = {"noise": "the noise std per dimension (e.g. 0.01)",
               "pca": "the number of principal directions kept (e.g. 64)"}


class Defence:
    """One defence of :data:`KINDS` with its parameter and seed (see the module table)."""

    def __init__(self, kind: str, param: float | None = None, seed: int = 0):
        if kind not in KINDS:
            raise ValueError(f"defence={kind!r}: valid defences are {', '.join(KINDS)}")
        if kind in NEEDS_PARAM and param is None:
            raise ValueError(f"defence={kind} needs param= ({NEEDS_PARAM[kind]})")
        if param is not None:
            try:
                param = float(param)
            except (TypeError, ValueError):
                raise ValueError(f"defence={kind}: param must be a number, got {param!r}") from None
        if kind == "noise" and param < 0:
            raise ValueError(f"defence=noise: param must be >= 0, got {param}")
        if kind == "pca" and (param < 1 or int(param) != param):
            raise ValueError(f"defence=pca: param must be a positive integer, got {param}")
        self.kind, self.param, self.seed = kind, param, int(seed)
        self.state: dict[str, np.ndarray] = {}
        self.dim: int | None = None

    # ---- estimator API --------------------------------------------------------------------------
    def fit(self, x: np.ndarray) -> "Defence":
        """Learn the defence's state from the stored vectors x [n, d]."""
        x = check_vectors(x, "vectors to defend", min_rows=2)
        n, d = x.shape
        self.dim = d
        rng = np.random.default_rng(self.seed)
        if self.kind == "rotation":
            q, r = np.linalg.qr(rng.standard_normal((d, d)))
            self.state = {"rotation": (q * np.sign(np.diag(r))).astype(np.float32)}  # Haar
        elif self.kind == "int8":
            scale = max(float(np.abs(x).max()) / 127.0, 1e-12)   # an all-zero set stays zero
            self.state = {"scale": np.array([scale], dtype=np.float32)}
        elif self.kind == "pca":
            k = int(self.param)
            if k > min(n, d):
                raise ValueError(f"defence=pca: param={k} exceeds min(n, d) = {min(n, d)}")
            mean = x.mean(0)
            _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
            # C-contiguous like a loaded one: the same BLAS path, so a saved defence transforms
            # queries bit-identically after loading
            self.state = {"mean": mean.astype(np.float32),
                          "basis": np.ascontiguousarray(vt[:k].T, dtype=np.float32)}
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Defended stored vectors [n, d'] (d' = param for pca, else d)."""
        x = self._check(x)
        if self.kind == "noise":
            g = np.random.default_rng(self.seed + 1).standard_normal(x.shape).astype(np.float32)
            return x + np.float32(self.param) * g
        return self.transform_query(x)

    def transform_query(self, q: np.ndarray) -> np.ndarray:
        """Queries [m, d] mapped for search against the defended set (noise: unchanged)."""
        q = self._check(q)
        if self.kind in ("none", "noise"):
            return q.copy()
        if self.kind == "rotation":
            return q @ self.state["rotation"].T
        if self.kind == "int8":
            s = self.state["scale"][0]
            return (np.clip(np.round(q / s), -127, 127) * s).astype(np.float32)
        if self.kind == "binary":
            return (np.where(q >= 0, 1.0, -1.0) / np.sqrt(q.shape[1])).astype(np.float32)
        return ((q - self.state["mean"]) @ self.state["basis"]).astype(np.float32)

    def _check(self, x: np.ndarray) -> np.ndarray:
        if self.dim is None:
            raise RuntimeError(f"defence {self.kind} is not fitted; call fit() or load()")
        return check_vectors(x, f"vectors for defence {self.kind}", dim=self.dim)

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """``<path>.json`` (kind, param, seed, dim) and ``<path>.safetensors`` (state, if any)."""
        write_json(_sibling(path, ".json"), {"format": "vec2vec-defence", "kind": self.kind,
                                               "param": self.param, "seed": self.seed,
                                               "dim": self.dim})
        if self.state:
            save_safetensors(_sibling(path, ".safetensors"), self.state)

    @staticmethod
    def load(path: str | Path) -> "Defence":
        """A defence saved by :meth:`save` under the same ``path``."""
        meta = read_json(_sibling(path, ".json"))
        if not isinstance(meta, dict) or meta.get("format") != "vec2vec-defence":
            raise ValueError(f"{_sibling(path, '.json')}: not a vec2vec defence file")
        obj = Defence(meta["kind"], meta["param"], meta["seed"])
        obj.dim = meta["dim"]
        st = _sibling(path, ".safetensors")
        obj.state = {k: np.asarray(v) for k, v in load_safetensors(st).items()} if st.is_file() else {}
        return obj


def _sibling(path: str | Path, suffix: str) -> Path:
    """``path`` with ``suffix`` appended (not replacing its own: ``db.defence`` -> ``db.defence.json``)."""
    return Path(str(path) + suffix)


def recall_at_k(db: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Share of queries i whose own row i of ``db`` [n, d] is among its k nearest by inner
    product (queries [n, d], row i paired with db row i). Exact search
    (:func:`vec2vec.neighbors.knn`)."""
    if len(queries) != len(db):
        raise ValueError(f"recall_at_k: {len(queries)} queries for {len(db)} rows; row i of "
                         "each must be a pair")
    _, idx = knn(np.asarray(queries, dtype=np.float32), np.asarray(db, dtype=np.float32), k)
    return float(np.mean(np.any(idx == np.arange(len(db))[:, None], axis=1)))
