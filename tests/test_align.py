"""Alignment metrics: agreement with straightforward dense n x n implementations, identities that
must hold, null calibration, input errors, the CLI, and real embeddings."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

from vec2vec import align as A
from vec2vec.cli import main
from vec2vec.config import load
from vec2vec.neighbors import certified as C

N = 1500  # dense references build n x n matrices: keep n <= 2000


# --------------------------------------------------------------------------------------------
# dense reference implementations (written independently of vec2vec.align)
# --------------------------------------------------------------------------------------------

def dense_cos(X):
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    return U @ U.T


def dense_knn_sets(X, k):
    S = dense_cos(X.astype(np.float64))
    np.fill_diagonal(S, -np.inf)
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return [set(row) for row in order]


def dense_mutual(X, Y, k):
    a, b = dense_knn_sets(X, k), dense_knn_sets(Y, k)
    return np.mean([len(p & q) / k for p, q in zip(a, b)])


def dense_jaccard(X, Y, k):
    a, b = dense_knn_sets(X, k), dense_knn_sets(Y, k)
    return np.mean([len(p & q) / len(p | q) for p, q in zip(a, b)])


def dense_cycle(X, Y, k):
    a, b = dense_knn_sets(X, k), dense_knn_sets(Y, k)
    return np.mean([any(i in a[j] for j in b[i]) for i in range(len(X))])


def dense_cknna(X, Y, k):
    n = len(X)
    K, L = dense_cos(X.astype(np.float64)), dense_cos(Y.astype(np.float64))
    a, b = dense_knn_sets(X, k), dense_knn_sets(Y, k)

    def mask(s1, s2):
        M = np.zeros((n, n))
        for i in range(n):
            M[i, list(s1[i] & s2[i])] = 1.0
        return M

    mu_k = (K.sum(1) - np.diag(K)) / (n - 1)
    mu_l = (L.sum(1) - np.diag(L)) / (n - 1)
    Kc, Lc = K - mu_k[:, None], L - mu_l[:, None]

    def align(M, P, Q):
        return np.sum(M * P * Q)
    return align(mask(a, b), Kc, Lc) / math.sqrt(align(mask(a, a), Kc, Kc) * align(mask(b, b), Lc, Lc))


def hsic_biased(K, L):
    def centre(M):  # H M H with H = I - 11'/n, written out
        return M - M.mean(0)[None, :] - M.mean(1)[:, None] + M.mean()
    return np.sum(centre(K) * centre(L))  # = tr(K H L H)


def hsic_unbiased(K, L):
    n = len(K)
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ Kt @ Lt @ one)) / (n * (n - 3))


def dense_cka(K, L, hsic):
    return hsic(K, L) / math.sqrt(hsic(K, K) * hsic(L, L))


def linear_kernel(X):
    Xc = X.astype(np.float64) - X.astype(np.float64).mean(0)
    return Xc @ Xc.T


def rbf_kernel(X, sigma=1.0):
    D = squareform(pdist(X.astype(np.float64)))
    s = sigma * np.median(pdist(X.astype(np.float64)))
    return np.exp(-D ** 2 / (2 * s * s))


def dense_svcca(X, Y, dim):
    def reduced(Z):
        Zc = Z.astype(np.float64) - Z.astype(np.float64).mean(0)
        U, S, _ = np.linalg.svd(Zc, full_matrices=False)
        return U[:, :dim] * S[:dim]
    qa, qb = np.linalg.qr(reduced(X))[0], np.linalg.qr(reduced(Y))[0]
    return np.mean(np.linalg.svd(qa.T @ qb, compute_uv=False))


def dense_rsa(X, Y):
    iu = np.triu_indices(len(X), 1)
    return spearmanr(dense_cos(X.astype(np.float64))[iu], dense_cos(Y.astype(np.float64))[iu])[0]


def dense_procrustes(X, Y):
    def norm(Z):
        Zc = Z.astype(np.float64) - Z.astype(np.float64).mean(0)
        return Zc / np.linalg.norm(Zc)
    Xn, Yn = norm(X), norm(Y)
    d = max(Xn.shape[1], Yn.shape[1])
    Xp = np.pad(Xn, ((0, 0), (0, d - Xn.shape[1])))
    Yp = np.pad(Yn, ((0, 0), (0, d - Yn.shape[1])))
    R, _ = orthogonal_procrustes(Yp, Xp)
    return np.linalg.norm(Xp - Yp @ R)


# --------------------------------------------------------------------------------------------
# fixtures: a related pair (shared latent + noise, different dims) and an unrelated one
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((N, 24))
    X = np.tanh(Z @ rng.standard_normal((24, 48))) + 0.3 * rng.standard_normal((N, 48))
    Y = Z @ rng.standard_normal((24, 32)) + 0.8 * rng.standard_normal((N, 32)) + 0.5
    return X.astype(np.float32), Y.astype(np.float32)


@pytest.fixture(scope="module")
def rotation():
    return np.linalg.qr(np.random.default_rng(1).standard_normal((48, 48)))[0].astype(np.float32)


# --------------------------------------------------------------------------------------------
# agreement with the dense references (1e-6)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fast,dense", [
    ("mutual_knn", lambda X, Y: A.mutual_knn(X, Y, k=10), lambda X, Y: dense_mutual(X, Y, 10)),
    ("jaccard_knn", lambda X, Y: A.jaccard_knn(X, Y, k=7), lambda X, Y: dense_jaccard(X, Y, 7)),
    ("cycle_knn", lambda X, Y: A.cycle_knn(X, Y, k=5), lambda X, Y: dense_cycle(X, Y, 5)),
    ("cycle_knn_reversed", lambda X, Y: A.cycle_knn(Y, X, k=5), lambda X, Y: dense_cycle(Y, X, 5)),
    ("cknna", lambda X, Y: A.cknna(X, Y, k=10), lambda X, Y: dense_cknna(X, Y, 10)),
    ("cka_linear", lambda X, Y: A.cka(X, Y),
     lambda X, Y: dense_cka(linear_kernel(X), linear_kernel(Y), hsic_biased)),
    ("cka_linear_unbiased", lambda X, Y: A.cka(X, Y, unbiased=True),
     lambda X, Y: dense_cka(linear_kernel(X), linear_kernel(Y), hsic_unbiased)),
    ("cka_rbf", lambda X, Y: A.cka(X, Y, kernel="rbf", sigma=0.8, max_n=None),
     lambda X, Y: dense_cka(rbf_kernel(X, 0.8), rbf_kernel(Y, 0.8), hsic_biased)),
    ("cka_rbf_unbiased", lambda X, Y: A.cka(X, Y, kernel="rbf", unbiased=True, max_n=None),
     lambda X, Y: dense_cka(rbf_kernel(X), rbf_kernel(Y), hsic_unbiased)),
    ("svcca", lambda X, Y: A.svcca(X, Y, dim=10), lambda X, Y: dense_svcca(X, Y, 10)),
    ("rsa", lambda X, Y: A.rsa(X, Y, max_n=None), dense_rsa),
    ("procrustes", A.procrustes_distance, dense_procrustes),
    ("procrustes_angular", lambda X, Y: A.procrustes_distance(X, Y, angular=True),
     lambda X, Y: math.acos(1 - dense_procrustes(X, Y) ** 2 / 2)),
])
def test_matches_dense_reference(pair, name, fast, dense):
    X, Y = pair
    n = 600 if name in ("cknna", "cka_linear_unbiased", "cka_rbf_unbiased") else N  # O(n^3) refs
    got, want = fast(X[:n], Y[:n]), dense(X[:n], Y[:n])
    assert abs(got - want) <= 1e-6, (name, got, want)
    assert 0.02 < abs(want) < 1.4, (name, want)  # the pair is related but not identical: non-trivial


# --------------------------------------------------------------------------------------------
# identities
# --------------------------------------------------------------------------------------------

SIMILARITIES = [
    lambda X, Y: A.mutual_knn(X, Y), lambda X, Y: A.jaccard_knn(X, Y), lambda X, Y: A.cknna(X, Y), lambda X, Y: A.cka(X, Y), lambda X, Y: A.cka(X, Y, unbiased=True),
    lambda X, Y: A.cka(X, Y, kernel="rbf"), lambda X, Y: A.svcca(X, Y), lambda X, Y: A.rsa(X, Y)]


@pytest.mark.parametrize("i", range(len(SIMILARITIES)))
def test_self_similarity_is_one_and_rotation_scale_invariant(pair, rotation, i):
    X, _ = pair
    f = SIMILARITIES[i]
    assert f(X, X) == pytest.approx(1.0, abs=1e-6)
    # every metric here claims invariance to an orthogonal map and isotropic scaling of one side
    assert f(X, 3.7 * (X @ rotation)) == pytest.approx(1.0, abs=1e-5)


def test_cycle_knn_self_is_reciprocity_not_one(pair, rotation):
    """cycle kNN of a space with itself is the share of rows that are a k-neighbour of one of
    their own k-neighbours (kNN graphs are not symmetric): <= 1, and rotation/scale invariant."""
    X, _ = pair
    own = A.cycle_knn(X, X)
    assert 0.95 < own <= 1.0
    assert A.cycle_knn(X, 0.5 * X @ rotation) == pytest.approx(own)


def test_translation_invariance_only_where_claimed(pair):
    X, Y = pair
    shifted = Y + 5.0
    for f in (A.cka, A.svcca, A.procrustes_distance,
              lambda a, b: A.cka(a, b, unbiased=True), lambda a, b: A.cka(a, b, kernel="rbf")):
        assert f(X, shifted) == pytest.approx(f(X, Y), abs=1e-5)
    # cosine neighbourhoods are about the origin: a large shift must change them
    assert A.mutual_knn(X, X + 5.0) < 0.9


def test_procrustes_distance_zero_for_same_shape(pair, rotation):
    X, Y = pair
    assert A.procrustes_distance(X, 2.0 * X @ rotation + 1.0) < 1e-6
    assert A.procrustes_distance(X, X, angular=True) < 1e-3
    assert 0.2 < A.procrustes_distance(X, Y) <= math.sqrt(2)


def test_unbiased_cka_of_independent_data_near_zero():
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((1000, 128)), rng.standard_normal((1000, 64))
    unbiased, biased = A.cka(X, Y, unbiased=True), A.cka(X, Y)
    assert abs(unbiased) < 0.01
    assert biased > 0.05  # the biased estimator is pulled up by finite n: the reason for the fix


def test_mutual_knn_of_random_data_is_k_over_n():
    rng = np.random.default_rng(6)
    n, k = 2000, 10
    X, Y = rng.standard_normal((n, 32)), rng.standard_normal((n, 16))
    # exchangeable rows: E = k/(n-1) = 0.005, standard error ~0.0005
    assert A.mutual_knn(X, Y, k=k) == pytest.approx(k / (n - 1), abs=0.0015)


def test_knn_excludes_self_even_with_duplicates():
    X = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    X[1] = X[0]
    X[2] = X[0]
    idx, sim = A.certified_knn(X, k=3)
    assert all(i not in row for i, row in enumerate(idx))
    assert set(idx[0][:2]) == {1, 2} and sim[0][0] == pytest.approx(1.0)
    assert np.all(np.diff(sim, axis=1) <= 1e-6)  # most similar first


# --------------------------------------------------------------------------------------------
# certified (bf16 candidates + exact re-rank) kNN equals the float64 reference
# --------------------------------------------------------------------------------------------

def assert_same_knn(X, k, **kw):
    stats = {}
    got_i, got_s = A.certified_knn(X, k=k, stats=stats, **kw)
    want_i, want_s = A.certified_knn(X, k=k, method="exact")
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_s, want_s, rtol=0, atol=1e-7)
    # and the reference itself against a dense float64 argsort (ties by lower index)
    U = C._unit_rows(X).astype(np.float64)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    np.testing.assert_array_equal(want_i, np.argsort(-S, axis=1, kind="stable")[:, :k])
    return stats


def test_certified_knn_equals_exact_on_related_data():
    """Realistic data, small tiles: off-diagonal tiles folded in both directions, padding rows
    (n not a multiple of 64), nearly every row certified at level 1."""
    rng = np.random.default_rng(3)
    n = 3001
    Z = rng.standard_normal((n, 32)).astype(np.float32)
    X = Z @ rng.standard_normal((32, 96)).astype(np.float32) + rng.standard_normal((n, 96)).astype(np.float32)
    stats = assert_same_knn(X, 10, block=256)
    assert stats["level1_rows"] == n and stats["level1_certified"] >= 0.95 * n


def test_certified_knn_falls_back_on_near_ties():
    """Groups of near-duplicates (differences far below bf16 resolution) make the bf16 scores
    useless for ordering: groups of 16 defeat level 1 (K = 12) but not level 2 (K = 30), groups
    of 40 defeat both and go to the float64 rows; exact duplicates and a zero row add exact ties.
    The result must still equal the float64 reference."""
    rng = np.random.default_rng(4)
    d = 48
    parts = [rng.standard_normal((1200, d))]  # ordinary rows
    for size, groups in ((16, 20), (40, 5)):
        centres = rng.standard_normal((groups, d))
        parts.append(np.repeat(centres, size, axis=0) + 1e-5 * rng.standard_normal((groups * size, d)))
    X = np.concatenate(parts).astype(np.float32)
    X[7] = X[3]  # exact duplicates
    X[11] = X[3]
    X[20] = 0.0  # cosine 0 to everything: n - 1 exact ties
    X = X[rng.permutation(len(X))]
    stats = assert_same_knn(X, 10, block=128, margin=2)
    assert stats["level1_rows"] - stats["level1_certified"] >= 16 * 20  # level 1 failed on the groups
    assert stats["level2_certified"] >= 16 * 20  # level 2 rescued the groups of 16
    assert stats["exact_rows"] >= 40 * 5  # the groups of 40 needed float64 rows


def test_certified_knn_uses_exact_path_if_error_model_fails(monkeypatch):
    X = np.random.default_rng(5).standard_normal((300, 16)).astype(np.float32)
    monkeypatch.setattr(C._Bf16, "error_model_holds", lambda self, U: False)
    with pytest.warns(UserWarning, match="bf16"):
        stats = assert_same_knn(X, 5)
    assert stats["exact_rows"] == 300 and stats["self_check"] == "failed"


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_bf16_error_bound_holds_and_is_tight(shift):
    """The certificate's bounds hold for every shifted bf16 score of unit rows (random data, and
    data whose cosines are all ~0.5 or more, where the offset c is far from 0), and are as small
    as documented (~2 * 2^-9 from the rounded inputs + 2^-7 |a| from the rounded output)."""
    X = np.random.default_rng(6).standard_normal((1000, 384)).astype(np.float32) + shift
    U = C._unit_rows(X)
    B = C._Bf16.of(U, 30, 4096)
    a = (B.left[:1000] @ B.right[:1000].T).double().numpy()
    s = U.astype(np.float64) @ U.T.astype(np.float64)
    rows = np.arange(1000)[:, None]
    assert np.all((B.lower(a, rows) <= s) & (s <= B.upper(a, rows)))
    assert np.all(B.upper(a, rows) - (a + B.offset) <= 0.0045 + 0.0079 * np.abs(a))
    assert (B.offset > 0.4) == (shift > 0)


# --------------------------------------------------------------------------------------------
# null calibration and sweep
# --------------------------------------------------------------------------------------------

def test_permutation_test_separates_signal_from_null(pair):
    X, Y = pair
    rng = np.random.default_rng(3)
    for metric in ("mutual_knn", "cycle_knn", "cknna", "cka_linear", "cka_linear_unbiased", "svcca",
                   "rsa", "cka_rbf", "procrustes"):
        r = A.permutation_test(metric, X, Y, n_perm=30, seed=1)
        assert r["p_value"] == pytest.approx(1 / 31), metric
        if metric != "procrustes":
            assert r["score"] > r["null_mean"] + 5 * r["null_std"], (metric, r)
        else:
            assert r["score"] < r["null_mean"] - 5 * r["null_std"], r
    # independent data: the null must not call it significant, and its mean must match chance
    Z = rng.standard_normal(X.shape).astype(np.float32)
    r = A.permutation_test(A.mutual_knn, X, Z, n_perm=30, seed=1)
    assert r["p_value"] > 0.05
    assert r["null_mean"] == pytest.approx(10 / (len(X) - 1), abs=0.0015)


def test_permutation_fast_path_equals_recomputation(pair):
    """The relabelled-neighbour / permuted-kernel shortcut must equal the metric on Y[perm]."""
    X, Y = pair
    X, Y = X[:400], Y[:400]
    perm = np.random.default_rng(2).permutation(400)
    a, b = A.Space(X, k=10, max_n=None), A.Space(Y, k=10, max_n=None)
    for name in ("mutual_knn", "cycle_knn", "jaccard_knn", "cknna", "cka_linear", "cka_linear_unbiased",
                 "cka_rbf", "svcca", "rsa", "procrustes"):
        fast = A.get_metric(name).score(a, b, perm)
        slow = A.get_metric(name).score(A.Space(X, k=10, max_n=None), A.Space(Y[perm], k=10, max_n=None))
        assert fast == pytest.approx(slow, abs=1e-9), name


def test_permutation_test_accepts_any_callable(pair):
    X, Y = pair
    r = A.permutation_test(lambda a, b: float(np.corrcoef(a[:, 0], b[:, 0])[0, 1]), X, Y, n_perm=20)
    assert set(r) >= {"score", "null_mean", "null_std", "p_value"}


def test_gallery_sweep_mutual_knn_falls_with_gallery_size(pair):
    X, Y = pair
    sw = A.gallery_sweep(X, Y, sizes=[100, 400, 1500], metrics=["mutual_knn", "cka_linear"])
    s = sw["scores"]["mutual_knn"]
    assert s[0] > s[1] > s[2]
    assert sw["chance_mutual_knn"][0] == pytest.approx(10 / 99)
    with pytest.raises(ValueError, match="gallery sizes"):
        A.gallery_sweep(X, Y, sizes=[5])


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

def test_errors_name_the_bad_input(pair):
    X, Y = pair
    with pytest.raises(ValueError, match="paired"):
        A.mutual_knn(X, Y[:-1])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X: .*NaN"):
        A.cka(bad, Y)
    with pytest.raises(ValueError, match="Y: expected a 2-D"):
        A.rsa(X, Y[:, 0])
    with pytest.raises(ValueError, match="need more than k rows"):
        A.mutual_knn(X[:10], Y[:10], k=10)
    with pytest.raises(ValueError, match="need more than k rows"):
        A.permutation_test("cknna", X[:5], Y[:5], n_perm=3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        A.jaccard_knn(X, Y, k=0)
    with pytest.raises(ValueError, match="unknown alignment metric"):
        A.permutation_test("cosine", X, Y)
    with pytest.raises(ValueError, match="kernel"):
        A.cka(X, Y, kernel="poly")
    with pytest.raises(ValueError, match="svcca dim"):
        A.svcca(X[:, :5], Y, dim=10)
    with pytest.raises(ValueError, match="constant"):
        A.procrustes_distance(np.ones_like(X), Y)
    with pytest.raises(ValueError, match="n_perm"):
        A.permutation_test("mutual_knn", X, Y, n_perm=0)


# --------------------------------------------------------------------------------------------
# all pairs, plots, CLI
# --------------------------------------------------------------------------------------------

def test_alignment_matrix_and_plots(pair, tmp_path):
    X, Y = pair
    spaces = {"x": X[:300], "y": Y[:300], "noise": np.random.default_rng(9).standard_normal((300, 20))}
    res = A.alignment_matrix(spaces, ["mutual_knn", "cycle_knn", "procrustes"], n_perm=20)
    assert res["metrics"]["mutual_knn"]["x|y"] == res["metrics"]["mutual_knn"]["y|x"]
    assert res["metrics"]["cycle_knn"]["x|y"]["score"] == pytest.approx(A.cycle_knn(X[:300], Y[:300]))
    assert res["metrics"]["cycle_knn"]["y|x"]["score"] == pytest.approx(A.cycle_knn(Y[:300], X[:300]))
    assert res["metrics"]["mutual_knn"]["x|y"]["p_value"] < 0.05 < res["metrics"]["mutual_knn"]["x|noise"]["p_value"]
    assert res["self"]["mutual_knn"]["x"] == 1.0 and res["self"]["procrustes"]["y"] < 1e-6
    names = list(spaces)
    A.plot_heatmap(res, "mutual_knn", names, tmp_path / "h.png")
    sw = {"x|y": A.gallery_sweep(X[:300], Y[:300], sizes=[50, 300])}
    A.plot_sweep(sw, tmp_path / "s.png")
    for f in ("h.png", "s.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "x" in A.format_matrix(res, "procrustes", names)


def test_cli_help_and_bad_overrides(capsys):
    assert main(["align", "--help"]) == 0
    out = capsys.readouterr().out
    assert "embedders" in out and "n_perm" in out
    assert main(["align", "metrics=[nonsense]"]) == 1
    assert "unknown alignment metric" in capsys.readouterr().err
    assert main(["align", "bogus=1"]) == 1
    assert "bogus" in capsys.readouterr().err
    cfg = load("align", ["embedders=[minilm,glove-50]", "corpus=fortunes"])
    assert cfg["embedder_names"] == ["minilm", "glove-50"] and cfg["corpus"] == "fortunes"


# --------------------------------------------------------------------------------------------
# real embeddings (the project's embed layer, small limits)
# --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_embedders_are_aligned_beyond_chance(tmp_path):
    from vec2vec.data.cache import embed
    n = 500
    a = embed("minilm", "gcide-definitions", split="eval", limit=n, seed=0)
    b = embed("minilm-l3", "gcide-definitions", split="eval", limit=n, seed=0)
    assert a.shape == (n, 384) and b.shape == (n, 384)
    r = A.permutation_test("mutual_knn", a, b, n_perm=50)
    # two sentence encoders on the same definitions share far more neighbours than chance (0.02)
    assert r["score"] > 5 * (10 / (n - 1)) and r["p_value"] == pytest.approx(1 / 51)
    assert r["null_mean"] == pytest.approx(10 / (n - 1), abs=0.005)
    # pairing matters: unbiased linear CKA ~0.2 paired (minilm vs minilm-l3), ~0 shuffled
    assert A.cka(a, b, unbiased=True) > abs(A.cka(a, b[::-1].copy(), unbiased=True)) + 0.1
