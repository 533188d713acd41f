"""Is a leaked vector set the output of an embedder we can run? Pair-free identification.

Before translating leaked vectors without pairs, an auditor should check the obvious: many vector
databases are made with public models. If the leaked vectors come from candidate embedder C, then
C's embeddings of public texts of the same domain form the *same distribution*: every leaked vector
has a public neighbour about as close as public vectors have among themselves, and the mean
vectors agree. Vectors of another model (or a rotated copy) share neither.

Two statistics per candidate, on at most ``max_rows`` leaked rows (unit-normalised):

- ``nn_ratio``: mean cosine of each leaked vector to its nearest public vector of C, divided by the
  same mean for held-out public vectors of C (the public set split in two). ~1 for the same model;
- ``mean_cos``: cosine between the mean leaked vector and the mean public vector.

Measured on gcide-definitions (2,000 leaked eval vectors, 6,000 public vectors; the leak's own model
vs the other 384-d embedders): the same model scores nn_ratio 0.991-0.998, mean_cos 0.997-1.000;
every other model (or minilm under a random rotation) 0.07-0.46 and 0.33 or less. Gaussian noise
on the leak lowers nn_ratio (minilm + N(0, 0.05²) per coordinate, a noise as large as the vector:
0.73) and leaves mean_cos (0.997). A candidate matches when both clear the thresholds below.

Shapes: leaked [n, d] (n >= 2), public [m, d] (m >= 4: half of it is held out); any norm.
"""
from __future__ import annotations

import numpy as np

from inversion.data import load_corpus_vectors
from vec2vec.data.embedders import registry
from vec2vec.data.validation import check_vectors, l2_normalize
from vec2vec.neighbors import knn, subsample

MIN_NN_RATIO = 0.6     # the same model: >= 0.73 even under heavy noise; other models: <= 0.46
MIN_MEAN_COS = 0.9     # the same model: >= 0.997; other models: <= 0.33
MAX_ROWS = 2000        # leaked rows and held-out public rows compared (seeded subsample above this)


def match_stats(leaked: np.ndarray, public: np.ndarray, max_rows: int = MAX_ROWS,
                seed: int = 0) -> dict:
    """``{"nn_ratio", "mean_cos", "match"}`` for leaked [n, d] against one candidate's public
    vectors [m, d] (module docstring). Dimensions must agree."""
    leaked = check_vectors(leaked, "leaked vectors", min_rows=2)
    public = check_vectors(public, "candidate's public vectors", dim=leaked.shape[1], min_rows=4)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(public))
    half = len(public) // 2
    held_out, rest = l2_normalize(public[perm[:half]]), l2_normalize(public[perm[half:]])
    lk = l2_normalize(subsample(leaked, max_rows, rng))
    ref = float(knn(subsample(held_out, max_rows, rng), rest, 1)[0].mean())
    nn = float(knn(lk, rest, 1)[0].mean())
    mu_l, mu_p = lk.mean(0), l2_normalize(public).mean(0)
    mean_cos = float(mu_l @ mu_p / max(np.linalg.norm(mu_l) * np.linalg.norm(mu_p), 1e-12))
    ratio = nn / ref if ref > 0 else 0.0
    return {"nn_ratio": ratio, "mean_cos": mean_cos,
            "match": bool(ratio >= MIN_NN_RATIO and mean_cos >= MIN_MEAN_COS)}


def identify(leaked: np.ndarray, candidates: dict[str, np.ndarray], seed: int = 0) -> dict:
    """Test every candidate (name -> its public vectors [m, d]; one of another dimension cannot
    match and says so). Returns ``{"identified": name or None, "candidates": {name: stats}}``;
    among several matches the highest ``nn_ratio`` wins."""
    dim = np.asarray(leaked).shape[-1]
    stats = {}
    for name, vecs in candidates.items():
        d = np.asarray(vecs).shape[-1]
        stats[name] = (match_stats(leaked, vecs, seed=seed) if d == dim else
                       {"nn_ratio": None, "mean_cos": None, "match": False,
                        "note": f"dimension {d}, leaked vectors have {dim}"})
    matches = [n for n, s in stats.items() if s["match"]]
    best = max(matches, key=lambda n: stats[n]["nn_ratio"]) if matches else None
    return {"identified": best, "candidates": stats}


def candidate_names(spec, dim: int) -> list[str]:
    """The embedders to test: ``"auto"`` = every registry embedder of dimension ``dim``; a list =
    those names or paths (any embedder ``get_embedder`` loads); ``None`` / ``[]`` = none."""
    if spec is None or spec == [] or spec is False:
        return []
    if spec == "auto":

        return sorted(n for n, s in registry().items() if int(s["dim"]) == int(dim))
    if isinstance(spec, str):
        raise ValueError(f"identify={spec!r}: use auto, [] (off) or a list of embedder names")
    return [str(s) for s in spec]


def embed_candidates(names: list[str], corpus: str, split: str, n: int | None, seed: int = 0,
                     have: dict[str, np.ndarray] | None = None, dim: int | None = None
                     ) -> dict[str, np.ndarray]:
    """Each candidate's embeddings of the same public texts (the first ``n`` of ``corpus``'s
    ``split``, through the embedding cache), so rows correspond across candidates. ``have``: vectors
    already computed for some names (e.g. the known embedder's), used as they are. ``dim``: the
    leak's dimension; a registry embedder of another one is not embedded (an empty [0, d'] array
    stands for it, which :func:`identify` reports as a dimension mismatch)."""
    import sys



    out = {}
    for name in names:
        if have is not None and name in have:
            out[name] = have[name]
            continue
        spec = registry().get(name)
        if dim is not None and spec is not None and int(spec["dim"]) != int(dim):
            out[name] = np.zeros((0, int(spec["dim"])), np.float32)
            continue
        print(f"[identify] embedding {corpus}/{split} with {name}", file=sys.stderr)
        out[name] = load_corpus_vectors(name, corpus, split, n, seed=seed)[1]
    return out


def format_result(res: dict) -> str:
    """The candidates as a small table, the match marked."""
    lines = [f"{'candidate':<24}{'NN ratio':>10}{'mean cos':>10}  match"]
    for name, st in res["candidates"].items():
        if st.get("note"):
            lines.append(f"{name:<24}{'-':>10}{'-':>10}  no ({st['note']})")
        else:
            lines.append(f"{name:<24}{st['nn_ratio']:>10.3f}{st['mean_cos']:>10.3f}  "
                         f"{'yes' if st['match'] else 'no'}"
                         + ("  <- identified" if name == res["identified"] else ""))
    if res["identified"] is None:
        lines.append("no candidate matches: the vectors come from another embedder (or were "
                     "transformed, e.g. rotated); translate them without pairs (vec2vec audit)")
    return "\n".join(lines)
