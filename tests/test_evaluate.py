"""Evaluation metrics against hand-computed cases, bad input, and the `vec2vec evaluate` command."""
import json

import numpy as np
import pytest

from vec2vec import evaluate as ev
from vec2vec.cli import main
from vec2vec.data.validation import l2_normalize


def test_ranks_hand_computed():
    true = np.eye(3, dtype=np.float32)
    # row 0 points at 0 (rank 1); row 1 points at 2 then 1 (rank 2); row 2 points at 0, 1 then 2
    pred = np.array([[1, 0, 0], [0, .5, .9], [.9, .6, .1]], np.float32)
    np.testing.assert_array_equal(ev.ranks_in_pool(l2_normalize(pred), true), [1, 2, 3])
    m = ev.retrieval_metrics(pred, true, pool=3)
    assert m["top1"] == pytest.approx(1 / 3)
    assert m["top5"] == 1.0
    assert m["mean_rank"] == pytest.approx(2.0)


def test_ties_count_against_prediction():
    true = np.eye(4, dtype=np.float32)
    pred = np.ones((4, 4), np.float32)  # equally close to everything: must not score top-1
    m = ev.retrieval_metrics(pred, true, pool=4, hungarian=False)
    assert m["top1"] == 0.0 and m["mean_rank"] == 4.0


def test_hungarian_beats_greedy_on_a_crafted_case():
    true = np.eye(2, dtype=np.float32)
    # both predictions are nearest to target 0, so top-1 = 1/2, but the one-to-one assignment
    # maximising total cosine pairs row 1 with target 1 -> 100 %
    pred = l2_normalize(np.array([[1.0, 0.0], [0.8, 0.6]], np.float32))
    m = ev.retrieval_metrics(pred, true, pool=2)
    assert m["top1"] == 0.5
    assert m["hungarian"] == 1.0


def test_cosines_raw_and_centred():
    mu = np.array([2 ** -0.5, 0.0, 0.0], np.float32)  # the shared part of every vector
    true = l2_normalize(np.array([[1, 1, 0], [1, 0, 1]], np.float32))
    pred = l2_normalize(np.array([[1, 0, 1], [1, 1, 0]], np.float32))  # swapped
    c = ev.cosine_metrics(pred, true, mu)
    assert c["cos"] == pytest.approx(0.5)  # inflated by the shared mean direction
    assert c["cos_centered"] == pytest.approx(0.0, abs=1e-6)  # residuals are orthogonal


def test_pools_shuffle_and_drop_remainder():
    pools = ev.pool_indices(2100, 1024, seed=0)
    assert len(pools) == 2 and all(len(p) == 1024 for p in pools)
    assert len(np.unique(np.concatenate(pools))) == 2048
    with pytest.raises(ValueError, match="needs at least 1024"):
        ev.pool_indices(1000, 1024)


def test_metric_input_errors():
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    bad = x.copy()
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        ev.retrieval_metrics(bad, x, pool=4)
    with pytest.raises(ValueError, match="expected dimension 4"):
        ev.cosine_metrics(x, x[:, :3])
    with pytest.raises(ValueError, match="paired arrays"):
        ev.retrieval_metrics(x, x[:6], pool=4)
    with pytest.raises(ValueError, match="fewer than every pool"):
        ev.all_metrics(x, x, None, pools=(16,))


def test_all_metrics_perfect_and_chance():
    rng = np.random.default_rng(0)
    y = l2_normalize(rng.standard_normal((256, 32)).astype(np.float32))
    perfect = ev.all_metrics(y, y, y.mean(0), pools=(128, 1024))
    assert len(perfect) == 1 and perfect[0]["pool"] == 128  # 1024 > n is skipped
    assert perfect[0]["top1"] == 1.0 and perfect[0]["hungarian"] == 1.0
    assert perfect[0]["cos_centered"] == pytest.approx(1.0, abs=1e-5)
    shuffled = ev.all_metrics(y[rng.permutation(256)], y, y.mean(0), pools=(128,))[0]
    assert shuffled["top1"] < 0.1 and shuffled["mean_rank"] > 30


@pytest.mark.slow
def test_evaluate_cli_writes_schema(tmp_path, capsys):
    """A tiny real run dir (minilm -> minilm-l3) evaluated end to end by the CLI."""
    from vec2vec import rundir
    from vec2vec.data.cache import embed
    from vec2vec.translators import get_translator

    n = 600
    xa = embed("minilm", "gcide-definitions", "a", limit=n, seed=0, progress=False)
    xb = embed("minilm-l3", "gcide-definitions", "b", limit=n, seed=0, progress=False)
    run = tmp_path / "run"
    rundir.write_config(run, {"method": "mini-vec2vec", "source": "minilm", "target": "minilm-l3",
                              "corpus": "gcide-definitions", "seed": 0, "n_a": n, "n_b": n})
    t = get_translator("mini-vec2vec", kmeans_rounds=3, refine_iters=3, csls_rounds=2).fit(xa, xb)
    t.save(rundir.translator_dir(run))
    assert main(["evaluate", f"run_dir={run}", "n_eval=512", "pools=[256]"]) == 0
    out = json.loads((run / "eval.json").read_text())
    assert {"source", "target", "method", "selection", "results"} <= set(out)
    assert out["source"] == "minilm" and out["target"] == "minilm-l3"
    assert "score" in out["selection"]["chosen"]
    methods = {(r["direction"], r["method"]) for r in out["results"]}
    for d in ("minilm->minilm-l3", "minilm-l3->minilm"):
        for m in ("mini-vec2vec", "identity", "procrustes-oracle", "lstsq-oracle"):
            assert (d, m) in methods
    for r in out["results"]:
        assert {"top1", "top5", "mean_rank", "cos", "cos_centered", "hungarian", "pool"} <= set(r)
        assert r["pool"] == 256
    # the recorded figures are the metrics of the saved translator on the eval pairs
    ea = embed("minilm", "gcide-definitions", "eval", limit=512, seed=0, progress=False)
    eb = embed("minilm-l3", "gcide-definitions", "eval", limit=512, seed=0, progress=False)
    row = next(r for r in out["results"] if r["method"] == "mini-vec2vec" and r.get("chosen")
               and r["direction"] == "minilm->minilm-l3")
    want = ev.retrieval_metrics(t.translate(ea, "ab"), eb, pool=256, seed=0)
    assert row["top1"] == pytest.approx(want["top1"]) and row["mean_rank"] == pytest.approx(want["mean_rank"])
    oracle = [r for r in out["results"] if r["method"] == "procrustes-oracle"]
    # two real, related embedders: far above chance (1/256), with only 256 fitting pairs
    assert all(r["top1"] > 0.2 for r in oracle)
    printed = capsys.readouterr().out
    assert "procrustes-oracle" in printed
    # the pair-free verdict is printed beside the paired truth (computed for a run without one)
    assert out["verdict"]["label"] in ("aligned", "not_aligned", "uncertain")
    assert "verdict without pairs: " + out["verdict"]["label"] in printed
    assert "paired truth minilm->minilm-l3: top-1 @256" in printed


def test_evaluate_cli_errors(tmp_path, capsys):
    assert main(["evaluate"]) == 1
    assert "run_dir=DIR is required" in capsys.readouterr().err
    assert main(["evaluate", f"run_dir={tmp_path}"]) == 1
    assert "config.json" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="config.json"):
        ev.evaluate_run(tmp_path)
