"""Linear / OT translators: rotation control on real embeddings, save/load, bad input."""
import json
import re

import numpy as np
import pytest

from vec2vec.data.validation import l2_normalize
from vec2vec.evaluate import retrieval_metrics
from vec2vec.neighbors import mutual_nn_pairs
from vec2vec.translators import Translator, get_translator
from vec2vec.translators.linear import center_normalize, procrustes
from vec2vec.translators.minivec2vec import map_agreement, match_clusters, two_opt

N_FIT, N_EVAL = 2000, 1024


@pytest.fixture(scope="module")
def rotated():
    """Real minilm vectors of disjoint gcide texts (a, b) and paired eval texts; space b is a
    random orthogonal rotation of minilm, so the true a->b map is known exactly."""
    from vec2vec.data.cache import embed

    xa = embed("minilm", "gcide-definitions", "a", limit=N_FIT, seed=0, progress=False)
    xb = embed("minilm", "gcide-definitions", "b", limit=N_FIT, seed=0, progress=False)
    ev = embed("minilm", "gcide-definitions", "eval", limit=N_EVAL, seed=0, progress=False)
    q, _ = np.linalg.qr(np.random.default_rng(123).standard_normal((xa.shape[1], xa.shape[1])))
    q = q.astype(np.float32)
    return xa, xb @ q, ev, ev @ q


@pytest.fixture(scope="module")
def fitted_default(rotated):
    xa, xb, _, _ = rotated
    return get_translator("mini-vec2vec", seed=0).fit(xa, xb)


@pytest.mark.slow
def test_rotation_control_default_method(rotated, fitted_default):
    """The default unsupervised method recovers a hidden rotation from disjoint texts."""
    _, _, ea, eb = rotated
    for d, src, tgt in (("ab", ea, eb), ("ba", eb, ea)):
        m = retrieval_metrics(fitted_default.translate(src, d), tgt, pool=1024, hungarian=False)
        assert m["top1"] >= 0.99, (d, m)
    # chance level is 1/1024: the untranslated vectors must fail (the test can fail)
    assert retrieval_metrics(ea, eb, pool=1024, hungarian=False)["top1"] < 0.05


@pytest.mark.slow
def test_starts_stop_once_two_agree(rotated, fitted_default):
    """The default fit stops starting anchor sets once two end at the same map (here the hidden
    rotation); with agree_stop=0 every start runs. map_agreement is 1 for a map with itself and
    near 0 for an unrelated rotation."""
    every_start = [h for h in fitted_default.history if str(h["step"]).startswith("start")]
    assert every_start[0]["step"] == "start-identity"  # equal dims: the identity is a start (it fails here)
    anchor_starts = [h for h in every_start if re.fullmatch(r"start\d+", h["step"])]
    assert len(anchor_starts) < fitted_default.config["n_starts"]
    # it stopped at the first start that agreed with an earlier one, not before
    assert every_start[-1]["agreement"] >= fitted_default.config["agree_stop"]
    assert all(h["agreement"] < 0.8 for h in every_start[:-1])
    w = fitted_default.w_ab
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal(w.shape))
    assert map_agreement(w, w) == pytest.approx(1.0, abs=1e-5)
    assert abs(map_agreement(w, q.astype(np.float32))) < 0.1
    xa, xb, _, _ = rotated
    every = get_translator("mini-vec2vec", seed=0, agree_stop=0, n_starts=3, kmeans_rounds=2,
                           refine_iters=4, final_iters=1).fit(xa, xb)
    assert sum(bool(re.fullmatch(r"start\d+", str(h["step"]))) for h in every.history) == 3


@pytest.mark.slow
def test_identity_start_wins_for_embedders_that_share_axes():
    """minilm-l3 shares much of minilm's coordinates (identity alone: top-1 ~0.85): the identity
    start, scored without pairs like the anchor starts, is chosen and refined past it."""
    from vec2vec.data.cache import embed

    # 5,000 a side: with 2,000 the refinement does not get past the identity (0.84 vs 0.84)
    xa = embed("minilm", "gcide-definitions", "a", limit=5000, progress=False)
    xb = embed("minilm-l3", "gcide-definitions", "b", limit=5000, progress=False)
    ea = embed("minilm", "gcide-definitions", "eval", limit=N_EVAL, progress=False)
    eb = embed("minilm-l3", "gcide-definitions", "eval", limit=N_EVAL, progress=False)
    t = get_translator("mini-vec2vec", seed=0, n_starts=1).fit(xa, xb)
    assert {"step": "chosen-start", "start": "start-identity"} in t.history
    ident = retrieval_metrics(ea, eb, pool=1024, hungarian=False)["top1"]
    fitted = retrieval_metrics(t.translate(ea, "ab"), eb, pool=1024, hungarian=False)["top1"]
    assert fitted > ident + 0.05, (fitted, ident)


@pytest.mark.slow
def test_procrustes_oracle_recovers_rotation_exactly(rotated):
    _, _, ea, eb = rotated
    t = get_translator("procrustes-oracle").fit(ea, eb)
    assert np.mean(np.sum(t.translate(ea, "ab") * eb, axis=1)) > 0.999
    assert np.mean(np.sum(t.translate(eb, "ba") * ea, axis=1)) > 0.999


@pytest.mark.slow
def test_lstsq_oracle_needs_pairs_and_beats_chance(rotated):
    xa, xb, ea, eb = rotated
    with pytest.raises(ValueError, match="paired rows"):
        get_translator("lstsq-oracle").fit(xa[:100], xb[:90])
    t = get_translator("lstsq-oracle", alpha=1e-3).fit(ea[:512], eb[:512])
    assert retrieval_metrics(t.translate(ea[512:], "ab"), eb[512:], pool=512,
                             hungarian=False)["top1"] > 0.9


@pytest.mark.slow
def test_save_load_round_trip_identical(tmp_path, rotated, fitted_default):
    xa, xb, ea, _ = rotated
    for name, t in [("mini-vec2vec", fitted_default),
                    ("procrustes-oracle", get_translator("procrustes-oracle").fit(xa[:500], xb[:500])),
                    ("identity", get_translator("identity").fit(xa[:10], xb[:10]))]:
        d = t.save(tmp_path / name)
        u = Translator.load(d)
        assert u.method == name and u.dims == t.dims
        for direction in ("ab", "ba"):
            np.testing.assert_array_equal(u.translate(ea[:50], direction), t.translate(ea[:50], direction))


@pytest.mark.slow
def test_foreign_and_truncated_checkpoints(tmp_path, fitted_default):
    d = fitted_default.save(tmp_path / "ok")
    w = (d / "weights.safetensors").read_bytes()
    trunc = tmp_path / "trunc"
    fitted_default.save(trunc)
    (trunc / "weights.safetensors").write_bytes(w[: len(w) // 2])
    with pytest.raises(ValueError, match="truncated or foreign"):
        Translator.load(trunc)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "translator.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a vec2vec translator"):
        Translator.load(foreign)
    # right format, wrong shapes: a checkpoint claiming other dims than its weights
    wrong = tmp_path / "wrong"
    fitted_default.save(wrong)
    meta = json.loads((wrong / "translator.json").read_text())
    meta["dims"] = [384, 768]
    (wrong / "translator.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not match dims"):
        Translator.load(wrong)


@pytest.mark.slow
def test_bad_inputs(rotated, fitted_default):
    xa, xb, _, _ = rotated
    bad = xa[:100].copy()
    bad[7, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        get_translator("procrustes-oracle").fit(bad, xb[:100])
    with pytest.raises(ValueError, match="inf"):
        fitted_default.translate(np.where(np.arange(384) == 5, np.inf, xa[:3]).astype(np.float32), "ab")
    with pytest.raises(ValueError, match="expected dimension 384"):
        fitted_default.translate(np.zeros((3, 768), np.float32), "ab")
    with pytest.raises(ValueError, match="direction"):
        fitted_default.translate(xa[:3], "xy")
    with pytest.raises(ValueError, match="equal dims"):
        get_translator("identity").fit(xa[:10], np.zeros((10, 50), np.float32) + 1)
    with pytest.raises(ValueError, match="needs >= 40 vectors"):
        get_translator("mini-vec2vec").fit(xa[:30], xb[:30])
    with pytest.raises(ValueError, match="unknown method"):
        get_translator("no-such-method")


def test_procrustes_unequal_dims_is_semi_orthogonal():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 20)), rng.standard_normal((300, 50))
    w = procrustes(x, y)
    assert w.shape == (20, 50)
    np.testing.assert_allclose(w @ w.T, np.eye(20), atol=1e-5)


def test_two_opt_finds_planted_matching():
    rng = np.random.default_rng(1)
    c = l2_normalize(rng.standard_normal((20, 16)).astype(np.float32))
    perm = rng.permutation(20)
    found, _ = match_clusters(c, c[perm], restarts=200, seed=0)
    # a-cluster i must be matched to the b-cluster holding the same centroid
    assert np.array_equal(perm[found], np.arange(20))
    sa = c @ c.T
    np.fill_diagonal(sa, 0)
    p, f = two_opt(sa, sa, rng.permutation(20))
    assert f <= np.sum(sa * sa) + 1e-6  # the identity is the global maximum


def test_csls_mutual_nn_on_rotated_copy():
    rng = np.random.default_rng(2)
    z, _ = center_normalize(rng.standard_normal((500, 32)).astype(np.float32))
    i, j = mutual_nn_pairs(z, z)
    assert len(i) == 500 and np.array_equal(i, j)


@pytest.mark.slow
def test_unsupervised_score_prefers_the_right_map(rotated, fitted_default):
    """The pair-free criterion ranks the recovered rotation above a wrong (random) map."""
    from vec2vec.selection import unsupervised_score
    from vec2vec.translators.linear import orthogonalize

    xa, xb, _, _ = rotated
    good = unsupervised_score(fitted_default, xa, xb, max_rows=1000)
    rnd = orthogonalize(np.random.default_rng(7).standard_normal((384, 384)).astype(np.float32))
    bad = unsupervised_score(fitted_default.with_map(rnd), xa, xb, max_rows=1000)
    assert good["score"] > bad["score"] + 0.1, (good["score"], bad["score"])
    assert good["cov_ab"] > bad["cov_ab"] and good["cov_ba"] > bad["cov_ba"]
    with pytest.raises(ValueError, match="expected dimension"):
        unsupervised_score(fitted_default, xb[:, :100], xb)


def test_refine_schedule_grows_subspace_then_full():
    """k shrinks k0 -> k1; the neighbour-search dimension grows from m0 and ends in the full
    spaces (None); m0 >= d turns the curriculum off."""
    from vec2vec.translators.minivec2vec import refine_schedule

    sched = refine_schedule(20, 100, 5, 10, 384, 0.5)
    ks, ms = [k for k, _ in sched], [m for _, m in sched]
    assert ks[0] == 100 and ks[-1] == 5 and ks == sorted(ks, reverse=True)
    grown = [m for m in ms if m is not None]
    assert grown[0] == 10 and grown == sorted(grown) and max(grown) < 384
    assert ms[-1] is None and 5 <= len(grown) <= 10  # the last growth step reaches d -> None
    assert all(m is None for _, m in refine_schedule(10, 50, 5, 50, 50, 0.8))


@pytest.mark.slow
def test_subspace_knn_step_keeps_the_right_map(rotated):
    """A kNN-mean step with neighbours searched in the top-m principal subspaces keeps the true
    rotation on those directions, and knn_objective scores it far above a random map."""
    from vec2vec.translators.linear import knn_objective, orthogonalize
    from vec2vec.translators.minivec2vec import knn_mean_step, principal_axes

    xa, xb, ea, eb = rotated
    za, ma = center_normalize(xa)
    zb, mb = center_normalize(xb)
    w_true = procrustes(center_normalize(ea, ma)[0], center_normalize(eb, mb)[0])
    axes = (principal_axes(za), principal_axes(zb))
    w = knn_mean_step(za, zb, w_true, 10, subspace=(*axes, 20))
    top = axes[0][:, :20].T  # the step pins the directions it searched in: the top 20 of a
    assert np.mean(np.sum((top @ w) * (top @ w_true), axis=1)) > 0.8  # measured 0.93
    rnd = orthogonalize(np.random.default_rng(3).standard_normal((384, 384)).astype(np.float32))
    assert knn_objective(l2_normalize(za @ w_true), zb) > knn_objective(l2_normalize(za @ rnd), zb) + 0.05


@pytest.mark.parametrize("dims", [(48, 96), (96, 48)])
def test_subspace_pair_matches_the_full_space_projection(dims):
    """_subspace_pair works in m coordinates for speed; its inner products must equal those of
    the explicit projections l2n(Pa(za) W) . l2n(Pb(zb)) in b's full space, for both map shapes
    (synthetic anisotropic rows: a pure linear-algebra identity, no model needed)."""
    from vec2vec.translators.linear import orthogonalize
    from vec2vec.translators.minivec2vec import _subspace_pair, principal_axes

    rng = np.random.default_rng(0)
    da, db = dims
    za = l2_normalize(rng.standard_normal((300, da)) * np.linspace(3, 0.1, da))
    zb = l2_normalize(rng.standard_normal((250, db)) * np.linspace(3, 0.1, db))
    w = orthogonalize(rng.standard_normal((da, db)).astype(np.float32))
    axes_a, axes_b = principal_axes(za), principal_axes(zb)
    for m in (5, 30):
        pa, pb = axes_a[:, :m], axes_b[:, :m]
        full = l2_normalize((za @ pa) @ (pa.T @ w)) @ l2_normalize((zb @ pb) @ pb.T).T
        src, tgt = _subspace_pair(za, zb, w, axes_a, axes_b, m)
        assert src.shape == (300, m) and tgt.shape == (250, m)
        np.testing.assert_allclose(src @ tgt.T, full, atol=1e-5)


@pytest.mark.slow
def test_pivot_composes_two_legs_through_a_third_space(rotated):
    """Method pivot on a rotation control: a = minilm, pivot = minilm under rotation q1 (other
    texts), b = minilm under rotation q (the fixture's). Each leg recovers its rotation and the
    composed, refined map recovers q (a wrong product order or transpose would be at chance)."""
    xa, xb, ea, eb = rotated
    from vec2vec.data.cache import embed

    q1, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((384, 384)))
    xp = embed("minilm", "gcide-definitions", "a", limit=2 * N_FIT, progress=False)[N_FIT:]
    xp = xp @ q1.astype(np.float32)
    # the composed start alone (no identity or anchor starts of the final fit): cheaper, and
    # what is checked is the composition
    t = get_translator("pivot", pivot="minilm-rotated", seed=0, final_config={
        "n_starts": 0, "identity_start": False}).fit(xa, xb, xp=xp)
    assert {h["stage"] for h in t.history} == {"a->p", "p->b", "a->b"}
    assert {"stage": "a->b", "step": "chosen-start", "start": "start-pivot"} in t.history
    for d, src, tgt in (("ab", ea, eb), ("ba", eb, ea)):
        assert retrieval_metrics(t.translate(src, d), tgt, pool=1024, hungarian=False)["top1"] >= 0.99
    with pytest.raises(ValueError, match="fit needs xp"):
        get_translator("pivot").fit(xa, xb)
    with pytest.raises(ValueError, match="start map 'w'"):
        get_translator("mini-vec2vec").fit(xa, xb, start_maps={"w": np.eye(10)})
    with pytest.raises(ValueError, match="no start"):
        get_translator("mini-vec2vec", n_starts=0, identity_start=False).fit(xa, xb)


@pytest.mark.slow
def test_train_pivot_takes_pivot_texts_after_n_a(tmp_path):
    """``vec2vec train method=pivot``: the pivot's vectors are split-a rows [n_a, n_a + n_pivot)
    (texts disjoint from both sides); the run saves a translator that loads and translates."""
    from vec2vec import rundir
    from vec2vec.config import compose, to_dict
    from vec2vec.data.cache import embed
    from vec2vec.train import run
    from vec2vec.translators.pivot import load_pivot_vectors

    cfg = to_dict(compose("train", ["method=pivot", "source=minilm", "target=minilm",
                                    "method.pivot=minilm", "method.n_pivot=1000", "n_a=1000",
                                    # same embedder on all sides: the identity maps, unrefined,
                                    # are exact; this test is about the wiring
                                    "+method.leg_config={n_starts:0,refine_iters:0,final_iters:0}",
                                    "+method.final_config={n_starts:0,identity_start:false,"
                                    "start_maps_schedule:[0,10,5],final_iters:0}",
                                    "n_b=1000", f"run_dir={tmp_path / 'run'}", "progress=false"]))
    xp = load_pivot_vectors(cfg, "minilm", 1000)
    np.testing.assert_array_equal(xp, embed("minilm", "gcide-definitions", "a", limit=2000,
                                            progress=False)[1000:])
    run(cfg)
    t = rundir.load_translator(tmp_path / "run")
    ev = embed("minilm", "gcide-definitions", "eval", limit=N_EVAL, progress=False)
    assert t.method == "pivot" and t.config["pivot"] == "minilm"
    assert retrieval_metrics(t.translate(ev, "ab"), ev, pool=1024, hungarian=False)["top1"] >= 0.99
    with pytest.raises(ValueError, match="needs n_a set"):
        load_pivot_vectors({**cfg, "n_a": None}, "minilm", 1000)
    with pytest.raises(ValueError, match="also needs fit_kw with xp"):
        run(cfg, xa=ev, xb=ev)
