"""Inference: hypothesise, then correct iteratively with a sequence-level beam scored by cosine.

For each target vector e:

1. step 0: the hypothesiser proposes ``beam`` texts (greedy + samples, or a beam search with
   ``proposals="beam"``); optional retrieval hits from a
   public corpus join the pool. Every new candidate is embedded once (one *query* to phi) and
   scored by cos(phi(candidate), e).
2. steps 1..steps: every text in the beam is fed to the corrector with its embedding e_hat, which
   proposes ``expand`` new texts; the beam becomes the ``beam`` best-scoring texts of old beam +
   new candidates (so it never gets worse), and the best-so-far answer is kept separately.
3. stop early when the best cosine has not improved by ``min_gain`` for ``patience`` steps, when
   it reaches ``stop_cosine``, or when the query budget (embedder calls per vector) is spent.
4. polish (``polish`` rounds, :mod:`inversion.polish`): one-word deletions, insertions and
   replacements of the best text, with words taken from the embedder's nearest vocabulary words
   to what the best text's embedding misses; an edit is kept only if it raises the cosine.

Texts already scored for a vector are never re-embedded (a cache per vector), so repeated
proposals cost no queries.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from inversion.data import embed_texts, load_corpus_vectors
from inversion.polish import (
    DEFAULT_ROUNDS,
    DEFAULT_WORDS,
    WordVocabulary,
    residual,
    tokenizer_words,
    word_edits,
)
from inversion.train import load_inverter
from vec2vec.data.io import atomic_path, file_sha256, read_json, write_json
from vec2vec.data.validation import check_vectors, l2_normalize
from vec2vec.data.vectors import load_vectors
from vec2vec.neighbors import knn
from vec2vec.runtime import set_seed

# Sampling temperature of the "sample" proposals. Measured with the shipped minilm inverter (10
# steps, beam 4; token F1 differences paired per text, +- one standard error): in domain 0.7 beat
# 1.0 on three slices (+0.019 +- 0.022, n=60; +0.021 +- 0.014, n=100 with retrieval; +0.034 +-
# 0.016 on the invert benchmark's slice); out of domain (foldoc) it was +0.044 +- 0.024 on one
# slice and -0.028 +- 0.025 on the benchmark's; on 300 foldoc texts -0.002 +- 0.012 (0.342 vs 0.343): no
# effect. 0.5 lost 0.053 +- 0.025 out of domain (too little diversity: the beam's cosine fell
# 0.741 -> 0.694) for +0.011 +- 0.012 in domain.
DEFAULT_TEMPERATURE = 0.7

# Steps without a cosine gain before a vector stops. With the polish after the loop, 2 matched 4
# (shipped minilm inverter, 10 steps, beam 4): 100 gcide texts 0.615 vs 0.605 token F1 in 440 s vs
# 735 s on 2 threads; 100 foldoc texts 0.521 vs 0.528 (paired -0.006 +- 0.020). Without the polish,
# 4 had been 1-3 F1 points better (earlier weights).
DEFAULT_PATIENCE = 2


def check_temperature(temperature) -> float:
    """The sampling temperature as a float; ValueError unless it is a finite number > 0."""
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}") from None
    if not (math.isfinite(t) and t > 0):   # 0 would be greedy only; inf uniform noise; NaN
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


@dataclass
class _State:
    """Search state of one target vector."""

    target: np.ndarray                                  # [d], unit norm
    seen: dict = field(default_factory=dict)            # text -> (cosine, vector)
    beam: list = field(default_factory=list)            # texts, best first
    best: tuple = ("", -2.0)                            # (text, cosine)
    best_step: int = 0
    hypothesis: tuple = ("", -2.0)                      # best of step 0 (the hypothesiser alone)
    history: list = field(default_factory=list)         # best cosine after each step
    queries: int = 0
    steps: int = 0
    stale: int = 0
    done: bool = False
    polish_edits: int = 0


class RetrievalIndex:
    """Nearest-neighbour texts from a public corpus (exact inner product on unit vectors,
    :func:`vec2vec.neighbors.knn`)."""

    def __init__(self, texts: list[str], vectors: np.ndarray):
        vectors = l2_normalize(check_vectors(vectors, "retrieval vectors"))
        if len(texts) != len(vectors):
            raise ValueError(f"retrieval: {len(texts)} texts but {len(vectors)} vectors")
        self.texts = list(texts)
        self.vectors = vectors

    def search(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Scores and row indices [n, k] of the k nearest corpus rows of each query."""
        return knn(np.asarray(queries, dtype=np.float32), self.vectors, k)


def _score(states: list[_State], cands: list[list[str]], embedder, budget: int | None,
           batch_size: int) -> None:
    """Embed each state's unseen candidates (within its budget) and record their cosines."""
    todo, owners = [], []
    for s, cs in zip(states, cands):
        fresh = list(dict.fromkeys(c for c in cs if c and c not in s.seen))
        if budget is not None:
            fresh = fresh[:max(0, budget - s.queries)]
        s.queries += len(fresh)
        todo += fresh
        owners += [s] * len(fresh)
    if todo:
        vecs = embed_texts(embedder, todo, batch_size=batch_size)
        for text, v, s in zip(todo, vecs, owners):
            s.seen[text] = (float(v @ s.target), v)


def _update(s: _State, cands: list[str], beam: int, step: int, min_gain: float,
            patience: int, stop_cosine: float, budget: int | None) -> None:
    """New beam from old beam + scored candidates; best-so-far; early-stop bookkeeping."""
    pool = list(dict.fromkeys(s.beam + [c for c in cands if c in s.seen]))
    pool.sort(key=lambda t: -s.seen[t][0])
    s.beam = pool[:beam]
    prev = s.best[1]
    if s.beam and s.seen[s.beam[0]][0] > prev:
        s.best = (s.beam[0], s.seen[s.beam[0]][0])
        s.best_step = step
    s.history.append(s.best[1])
    s.steps = step
    if step == 0:
        s.hypothesis = s.best
        return
    s.stale = s.stale + 1 if s.best[1] - prev < min_gain else 0
    if (s.stale >= patience or s.best[1] >= stop_cosine or not s.beam
            or (budget is not None and s.queries >= budget)):
        s.done = True


def _polish(states: list[_State], vocab: WordVocabulary, embedder, rounds: int, n_words: int,
            budget: int | None, embed_batch: int) -> None:
    """Word-level polish of each state's best text (module doc, 4.): per round, score the one-word
    edits of the best text and keep the best edit if it raises the cosine; a state stops at its
    first round without a gain or when its budget is spent."""
    live = [s for s in states if s.best[0] and s.best[0] in s.seen]
    for _ in range(rounds):
        live = [s for s in live if budget is None or s.queries < budget]
        if not live:
            break
        current = np.stack([s.seen[s.best[0]][1] for s in live])
        targets = np.stack([s.target for s in live])
        words = vocab.nearest(residual(targets, current), n_words)
        cands = [word_edits(s.best[0], w) for s, w in zip(live, words)]
        _score(live, cands, embedder, budget, embed_batch)
        kept = []
        for s, cs in zip(live, cands):
            scored = [c for c in cs if c in s.seen]
            top = max(scored, key=lambda c: s.seen[c][0], default=None)
            if top is not None and s.seen[top][0] > s.best[1]:
                s.best = (top, s.seen[top][0])
                s.polish_edits += 1
                kept.append(s)
        live = kept


def polish_texts(texts: list[str], targets: np.ndarray, embedder, vocabulary: WordVocabulary,
                 rounds: int = DEFAULT_ROUNDS, n_words: int = DEFAULT_WORDS,
                 budget: int | None = None,
                 embed_batch: int = 128) -> list[dict]:
    """Word-level polish of any texts [n] towards target vectors [n, d] of ``embedder``'s space
    (the stage :func:`invert` runs last). Returns one dict per text: ``text``, ``cosine``,
    ``start_cosine``, ``edits``, ``queries`` (embedder calls, the start text's included)."""
    targets = l2_normalize(check_vectors(targets, "targets"))
    if len(texts) != len(targets) or not all(texts):
        raise ValueError(f"polish_texts: {len(texts)} texts for {len(targets)} targets; every "
                         "text must be non-empty")
    states = [_State(target=v) for v in targets]
    _score(states, [[t] for t in texts], embedder, None, embed_batch)
    for s, t in zip(states, texts):
        s.best = (t, s.seen[t][0])
    start = [s.best[1] for s in states]
    _polish(states, vocabulary, embedder, int(rounds), int(n_words), budget, embed_batch)
    return [{"text": s.best[0], "cosine": s.best[1], "start_cosine": c0,
             "edits": s.polish_edits, "queries": s.queries} for s, c0 in zip(states, start)]


def propose(model, e: torch.Tensor, n: int, how: str = "sample", e_hat: torch.Tensor | None = None,
            hyp_ids: list[list[int]] | None = None,
            temperature: float = DEFAULT_TEMPERATURE) -> list[list[str]]:
    """n candidate texts per row of e [B, d] (hypothesiser; corrector when e_hat/hyp_ids given).

    how: ``"beam"`` = the n best of a width-n beam search (HF generate); ``"sample"`` = the
    greedy text plus n - 1 samples at ``temperature`` (our decoding loop, one context pass shared
    by the n texts; ``temperature`` is checked by :func:`invert`). Measured with the step-500
    minilm inverter on 50 held-out definitions, 3 correction steps, beam 4, temperature 1: sample
    reached token F1 0.393 / cosine 0.720, beam 0.340 / 0.621.
    """
    if how == "beam":
        return model.generate(e, e_hat=e_hat, hyp_ids=hyp_ids, num_return=n, num_beams=n)
    if how != "sample":
        raise ValueError(f"proposals must be 'beam' or 'sample', got {how!r}")
    return model.generate(e, e_hat=e_hat, hyp_ids=hyp_ids, num_return=n, do_sample=True,
                          greedy_first=True, temperature=temperature)


def invert(vectors: np.ndarray, model, embedder, steps: int = 10, beam: int = 4,
           expand: int | None = None, hyp_samples: int | None = None, proposals: str = "sample",
           temperature: float = DEFAULT_TEMPERATURE, budget: int | None = None,
           patience: int = DEFAULT_PATIENCE,
           min_gain: float = 1e-3, stop_cosine: float = 0.999, retrieval: RetrievalIndex | None = None,
           retrieval_k: int = 1, polish: int = DEFAULT_ROUNDS,
           polish_words: int = DEFAULT_WORDS,
           vocabulary: WordVocabulary | None = None, batch_size: int = 64, embed_batch: int = 128,
           progress: bool = False) -> list[dict]:
    """Invert vectors [n, d] of ``embedder``'s space into texts (one dict per row, in order).

    Args:
        model: a trained :class:`inversion.model.Inverter` for this embedder.
        embedder: name or object with ``encode(texts) -> [n, d]`` (phi, used to score candidates).
        steps: correction steps after the hypothesis (0 = hypothesiser alone).
        beam: texts kept per vector between steps; expand: proposals per beam text (default beam).
        hyp_samples: hypotheses proposed at step 0 (default beam); the beam keeps the best.
        proposals: how candidates are generated, ``"beam"`` or ``"sample"`` (see :func:`propose`).
        temperature: sampling temperature of the ``"sample"`` proposals (the first is greedy).
        budget: maximum embedder queries per vector (None = unlimited).
        retrieval: optional index whose ``retrieval_k`` nearest texts join the step-0 pool.
        polish: rounds of word-level polish after the last step (0 = off); polish_words: nearest
            vocabulary words tried per round; vocabulary: the words to try (default: the
            backbone tokenizer's whole words, embedded once and cached).
    Returns:
        dicts with ``text``, ``cosine`` (of phi(text) to the target), ``steps`` (correction steps
        run), ``best_step``, ``queries``, ``hypothesis`` / ``hypothesis_cosine`` (step 0 best),
        ``history`` (best cosine after step 0, each correction step, then the polish if run),
        ``unpolished`` / ``unpolished_cosine`` (the best text before the polish: the fluent
        corrector output), ``polish_edits`` (edits the polish kept), ``polish_queries``.
    """
    if model.cfg.emb_dim is not None:
        vectors = check_vectors(vectors, "vectors", dim=model.cfg.emb_dim)
    vectors = l2_normalize(vectors)
    temperature = check_temperature(temperature)
    if retrieval is not None and int(retrieval_k) < 1:
        raise ValueError(f"retrieval_k must be >= 1, got {retrieval_k}")
    expand = expand or beam
    hyp_samples = hyp_samples or beam
    if int(polish) < 0 or int(polish_words) < 1:
        raise ValueError(f"polish must be >= 0 and polish_words >= 1, got {polish}, {polish_words}")
    # the words are checked now, embedded (once per embedder, cached) only when the polish runs
    words = tokenizer_words(model.tokenizer) if polish and vocabulary is None else None
    device = model.device
    tok = model.tokenizer
    states = [_State(target=v) for v in vectors]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps + 1, desc="invert", unit="step", dynamic_ncols=True)
    model.eval()
    # ----- step 0: hypotheses (+ retrieval) -----
    for s0 in range(0, len(states), batch_size):
        chunk = states[s0:s0 + batch_size]
        e = torch.from_numpy(vectors[s0:s0 + batch_size]).to(device)
        cands = propose(model, e, hyp_samples, proposals, temperature=temperature)
        if retrieval is not None:
            _, idx = retrieval.search(vectors[s0:s0 + batch_size], retrieval_k)
            cands = [c + [retrieval.texts[j] for j in row if j >= 0] for c, row in zip(cands, idx)]
        _score(chunk, cands, embedder, budget, embed_batch)
        for s, c in zip(chunk, cands):
            _update(s, c, beam, 0, min_gain, patience, stop_cosine, budget)
    if bar:
        bar.update(1)
    # ----- correction steps -----
    for step in range(1, steps + 1):
        active = [i for i, s in enumerate(states) if not s.done]
        if not active:
            break
        jobs = [(i, t) for i in active for t in states[i].beam]     # (vector row, beam text)
        pool: dict[int, list[str]] = {i: [] for i in active}
        for j0 in range(0, len(jobs), batch_size):
            part = jobs[j0:j0 + batch_size]
            e = torch.from_numpy(np.stack([vectors[i] for i, _ in part])).to(device)
            e_hat = torch.from_numpy(np.stack([states[i].seen[t][1] for i, t in part])).to(device)
            hyp_ids = [tok(t, add_special_tokens=False).input_ids[:model.cfg.max_tokens]
                       for _, t in part]
            outs = propose(model, e, expand, proposals, e_hat, hyp_ids, temperature)
            for (i, _), o in zip(part, outs):
                pool[i] += o
        _score([states[i] for i in active], [pool[i] for i in active], embedder, budget,
               embed_batch)
        for i in active:
            _update(states[i], pool[i], beam, step, min_gain, patience, stop_cosine, budget)
        if bar:
            bar.update(1)
            bar.set_postfix(active=len(active),
                            cos=f"{np.mean([s.best[1] for s in states]):.3f}")
    if bar:
        bar.close()
    before = [(s.best, s.queries) for s in states]
    if polish:
        vocabulary = vocabulary or WordVocabulary.build(embedder, words, progress=progress)
        _polish(states, vocabulary, embedder, int(polish), int(polish_words), budget, embed_batch)
        for s in states:
            s.history.append(s.best[1])
    return [{"text": s.best[0], "cosine": s.best[1], "steps": s.steps, "best_step": s.best_step,
             "queries": s.queries, "hypothesis": s.hypothesis[0],
             "hypothesis_cosine": s.hypothesis[1], "history": s.history,
             "unpolished": best[0], "unpolished_cosine": best[1],
             "polish_edits": s.polish_edits, "polish_queries": s.queries - q}
            for s, (best, q) in zip(states, before)]


# ----- CLI ---------------------------------------------------------------------------------------
def default_weights_dir(embedder: str) -> Path:
    """Shipped inverter for ``embedder`` (``inversion/weights/<embedder>/``)."""
    return Path(__file__).resolve().parent / "weights" / embedder


# config keys that change what ``vec2vec invert`` writes (a resumed run must match them)
RESULT_KEYS = ("input", "embedder", "run_dir", "steps", "beam", "expand", "hyp_samples",
               "proposals", "temperature", "budget", "patience", "min_gain", "polish",
               "polish_words", "retrieval_corpus", "retrieval_split", "retrieval_limit",
               "retrieval_k", "batch_size", "chunk", "seed")


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _check_parts(cfg: dict, out: Path, run_dir: Path) -> Path:
    """The folder of finished chunks of this output: a new one, or (``resume=true``) the one an
    interrupted run with the same inputs and settings left; anything else is refused."""
    parts = _parts_dir(out)
    key = {k: cfg.get(k) for k in RESULT_KEYS} | {
        "input_sha256": file_sha256(cfg["input"]),
        "inverter_sha256": file_sha256(run_dir / "inverter.json")}
    if (parts / "key.json").is_file():
        if not cfg.get("resume"):
            if not cfg.get("overwrite"):
                raise ValueError(f"{parts} holds an interrupted run of this output; resume=true "
                                 "continues it, overwrite=true starts afresh")
        else:
            old = read_json(parts / "key.json")
            diff = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
            if diff:
                raise ValueError(f"{parts} was written with other inputs or settings "
                                 f"({', '.join(diff)}); overwrite=true starts afresh")
            return parts
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    write_json(parts / "key.json", key)
    return parts


def run_invert(cfg: dict, model=None) -> int:
    """``vec2vec invert``: read vectors, invert, write one JSON line per vector (in order).

    Every input is checked (file, dimension against the inverter's ``inverter.json``, output not
    already there) before the language model loads. Vectors are inverted in chunks of ``chunk``;
    each finished chunk is written atomically to ``<output>.parts/`` and its sampling is seeded
    by (seed, chunk number), so a killed run continued with ``resume=true`` writes the same file
    as an uninterrupted one. ``model``: an already loaded inverter (tests)."""
    if not cfg.get("input"):
        raise ValueError("input=PATH.npy is required (float32 [n, d] in the embedder's space)")
    if not cfg.get("output"):
        raise ValueError("output=PATH.jsonl is required")
    out = Path(cfg["output"])
    if out.exists() and not cfg.get("overwrite"):
        raise ValueError(f"output={out} exists; pass overwrite=true to replace it, or choose "
                         "another output")
    chunk = int(cfg.get("chunk") or 64)
    if chunk < 1:
        raise ValueError(f"chunk={chunk}: vectors per resumable chunk must be >= 1")
    temperature = check_temperature(cfg.get("temperature", DEFAULT_TEMPERATURE))
    vecs = load_vectors(cfg["input"])
    run_dir = Path(cfg["run_dir"]) if cfg.get("run_dir") else default_weights_dir(cfg["embedder"])
    if not (run_dir / "inverter.json").is_file():
        raise FileNotFoundError(f"{run_dir}: no inverter.json; no trained inverter for embedder "
                                f"{cfg['embedder']!r} here (train one with `vec2vec invert-train`)")
    meta = read_json(run_dir / "inverter.json")
    if isinstance(meta, dict) and vecs.shape[1] != meta.get("emb_dim"):
        raise ValueError(f"input={cfg['input']}: vectors have dim {vecs.shape[1]}, but the inverter "
                         f"in {run_dir} expects {meta.get('emb_dim')} ({meta.get('embedder')}); "
                         "pass embedder= / run_dir= of an inverter for these vectors")
    parts = _check_parts(cfg, out, run_dir)
    model = model if model is not None else load_inverter(run_dir, embedder=cfg["embedder"])
    retrieval = None
    if cfg.get("retrieval_corpus"):
        t, v = load_corpus_vectors(cfg["embedder"], cfg["retrieval_corpus"],
                                   cfg.get("retrieval_split", "a"), cfg.get("retrieval_limit"))
        retrieval = RetrievalIndex(t, v)
    t0 = time.time()
    res: list[dict] = []
    for c, start in enumerate(range(0, len(vecs), chunk)):
        path = parts / f"{c:06d}.jsonl"
        if path.is_file():   # finished before an interruption
            res += [json.loads(line) for line in path.read_text().splitlines()]
            continue
        set_seed(int(cfg["seed"]) * 100003 + c)   # each chunk's samples, whatever ran before
        part = invert(vecs[start:start + chunk], model, cfg["embedder"], steps=int(cfg["steps"]),
                      beam=int(cfg["beam"]), expand=cfg.get("expand"),
                      hyp_samples=cfg.get("hyp_samples"), proposals=cfg.get("proposals", "sample"),
                      temperature=temperature, budget=cfg.get("budget"),
                      patience=int(cfg["patience"]), min_gain=float(cfg["min_gain"]),
                      retrieval=retrieval, retrieval_k=int(cfg.get("retrieval_k", 1)),
                      polish=int(cfg.get("polish", DEFAULT_ROUNDS)),
                      polish_words=int(cfg.get("polish_words", DEFAULT_WORDS)),
                      batch_size=int(cfg["batch_size"]), progress=cfg["progress"])
        part = [{"index": start + i, **r} for i, r in enumerate(part)]
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in part))
        res += part
    with atomic_path(out) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in res))
    write_json(out.with_suffix(".config.json"), {**cfg, "inverter": str(run_dir),
                                                 "seconds": time.time() - t0})
    shutil.rmtree(parts, ignore_errors=True)
    print(f"[invert] {len(res)} vectors -> {out} (mean cosine "
          f"{np.mean([r['cosine'] for r in res]):.3f}, {time.time() - t0:.0f} s)")
    return 0
