"""The vec2vec GAN translator: exact warm start, the rotation control, save/load, config checks.

Real minilm vectors of gcide-definitions at small sizes; the rotation control is minilm against a
random orthogonal rotation of itself on *disjoint* texts (splits a and b), scored on the paired
eval split (pool 1024).
"""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vec2vec.data.cache import embed
from vec2vec.translators import get_translator, method_class
from vec2vec.translators.base import Translator
from vec2vec.translators.gan import DEFAULTS, GANTranslator
from vec2vec.translators.gan.losses import (
    cosine_loss,
    lsgan_d_loss,
    lsgan_g_loss,
    r1_penalty,
    vsp_loss,
)
from vec2vec.translators.gan.model import init_from_linear, linear_maps
from vec2vec.translators.linear import center_normalize


def rotation(d: int, seed: int = 0) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))[0].astype(np.float32)


@pytest.fixture(scope="module")
def rot_data():
    xa = embed("minilm", "gcide-definitions", "a", limit=2000, progress=False)
    xb = embed("minilm", "gcide-definitions", "b", limit=2000, progress=False)
    ev = embed("minilm", "gcide-definitions", "eval", limit=1024, progress=False)
    r = rotation(xa.shape[1])
    return xa, xb @ r, ev, ev @ r


def top1(pred: np.ndarray, true: np.ndarray) -> float:
    """Fraction of rows whose true partner is the most cosine-similar among all rows of ``true``."""
    return float(((pred @ true.T).argmax(1) == np.arange(len(pred))).mean())


def test_losses_behave():
    x = torch.nn.functional.normalize(torch.randn(32, 8), dim=-1)
    q = torch.linalg.qr(torch.randn(8, 8))[0]
    assert cosine_loss(x, x).abs() < 1e-6 and cosine_loss(x, -x) > 1.99
    assert vsp_loss(x, x @ q) < 1e-5            # a rotation keeps every pairwise similarity
    assert vsp_loss(x, torch.randn(32, 8)) > 0.1
    assert lsgan_d_loss(torch.ones(4, 1), torch.zeros(4, 1)) == 0
    assert lsgan_g_loss(torch.ones(4, 1)) == 0
    d = torch.nn.Linear(8, 1)
    assert torch.isclose(r1_penalty(d, x), d.weight.pow(2).sum(), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("d_b", [384, 512, 256])
def test_warm_start_reproduces_linear_map_exactly(rot_data, d_b):
    """At step 0 the network equals the linear translator it was initialised from, for d_a < d_b,
    d_a = d_b and d_a > d_b (a paired oracle is used here only as an arbitrary linear map)."""
    xa, _, ev, _ = rot_data
    m = np.linalg.qr(np.random.default_rng(1).standard_normal((max(384, d_b), max(384, d_b))))[0]
    m = m[:384, :d_b].astype(np.float32)
    lin = get_translator("procrustes-oracle").fit(xa, xa @ m)
    gan = GANTranslator(warm_start=None, width=max(384, d_b) if d_b > 384 else 384, backbone_depth=2,
                        in_depth=1, out_depth=1)
    gan.build((384, d_b))
    s_is_a = 384 <= d_b
    init_from_linear(gan.net, linear_maps(lin, xa, xa @ m),
                     center_normalize(xa if s_is_a else xa @ m, lin.mean_a if s_is_a else lin.mean_b)[0])
    for direction, x in (("ab", ev), ("ba", ev @ m)):
        np.testing.assert_allclose(gan.translate(x, direction), lin.translate(x, direction), atol=2e-5)


@pytest.mark.slow
def test_gan_rotation_control_and_round_trip(rot_data, tmp_path):
    """Warm start (default method, mini-vec2vec, fitted here without pairs) + refinement:
    top-1 @1024 >= 0.99 both ways, and the refinement raises the mean cosine to the true rotated
    vectors above the warm start's; save/load gives identical translations; a wrong-dimension
    input is refused."""
    xa, xb, ea, eb = rot_data
    lin = get_translator("mini-vec2vec").fit(xa, xb)
    lin.save(tmp_path / "lin")
    tr = get_translator("vec2vec", warm_start=str(tmp_path / "lin"), steps=100, threads=2)
    tr.fit(xa, xb)
    for d, src, tgt in (("ab", ea, eb), ("ba", eb, ea)):
        pred = tr.translate(src, d)
        assert top1(pred, tgt) >= 0.99
        gain = (pred * tgt).sum(1).mean() - (lin.translate(src, d) * tgt).sum(1).mean()
        assert gain > 0.01, f"{d}: refinement gained only {gain:.3f} cosine over the warm start"
    tr.save(tmp_path / "t")
    back = Translator.load(tmp_path / "t")
    assert back.method == "vec2vec"
    np.testing.assert_array_equal(back.translate(ea[:64], "ab"), tr.translate(ea[:64], "ab"))
    with pytest.raises(ValueError, match="dimension"):
        back.translate(np.ones((3, 50), np.float32), "ab")


@pytest.mark.slow
def test_load_refuses_other_architecture(rot_data, tmp_path):
    xa, xb, _, _ = rot_data
    tr = GANTranslator(warm_start=None, width=32, backbone_depth=1, steps=2, batch_size=16,
                       pseudo_pool=64, threads=1)
    tr.fit(xa[:64], xb[:64])
    tr.save(tmp_path / "t")
    meta = json.loads((tmp_path / "t" / "translator.json").read_text())
    meta["config"]["width"] = 48
    (tmp_path / "t" / "translator.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="does not fit"):
        Translator.load(tmp_path / "t")


# run settings: `vec2vec train` fills them from its own seed= and device= keys
RUN_KEYS = {"seed", "device"}


@pytest.mark.parametrize("method", ["vec2vec", "mini-vec2vec", "muse", "gw", "pivot", "identity"])
def test_config_is_checked_and_mirrored_in_yaml(method):
    """Every knob of a method is in its YAML with the constructor's default (so --help lists it
    and a typo is refused before anything runs), and the constructor refuses unknown knobs."""
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'widht'"):
        get_translator(method, widht=3)
    keys = method_class(method).config_keys()
    conf = yaml.safe_load((Path(__file__).parents[1] / f"vec2vec/conf/method/{method}.yaml").read_text())
    assert conf["name"] == method
    assert set(conf) - {"name"} == set(keys) - RUN_KEYS
    norm = lambda v: list(v) if isinstance(v, tuple) else ({} if v is None else v)  # noqa: E731
    assert {k: norm(conf[k]) for k in conf if k != "name"} == {k: norm(keys[k]) for k in conf
                                                                if k != "name"}
    assert DEFAULTS == method_class("vec2vec").config_keys()


@pytest.mark.slow
def test_warm_start_must_be_unsupervised(rot_data, tmp_path):
    """A paired oracle must never seed an "unsupervised" GAN: refused by name and as a saved
    translator directory."""
    xa, xb, _, _ = rot_data
    gan = dict(width=32, steps=2, batch_size=16, pseudo_pool=64, threads=1)
    with pytest.raises(ValueError, match="needs paired data"):
        GANTranslator(warm_start="procrustes-oracle", **gan).fit(xa[:64], xb[:64])
    get_translator("procrustes-oracle").fit(xa[:64], xb[:64]).save(tmp_path / "oracle")
    with pytest.raises(ValueError, match="fitted on paired data"):
        GANTranslator(warm_start=str(tmp_path / "oracle"), **gan).fit(xa[:64], xb[:64])
