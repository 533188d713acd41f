"""Pair-free output shrinkage (vec2vec.shrink) on real minilm -> minilm-l3 embeddings."""
import numpy as np
import pytest

from vec2vec.data.cache import embed
from vec2vec.data.validation import l2_normalize
from vec2vec.evaluate import cosine_metrics, retrieval_metrics
from vec2vec.translators import Translator, get_translator
from vec2vec.translators.shrink import apply_shrinkage, fit_shrinkage

N_FIT, N_PAIRS, N_TEST = 5000, 1024, 1024


@pytest.fixture(scope="module")
def data():
    """Unpaired fit rows (split a of minilm, split b of minilm-l3) and paired eval rows: the
    first N_PAIRS fit the oracle map whose outputs get shrunk, the next N_TEST score it."""
    xa = embed("minilm", "gcide-definitions", "a", limit=N_FIT, progress=False)
    xb = embed("minilm-l3", "gcide-definitions", "b", limit=N_FIT, progress=False)
    ea = embed("minilm", "gcide-definitions", "eval", limit=N_PAIRS + N_TEST, progress=False)
    eb = embed("minilm-l3", "gcide-definitions", "eval", limit=N_PAIRS + N_TEST, progress=False)
    return xa, xb, ea, eb


def _scores(t, ea, eb, xb):
    pred, true = t.translate(ea[N_PAIRS:], "ab"), eb[N_PAIRS:]
    return {**cosine_metrics(pred, true, l2_normalize(xb).mean(0)),
            "top1": retrieval_metrics(pred, true, pool=N_TEST, hungarian=False)["top1"]}


@pytest.mark.slow
def test_shrinkage_raises_cosine_to_the_true_vectors(data):
    """A distribution-preserving map (Procrustes on pairs) gains cosine when its outputs are
    shrunk by gains fitted on *unpaired* rows, loses little top-1, and the gains agree with
    the per-direction gains fitted on the true pairs."""
    xa, xb, ea, eb = data
    t = get_translator("procrustes-oracle").fit(ea[:N_PAIRS], eb[:N_PAIRS])
    plain = _scores(t, ea, eb, xb)
    t.fit_shrinkage(xa, xb, k=3)
    shrunk = _scores(t, ea, eb, xb)
    assert shrunk["cos_centered"] > plain["cos_centered"] + 0.02, (plain, shrunk)
    assert shrunk["cos"] > plain["cos"] + 0.02, (plain, shrunk)
    assert shrunk["top1"] > plain["top1"] - 0.03, (plain, shrunk)
    p = t.shrinkage["ab"]
    assert p["gain"].min() >= 0 and p["gain"].max() <= 1
    np.testing.assert_allclose(p["axes"].T @ p["axes"], np.eye(len(p["gain"])), atol=1e-4)
    # gains fitted on the true pairs, in the same basis, from the plain map's outputs
    t.shrinkage = {}
    pc = l2_normalize(t.translate(ea[:N_PAIRS], "ab")) - p["mean"]
    tc = l2_normalize(eb[:N_PAIRS]) - p["mean"]
    ps, pt = pc @ p["axes"], tc @ p["axes"]
    paired = (ps * pt).sum(0) / (ps * ps).sum(0)
    assert np.corrcoef(paired, p["gain"])[0, 1] > 0.8


@pytest.mark.slow
def test_config_key_fits_it_and_save_load_keeps_it(data, tmp_path):
    xa, xb, ea, eb = data
    t = get_translator("procrustes-oracle", shrink=3).fit(ea[:N_PAIRS], eb[:N_PAIRS])
    assert set(t.shrinkage) == {"ab", "ba"}
    # fitted in ``fit`` on the same rows, so the same as applying the module by hand
    plain = get_translator("procrustes-oracle").fit(ea[:N_PAIRS], eb[:N_PAIRS])
    by_hand = apply_shrinkage(plain.translate(ea[N_PAIRS:], "ab"),
                              fit_shrinkage(plain.translate(ea[:N_PAIRS], "ab"), eb[:N_PAIRS], 3))
    np.testing.assert_allclose(t.translate(ea[N_PAIRS:], "ab"), by_hand, atol=1e-5)
    t.save(tmp_path / "t")
    back = Translator.load(tmp_path / "t")
    np.testing.assert_array_equal(back.translate(eb[:50], "ba"), t.translate(eb[:50], "ba"))
    assert back.config["shrink"] == 3


@pytest.mark.slow
def test_bad_shrinkage_inputs_and_checkpoints(data, tmp_path):
    from vec2vec.data.io import load_safetensors, save_safetensors

    xa, xb, ea, eb = data
    with pytest.raises(ValueError, match="k must be"):
        fit_shrinkage(xa[:100], xb[:100], k=0)
    with pytest.raises(ValueError, match="dim"):
        fit_shrinkage(xa[:100], np.ones((100, 7), np.float32))
    bad = xa[:100].copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="finite|NaN"):
        fit_shrinkage(bad, xb[:100])
    t = get_translator("procrustes-oracle", shrink=3).fit(ea[:N_PAIRS], eb[:N_PAIRS])
    t.save(tmp_path / "t")
    w = tmp_path / "t" / "weights.safetensors"
    state = load_safetensors(w)
    save_safetensors(w, {k: v for k, v in state.items() if k != "shrink.ab.gain"})
    with pytest.raises(ValueError, match="gain"):
        Translator.load(tmp_path / "t")
    state["shrink.ba.axes"] = state["shrink.ba.axes"][:5]
    save_safetensors(w, state)
    with pytest.raises(ValueError, match="shape"):
        Translator.load(tmp_path / "t")


def test_gan_accepts_the_shrink_key():
    t = get_translator("vec2vec", shrink=3)
    assert t.config["shrink"] == 3
    with pytest.raises(ValueError, match="unknown key"):
        get_translator("vec2vec", shrnk=3)
