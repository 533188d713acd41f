"""Sweep the ``vec2vec`` GAN's knobs from one shared warm start (fitted once, then reused).

    python research/sweep_gan.py source=minilm target=mpnet n_a=30000 n_b=30000 \
        variants='{"base": {}, "w_pseudo=3": {"w_pseudo": 3.0}, "steps=1000": {"steps": 1000}}'

The warm start (``mini-vec2vec`` with ``seed``) is fitted on the unpaired splits and saved in
``warm_dir`` (reused when it is already there), so each variant costs only its GAN steps. Every
variant is scored without pairs (``vec2vec.selection.unsupervised_score``, what picks seeds and
checkpoints) and on the paired eval split in both directions (top-1 at pools 1024 / 8192, mean
cosine raw and centred). Prints a table and writes JSON (``output``) after every variant
(``research/conf/sweep_gan.yaml``).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import output_path, write_result  # noqa: E402
from research._cli import main as cli_main  # noqa: E402


def run(cfg: dict) -> int:
    from vec2vec.data.cache import embed
    from vec2vec.evaluate import centring_means
    from vec2vec.runtime import thread_limit
    from vec2vec.translators import Translator, get_translator

    variants = cfg["variants"]
    get = lambda e, split, n: embed(e, cfg["corpus"], split, limit=n, progress=False)  # noqa: E731
    xa, xb = get(cfg["source"], "a", cfg["n_a"]), get(cfg["target"], "b", cfg["n_b"])
    ea, eb = get(cfg["source"], "eval", cfg["n_eval"]), get(cfg["target"], "eval", cfg["n_eval"])
    pools = [p for p in (1024, 8192) if p <= len(ea)]
    names = {"ab": f"{cfg['source']}->{cfg['target']}", "ba": f"{cfg['target']}->{cfg['source']}"}
    means = centring_means(xa, xb)
    tag = f"{cfg['source']}_{cfg['target']}_{len(xa)}_{len(xb)}_s{cfg['seed']}"
    warm = Path(cfg["warm_dir"] or f"runs/sweep-gan-warm/{tag}")
    cfg["warm_dir"] = str(warm)
    out = output_path(cfg, f"sweep_gan_{cfg['source']}_{cfg['target']}.json")
    rec: dict = {"config": cfg, "warm_start": {}, "variants": []}
    with thread_limit(cfg["threads"]):
        if not (warm / "translator.json").is_file():
            t0 = time.time()
            get_translator("mini-vec2vec", seed=cfg["seed"]).fit(xa, xb).save(warm)
            rec["warm_start"]["fit_seconds"] = time.time() - t0
        rec["warm_start"]["dir"] = str(warm)
        score_variant(rec, "warm start (mini-vec2vec)", {}, Translator.load(warm), 0.0,
                      xa, xb, ea, eb, means, pools, names)
        for name, kw in variants.items():
            t0 = time.time()
            t = get_translator("vec2vec", seed=cfg["seed"], threads=cfg["threads"],
                               **{"warm_start": str(warm), **kw}).fit(xa, xb)
            score_variant(rec, name, kw, t, time.time() - t0, xa, xb, ea, eb, means, pools, names)
            write_result(out, rec)
    print(f"\n{'variant':<28}{'score':>7}{'fit s':>7}  " + "  ".join(
        f"{names[d]:>30}" for d in ("ab", "ba")))
    for v in rec["variants"]:
        cells = "  ".join(f"{c['top1_1024']:.3f}/{c.get('top1_8192', float('nan')):.3f} "
                          f"cos {c['cos']:.3f} cc {c['cos_centered']:.3f}" for c in v["directions"])
        print(f"{v['name']:<28}{v['score']:>7.4f}{v['fit_seconds']:>7.0f}  {cells}")
    print(f"wrote {out}")
    return 0


def score_variant(rec, name, kw, t, fit_seconds, xa, xb, ea, eb, means, pools, names) -> None:
    """Append one variant's pair-free score and paired metrics (both directions) to rec."""
    from vec2vec.evaluate import score_directions
    from vec2vec.selection import unsupervised_score

    rows = score_directions(t, ea, eb, means, names, pools, hungarian_max_pool=0)
    dirs = []
    for d in ("ab", "ba"):   # score_directions returns the ab rows, then the ba rows
        rs = rows[:len(rows) // 2] if d == "ab" else rows[len(rows) // 2:]
        dirs.append({"direction": names[d], **{f"top1_{r['pool']}": r["top1"] for r in rs},
                     "cos": rs[0]["cos"], "cos_centered": rs[0]["cos_centered"]})
    rec["variants"].append({"name": name, "overrides": kw, "score": unsupervised_score(t, xa, xb)["score"],
                            "fit_seconds": fit_seconds, "directions": dirs})


if __name__ == "__main__":
    sys.exit(cli_main("sweep_gan", run))
