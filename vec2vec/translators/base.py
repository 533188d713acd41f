"""The one interface every translation method implements.

A translator maps vectors between two embedding spaces, ``a`` (the source, e.g. an unknown
embedder) and ``b`` (the target). ``fit`` sees *unpaired* arrays: row i of ``xa`` and row i of
``xb`` are different texts. Oracle methods (``needs_pairs = True``) are the exception: they are
fitted on paired rows and exist only as evaluation ceilings.

Saved form (``save(dir)``): ``dir/translator.json`` (method name, format version, constructor
config, dims) and ``dir/weights.safetensors``. Nothing is pickled; loading never runs code.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..io import load_safetensors, read_json, save_safetensors, write_json
from ..validation import check_vectors

FORMAT_VERSION = 1
DIRECTIONS = ("ab", "ba")

# name -> Translator subclass; filled by @register
REGISTRY: dict[str, type["Translator"]] = {}


def register(name: str):
    """Class decorator adding a Translator subclass to the registry under ``name``."""
    def deco(cls):
        cls.method = name
        REGISTRY[name] = cls
        return cls
    return deco


def get_translator(method: str, **config) -> "Translator":
    """Build an unfitted translator by method name; unknown names list the valid ones."""
    from . import _load_all  # noqa: F401  (imports every method module so REGISTRY is full)

    if method not in REGISTRY:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[method](**config)


class Translator(ABC):
    """Base class. Subclasses implement ``_fit``, ``_translate``, ``state_dict``, ``load_state_dict``.

    ``config`` holds every constructor argument (JSON-serialisable) so ``load`` can rebuild it.
    """

    method: ClassVar[str] = "?"
    needs_pairs: ClassVar[bool] = False
    # Trained by ``vec2vec.train``'s own loop (checkpoints, resume, data parallel on every rank)
    # instead of by ``fit``; ``vec2vec train`` then also hands the run's seed and device to the
    # constructor. Only the GAN.
    uses_train_loop: ClassVar[bool] = False
    # Names of the extra keyword inputs of ``fit`` beyond xa, xb (``load_fit_inputs`` loads them
    # for ``vec2vec train``); empty for most methods.
    fit_inputs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def load_fit_inputs(cls, run_cfg: dict, params: dict) -> dict:
        """The extra ``fit`` inputs named in ``fit_inputs``, loaded for the resolved ``vec2vec
        train`` config ``run_cfg`` and this method's ``params``; {} when there are none."""
        return {}

    def __init__(self, **config: Any):
        self.config = dict(config)
        self.dims: tuple[int, int] | None = None  # (d_a, d_b) once fitted

    # ---- public API -----------------------------------------------------------------------
    def fit(self, xa: np.ndarray, xb: np.ndarray) -> "Translator":
        """Learn maps a->b and b->a. xa: [n_a, d_a], xb: [n_b, d_b], float, finite."""
        xa = check_vectors(xa, "xa", min_rows=2)
        xb = check_vectors(xb, "xb", min_rows=2)
        if self.needs_pairs and len(xa) != len(xb):
            raise ValueError(f"{self.method} is fitted on paired rows; got {len(xa)} vs {len(xb)}")
        self.dims = (xa.shape[1], xb.shape[1])
        self._fit(xa, xb)
        return self

    def translate(self, x: np.ndarray, direction: str = "ab") -> np.ndarray:
        """Map x [n, d_src] to [n, d_tgt] float32. direction: "ab" (a->b) or "ba" (b->a)."""
        if self.dims is None:
            raise RuntimeError(f"{self.method} translator is not fitted; call fit() or load()")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        d_src = self.dims[0] if direction == "ab" else self.dims[1]
        x = check_vectors(x, "input vectors", dim=d_src)
        return np.asarray(self._translate(x, direction), dtype=np.float32)

    def save(self, directory: str | Path) -> Path:
        """Write translator.json + weights.safetensors into ``directory`` (atomically per file)."""
        if self.dims is None:
            raise RuntimeError("cannot save an unfitted translator")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_safetensors(directory / "weights.safetensors", self.state_dict(),
                         metadata={"method": self.method})
        write_json(directory / "translator.json", {
            "format": "vec2vec-translator", "version": FORMAT_VERSION, "method": self.method,
            "dims": list(self.dims), "config": self.config})
        return directory

    @staticmethod
    def load(directory: str | Path) -> "Translator":
        """Rebuild a saved translator of any method. Foreign or truncated files raise ValueError."""
        directory = Path(directory)
        meta = read_json(directory / "translator.json")
        if not isinstance(meta, dict) or meta.get("format") != "vec2vec-translator":
            raise ValueError(f"{directory}: not a vec2vec translator checkpoint")
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{directory}: checkpoint format version {meta.get('version')} "
                             f"is not supported (expected {FORMAT_VERSION})")
        obj = get_translator(meta["method"], **meta.get("config", {}))
        obj.dims = tuple(meta["dims"])
        obj.load_state_dict(load_safetensors(directory / "weights.safetensors"))
        return obj

    # ---- for subclasses ---------------------------------------------------------------------
    @abstractmethod
    def _fit(self, xa: np.ndarray, xb: np.ndarray) -> None: ...

    @abstractmethod
    def _translate(self, x: np.ndarray, direction: str) -> np.ndarray: ...

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Tensors/arrays that, with ``config`` and ``dims``, fully define the fitted translator."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...
