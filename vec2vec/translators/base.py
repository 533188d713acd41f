"""The one interface every translation method implements.

A translator maps vectors between two embedding spaces, ``a`` (the source, e.g. an unknown
embedder) and ``b`` (the target). ``fit`` sees *unpaired* arrays: row i of ``xa`` and row i of
``xb`` are different texts. Oracle methods (``needs_pairs = True``) are the exception: they are
fitted on paired rows and exist only as evaluation ceilings.

Saved form (``save(dir)``): ``dir/translator.json`` (method name, format version, constructor
config, dims) and ``dir/weights.safetensors``. Nothing is pickled; loading never runs code.

Every method takes the config key ``shrink`` (k neighbours; 0 = off, the default): after the
fit, each direction's output is shrunk per principal direction of the target space by gains
estimated without pairs (``vec2vec.shrink``). It raises the cosine to the true vectors and can
cost a little top-1. ``fit_shrinkage`` adds it to an already fitted translator.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vec2vec.data.io import load_safetensors, read_json, save_safetensors, write_json
from vec2vec.data.validation import check_vectors
from vec2vec.translators.shrink import DEFAULT_K, apply_shrinkage, check_params, fit_shrinkage

FORMAT_VERSION = 1
DIRECTIONS = ("ab", "ba")
SHRINK_PREFIX = "shrink."   # weights.safetensors keys of the output shrinkage (vec2vec.shrink)

# name -> Translator subclass; filled by @register when a method module is imported
REGISTRY: dict[str, type["Translator"]] = {}
# the modules that register methods (imported by ``registry()``); add new method modules here
METHOD_MODULES = ("linear", "gw", "muse", "minivec2vec", "pivot", "gan")


def as_numpy(v) -> np.ndarray:
    """A loaded tensor (torch or array) as a float32 array."""
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, np.float32)


def register(name: str):
    """Class decorator adding a Translator subclass to the registry under ``name``."""
    def deco(cls):
        cls.method = name
        REGISTRY[name] = cls
        return cls
    return deco


def registry() -> dict[str, type["Translator"]]:
    """Every registered method: {name: class}. Imports the method modules on first use (they
    import this module, so it cannot import them at its top)."""
    for mod in METHOD_MODULES:
        importlib.import_module(f"vec2vec.translators.{mod}")
    return REGISTRY


def method_class(method: str) -> type["Translator"]:
    """The class registered as ``method``; unknown names are refused, listing the valid ones."""
    reg = registry()
    if method not in reg:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(sorted(reg))}")
    return reg[method]


def check_config(method: str, config: dict, valid) -> None:
    """Refuse keys of ``config`` not in ``valid``, naming the closest valid key and all of them
    (scikit-learn's rule: a misspelled knob is an error, never silently ignored)."""
    unknown = sorted(set(config) - set(valid))
    if unknown:
        hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, valid, 1))
                 else repr(k) for k in unknown]
        raise ValueError(f"method {method}: unknown key(s) {', '.join(hints)}; valid keys: "
                         f"{', '.join(sorted(valid))} (set them as method.<key>=value)")


def get_translator(method: str, **config) -> "Translator":
    """Build an unfitted translator by method name with its knobs ``config``; unknown names and
    unknown knobs are refused with the valid ones listed."""
    cls = method_class(method)
    check_config(method, config, cls.config_keys())
    return cls(**config)


class Translator(ABC):
    """Base class. Subclasses implement ``_fit``, ``_translate``, ``state_dict``, ``load_state_dict``.

    ``config`` holds every constructor argument (JSON-serialisable) so ``load`` can rebuild it.
    """

    method: ClassVar[str] = "?"
    needs_pairs: ClassVar[bool] = False
    # ``fit`` trains in steps: it takes ``run_dir``, ``resume``, ``ckpt_every``, ``progress`` and
    # ``score_fn`` (checkpoints and resume), and runs on every torchrun rank. Only the GAN.
    trains_in_steps: ClassVar[bool] = False
    # Names of the extra keyword inputs of ``fit`` beyond xa, xb (``load_fit_inputs`` loads them
    # for ``vec2vec train``); empty for most methods.
    fit_inputs: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def load_fit_inputs(cls, run_cfg: dict, params: dict) -> dict:
        """The extra ``fit`` inputs named in ``fit_inputs``, loaded for the resolved ``vec2vec
        train`` config ``run_cfg`` and this method's ``params``; {} when there are none."""
        return {}

    @classmethod
    def config_keys(cls) -> dict[str, Any]:
        """Every knob of the method with its default: the named arguments of the constructor,
        plus ``shrink`` (every method)."""
        keys = {"shrink": 0}
        for klass in reversed(cls.__mro__):
            init = klass.__dict__.get("__init__")
            if init is None or klass is Translator:
                continue
            for name, p in inspect.signature(init).parameters.items():
                if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                    keys[name] = None if p.default is p.empty else p.default
        return keys

    def __init__(self, **config: Any):
        self.config = dict(config)
        self.dims: tuple[int, int] | None = None  # (d_a, d_b) once fitted
        # direction -> {"mean", "axes", "gain"} of vec2vec.shrink; {} = outputs not shrunk
        self.shrinkage: dict[str, dict[str, np.ndarray]] = {}
        # what the fit itself saw of its own success, without pairs (JSON; saved with the
        # translator and read by vec2vec.verdict), e.g. mini-vec2vec's start agreement
        self.fit_evidence: dict[str, Any] = {}

    @property
    def shrink_k(self) -> int:
        """Neighbours of the configured output shrinkage (config ``shrink``); 0 = none."""
        return int(self.config.get("shrink") or 0)

    # ---- public API -----------------------------------------------------------------------
    def fit(self, xa: np.ndarray, xb: np.ndarray) -> "Translator":
        """Learn maps a->b and b->a. xa: [n_a, d_a], xb: [n_b, d_b], float, finite."""
        xa = check_vectors(xa, "xa", min_rows=2)
        xb = check_vectors(xb, "xb", min_rows=2)
        if self.needs_pairs and len(xa) != len(xb):
            raise ValueError(f"{self.method} is fitted on paired rows; got {len(xa)} vs {len(xb)}")
        self.dims = (xa.shape[1], xb.shape[1])
        self.shrinkage = {}
        self.fit_evidence = {}
        self._fit(xa, xb)
        if self.shrink_k > 0:
            self.fit_shrinkage(xa, xb)
        return self

    def fit_shrinkage(self, xa: np.ndarray, xb: np.ndarray, k: int | None = None) -> "Translator":
        """Fit the pair-free output shrinkage of both directions (``vec2vec.shrink``) on unpaired
        xa [n_a, d_a], xb [n_b, d_b]; k neighbours (default: config ``shrink``, else 3)."""
        if self.dims is None:
            raise RuntimeError(f"{self.method} translator is not fitted; call fit() or load()")
        k = int(k or self.shrink_k or DEFAULT_K)
        self.config["shrink"] = k
        self.shrinkage = {}    # fitted on the plain maps' outputs
        xa = check_vectors(xa, "xa", dim=self.dims[0], min_rows=2)
        xb = check_vectors(xb, "xb", dim=self.dims[1], min_rows=2)
        self.shrinkage = {"ab": fit_shrinkage(self.translate(xa, "ab"), xb, k),
                          "ba": fit_shrinkage(self.translate(xb, "ba"), xa, k)}
        return self

    def translate(self, x: np.ndarray, direction: str = "ab") -> np.ndarray:
        """Map x [n, d_src] to [n, d_tgt] float32. direction: "ab" (a->b) or "ba" (b->a)."""
        if self.dims is None:
            raise RuntimeError(f"{self.method} translator is not fitted; call fit() or load()")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        d_src = self.dims[0] if direction == "ab" else self.dims[1]
        x = check_vectors(x, "input vectors", dim=d_src)
        y = np.asarray(self._translate(x, direction), dtype=np.float32)
        if self.shrinkage:
            y = apply_shrinkage(y, self.shrinkage[direction]).astype(np.float32)
        return y

    def save(self, directory: str | Path) -> Path:
        """Write translator.json + weights.safetensors into ``directory`` (atomically per file)."""
        if self.dims is None:
            raise RuntimeError("cannot save an unfitted translator")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = dict(self.state_dict())
        for direction, params in self.shrinkage.items():
            tensors.update({f"{SHRINK_PREFIX}{direction}.{k}": v for k, v in params.items()})
        save_safetensors(directory / "weights.safetensors", tensors,
                         metadata={"method": self.method})
        write_json(directory / "translator.json", {
            "format": "vec2vec-translator", "version": FORMAT_VERSION, "method": self.method,
            "dims": list(self.dims), "config": self.config, "fit_evidence": self.fit_evidence})
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
        method, config, dims = meta.get("method"), meta.get("config", {}), meta.get("dims")
        evidence = meta.get("fit_evidence") or {}
        if not isinstance(method, str) or not isinstance(config, dict) \
                or not isinstance(evidence, dict) or not isinstance(dims, list) or len(dims) != 2 \
                or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
            raise ValueError(f"{directory}/translator.json: needs a method name, a config object "
                             "and dims [d_a, d_b] of positive integers; the file is corrupt or "
                             "foreign (fit and save the translator again)")
        try:
            obj = get_translator(method, **config)
        except TypeError as e:   # a knob of the wrong type
            raise ValueError(f"{directory}/translator.json: config does not fit method "
                             f"{method!r} ({e})") from None
        obj.dims = tuple(dims)
        obj.fit_evidence = dict(evidence)
        state = load_safetensors(directory / "weights.safetensors")
        shrink = {k: state.pop(k) for k in list(state) if k.startswith(SHRINK_PREFIX)}
        obj.load_state_dict(state)
        if shrink or obj.shrink_k > 0:
            obj.shrinkage = {
                d: check_params({k.split(".")[-1]: as_numpy(v) for k, v in shrink.items()
                                 if k.startswith(f"{SHRINK_PREFIX}{d}.")},
                                obj.dims[1 if d == "ab" else 0], f"{directory} ({d})")
                for d in DIRECTIONS}
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
