"""Embed corpus splits through a resumable on-disk cache; the ``vec2vec embed`` command.

Cache layout (under ``cache_root()/embeddings``), one entry per embedder x corpus x split x seed x
split sizes::

    <embedder>/<corpus>/<split>-seed<seed>-<sizes>/manifest.json
                                                  /chunk_000000.npy   rows [0, CHUNK) of the split
                                                  /chunk_000001.npy   rows [CHUNK, 2*CHUNK) ...

A request for the first ``limit`` rows reads the chunks it needs and embeds only missing rows,
so a larger earlier request serves a smaller later one, and a killed run resumes from its last
finished chunk. Each chunk is written atomically. The manifest records the embedder id (name +
package version or weight fingerprint) and the corpus source; a cache whose manifest does not
match the request is refused with a message naming the mismatch.
"""
from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

import numpy as np

from vec2vec.data.corpora import CORPORA, corpus_id, get_split, texts_hash
from vec2vec.data.embedders import cache_root, get_embedder, registry_id
from vec2vec.data.io import file_lock, load_npy, read_json, save_npy, write_json
from vec2vec.data.validation import check_vectors

log = logging.getLogger(__name__)
CHUNK = 1024


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_")[-80:]


def _sizes_key(sizes: dict | None) -> str:
    if not sizes:
        return "default"
    return "-".join(f"{k}{sizes[k]}" for k in sorted(sizes) if sizes[k] is not None) or "default"


def _embedder_id(name: str) -> str:
    """The embedder's id, without loading a registry model (keeps cache hits fast)."""
    return registry_id(name) or get_embedder(name).id


def _request(embedder, corpus, split, seed, sizes, corpus_opts) -> dict:

    return {
        "embedder": embedder,
        "embedder_id": _embedder_id(embedder),
        "corpus": corpus if corpus in CORPORA else str(Path(corpus).resolve()),
        "corpus_source": corpus_id(corpus, **corpus_opts),
        "split": split,
        "seed": int(seed) if split != "all" else None,
        "sizes": dict(sizes or {}),
        **{k: v for k, v in corpus_opts.items() if v not in (None, 0, False, "text", "utf-8")},
    }


def _mismatch(manifest: dict, request: dict, keys) -> list[str]:
    return [f"{k}: cached {manifest.get(k)!r} vs requested {request.get(k)!r}"
            for k in keys if manifest.get(k) != request.get(k)]


def embed(embedder: str = "minilm", corpus: str = "gcide-definitions", split: str = "eval",
          limit: int | None = None, seed: int = 0, out: str | Path | None = None,
          sizes: dict | None = None, batch_size: int = 64, progress: bool = True,
          overwrite: bool = False, **corpus_opts) -> np.ndarray:
    """Embed the first ``limit`` texts of a corpus split -> float32 [n, dim], through the cache.

    ``split`` is ``a``, ``b``, ``eval`` (seeded disjoint splits) or ``all`` (a user file, whole,
    in file order). ``out=PATH.npy`` also writes the array there with ``PATH.json`` beside it;
    a second identical call returns from that file at once. ``corpus_opts`` go to
    ``corpora.get_split`` (min_words, max_words, text_field, label_field, dedup, encoding).
    """
    request = _request(embedder, corpus, split, seed, sizes, corpus_opts)
    request["limit"] = limit
    if out is not None:
        out = Path(out)
        if out.suffix != ".npy":
            raise ValueError(f"out={out}: must end in .npy")
        hit = _read_out(out, request, overwrite)
        if hit is not None:
            return hit
    vectors, texts_hash = _embed_cached(embedder, corpus, split, seed, limit, sizes, request,
                                        batch_size, progress, overwrite, corpus_opts)
    if out is not None:
        save_npy(out, vectors)
        write_json(out.with_suffix(".json"), {**request, "count": len(vectors),
                                              "dim": int(vectors.shape[1]),
                                              "texts_sha256": texts_hash,
                                              "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return vectors


def _read_out(out: Path, request: dict, overwrite: bool) -> np.ndarray | None:
    """Return the array at ``out`` if its manifest matches ``request``; None if absent."""
    manifest_path = out.with_suffix(".json")
    if not out.exists() or overwrite:
        return None
    if not manifest_path.exists():
        raise ValueError(f"{out} exists but has no manifest {manifest_path.name}; refusing to "
                         "overwrite a file vec2vec did not write (pass overwrite=true)")
    bad = _mismatch(read_json(manifest_path), request, request.keys())
    if bad:
        raise ValueError(f"{out} holds a different embedding ({'; '.join(bad)}); "
                         "choose another out= or pass overwrite=true")
    return check_vectors(load_npy(out), str(out))


def entry_dir(embedder: str, corpus: str, split: str, seed: int, sizes: dict | None) -> Path:
    """Cache folder of one embedder x corpus x split x seed x sizes."""
    tag = f"{split}-seed{seed}-{_sizes_key(sizes)}" if split != "all" else "all"
    return cache_root() / "embeddings" / _slug(embedder) / _slug(corpus) / tag


def _embed_cached(embedder, corpus, split, seed, limit, sizes, request, batch_size, progress,
                  overwrite, corpus_opts) -> tuple[np.ndarray, str]:

    texts = get_split(corpus, split, seed=seed, limit=limit, sizes=sizes, **corpus_opts).texts
    digest = texts_hash(texts)
    folder = entry_dir(embedder, corpus, split, seed, sizes)
    if split == "all":  # user file: key the entry by the file's contents too
        folder = folder / _slug(request["corpus_source"])
    folder.mkdir(parents=True, exist_ok=True)
    keys = ("embedder_id", "corpus", "corpus_source", "split", "seed", "sizes")
    with file_lock(folder / ".lock"):  # held briefly: manifest check/write only
        manifest_path = folder / "manifest.json"
        if manifest_path.exists() and not overwrite:
            bad = _mismatch(read_json(manifest_path), request, keys)
            if bad:
                raise ValueError(f"embedding cache {folder} was made for another request "
                                 f"({'; '.join(bad)}); pass overwrite=true to rebuild it")
        elif overwrite:
            for f in folder.glob("chunk_*.npy"):
                f.unlink()
        write_json(manifest_path, {k: request[k] for k in keys} | {"chunk_size": CHUNK})
    vectors = _fill_chunks(folder, texts, embedder, batch_size, progress)
    request["truncated"] = truncated_count(folder, len(texts))
    if request["truncated"]:
        log.warning("%s: %d of %d texts of %s[%s] are longer than the model reads and were cut",
                    embedder, request["truncated"], len(texts), corpus, split)
    return vectors, digest


def _fill_chunks(folder: Path, texts: list[str], embedder: str, batch_size: int,
                 progress: bool) -> np.ndarray:
    """Read the chunks covering ``texts``; embed and write whatever rows are missing.

    Each chunk is filled under its own lock, so processes asking for the same entry share the
    work chunk by chunk instead of waiting for one another's whole request.
    """
    from tqdm.auto import tqdm

    n = len(texts)
    n_chunks = (n + CHUNK - 1) // CHUNK
    if n_chunks == 0:
        raise ValueError("nothing to embed")
    spans = [(c * CHUNK, min((c + 1) * CHUNK, n)) for c in range(n_chunks)]
    parts = [_read_chunk(folder, c, hi - lo) for c, (lo, hi) in enumerate(spans)]
    missing = sum(hi - lo - (len(p) if p is not None else 0)
                  for p, (lo, hi) in zip(parts, spans) if p is None or len(p) < hi - lo)
    if missing:
        model = get_embedder(embedder)
        bar = tqdm(total=missing, desc=f"embed {embedder}", unit="text", disable=not progress,
                   file=sys.stderr)
        for c, (lo, hi) in enumerate(spans):
            if parts[c] is not None and len(parts[c]) >= hi - lo:
                continue
            todo = hi - lo - (0 if parts[c] is None else len(parts[c]))   # rows this chunk lacks
            with file_lock(folder / f".chunk_{c:06d}.lock"):
                done = _read_chunk(folder, c, hi - lo)  # another process may have filled it
                if done is None:
                    done = np.zeros((0, model.dim), np.float32)
                if len(done) < hi - lo:
                    new = model.encode(texts[lo + len(done):hi], batch_size=batch_size)
                    check_vectors(new, f"{embedder} output", dim=model.dim)
                    done = np.concatenate([done, new])
                    # texts the model cut (beyond its maximum length): counted, said, recorded
                    cut = model.count_truncated(texts[lo:hi])
                    write_json(folder / f"chunk_{c:06d}.json", {"rows": hi - lo, "truncated": cut})
                    save_npy(folder / f"chunk_{c:06d}.npy", done)
            parts[c] = done[:hi - lo]
            bar.update(todo)   # the bar counts the missing rows only: it ends at its total
        bar.close()
    return np.concatenate(parts)


def truncated_count(folder: Path, n: int) -> int | None:
    """Texts among the first ``n`` of a cache entry that the model cut (from each chunk's record;
    None when a chunk predates the records or its engine does not say)."""
    total = 0
    for c in range((n + CHUNK - 1) // CHUNK):
        path = folder / f"chunk_{c:06d}.json"
        rec = read_json(path) if path.is_file() else None
        if not rec or rec.get("truncated") is None:
            return None
        if min(n - c * CHUNK, CHUNK) < rec["rows"]:
            return None     # a partial chunk of a longer entry: its count covers rows not asked for
        total += int(rec["truncated"])
    return total


def _read_chunk(folder: Path, c: int, want: int) -> np.ndarray | None:
    """Rows of chunk ``c`` (at most ``want``; fewer if the chunk is partial), or None if absent."""
    path = folder / f"chunk_{c:06d}.npy"
    if not path.exists():
        return None
    have = check_vectors(load_npy(path), str(path))
    return have[:want]
