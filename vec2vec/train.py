"""Training runs: every seed of one method fitted into a run directory, one chosen without pairs.

``run(cfg)`` is what ``vec2vec train`` does: it loads the unpaired training vectors (split ``a``
embedded by ``source``, split ``b`` by ``target``), fits the method once per seed through its
``fit`` (the GAN checkpoints and resumes inside ``fit``), scores each fitted translator with the
pair-free criterion of :mod:`vec2vec.selection`, and copies the best seed's translator to
``DIR/translator``. The layout of the directory is :mod:`vec2vec.rundir`'s.

Under ``torchrun`` a method whose ``fit`` trains in steps (``trains_in_steps``: the GAN) trains on
every rank; rank 0 alone fits any other method, writes files and returns the record.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np

from vec2vec import distributed, rundir
from vec2vec.data.cache import embed
from vec2vec.data.io import read_json, replace_dir, write_json
from vec2vec.runtime import pick_device
from vec2vec.selection import score_value, scorer, unsupervised_score
from vec2vec.training import plot_curves
from vec2vec.translators.base import Translator, get_translator, method_class
from vec2vec.translators.pairs import known_pairs_plan, pairs_metrics, split_pairs
from vec2vec.verdict import verdict

log = logging.getLogger(__name__)
# keys of a run's config.json that must match to resume it
RESUME_KEYS = ("method", "method_config", "source", "target", "corpus", "n_a", "n_b", "split_seed")


def make_translator(method: str, params: dict, seed: int, device: str = "auto") -> Translator:
    """Build ``method`` with knobs ``params``; the run's ``seed`` and ``device`` are filled in
    when the method has those knobs (they are run settings, not method settings)."""
    keys = method_class(method).config_keys()
    params = dict(params)
    if "seed" in keys:
        params["seed"] = int(seed)
    if "device" in keys:
        params["device"] = device
    return get_translator(method, **params)


def load_training_data(cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """Unpaired training vectors: split a by ``source`` and split b by ``target`` (cached)."""
    kw = dict(corpus=cfg["corpus"], seed=int(cfg["split_seed"]), progress=bool(cfg["progress"]))
    xa = embed(cfg["source"], split="a", limit=cfg["n_a"], **kw)
    xb = embed(cfg["target"], split="b", limit=cfg["n_b"], **kw)
    return xa, xb


def load_known_pairs(cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """``known_pairs`` texts embedded by both models (the research setting of a few known
    documents): split a rows after the first n_a, outside the eval split and the training rows.
    Returns (pa [N, d_a], pb [N, d_b])."""
    if cfg.get("n_a") is None:
        raise ValueError("known_pairs needs n_a set: the pairs are the split-a texts after the "
                         "first n_a")
    n_a, n = int(cfg["n_a"]), int(cfg["known_pairs"])
    kw = dict(corpus=cfg["corpus"], seed=int(cfg["split_seed"]), progress=bool(cfg["progress"]))
    pa = embed(cfg["source"], split="a", limit=n_a + n, **kw)[n_a:]
    pb = embed(cfg["target"], split="a", limit=n_a + n, **kw)[n_a:]
    if len(pa) < n:
        raise ValueError(f"known_pairs={n}: split a of {cfg['corpus']} has only {len(pa)} texts "
                         f"after n_a={n_a}; lower n_a or known_pairs")
    return pa, pb


def _held_out_quality(tr: Translator, held) -> float:
    """Mean of top-1 and cosine, both directions, on the held-out known pairs."""
    m = pairs_metrics(tr, *held)
    return float(sum(m[d]["top1"] + m[d]["cos"] for d in ("ab", "ba")) / 4)


def _check_resume(run_dir: Path, record: dict, resume: bool, overwrite: bool) -> None:
    """Refuse to mix runs: an existing run directory is continued only with ``resume=true`` and
    the same data and method, or started afresh with ``overwrite=true``."""
    old = rundir.config_path(run_dir)
    if not old.is_file():
        return
    prev = rundir.normalize_config(read_json(old))
    if resume:
        changed = [k for k in RESUME_KEYS if prev.get(k) != record.get(k)]
        if changed:
            raise ValueError(f"run_dir={run_dir}: resume=true but the config differs from the "
                             f"saved run in {changed}; use another run_dir or overwrite=true")
    elif overwrite:
        shutil.rmtree(run_dir)
    else:
        raise ValueError(f"run_dir={run_dir} already holds a training run; resume=true continues "
                         "it, overwrite=true replaces it, or choose another run_dir")


def run(cfg: dict, xa: np.ndarray | None = None, xb: np.ndarray | None = None,
        fit_kw: dict | None = None, pairs: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Train every seed of ``cfg`` (the resolved train config) into ``cfg["run_dir"]``; choose the
    best seed by the pair-free score; return the selection record (``{}`` on torchrun ranks other
    than 0). ``xa`` [n_a, d_a], ``xb`` [n_b, d_b]: the training vectors (default: loaded from the
    config). ``fit_kw``: the method's extra ``fit`` inputs (``Translator.fit_inputs``, e.g. the
    pivot's vectors); by default loaded by the method's ``load_fit_inputs``. ``pairs``: known
    pairs (pa [N, d_a], pb [N, d_b], the same texts), default ``cfg["known_pairs"]`` texts
    (:func:`load_known_pairs`); a share ``known_pairs_holdout`` of them measures the fit, the
    rest seed it (:mod:`vec2vec.translators.pairs`)."""
    method_cfg = dict(cfg["method"])
    method = method_cfg.pop("name")
    cls = method_class(method)
    seeds = [int(s) for s in (cfg["seeds"] if cfg.get("seeds") is not None else [cfg["seed"]])]
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be a non-empty list of distinct ints, got {cfg.get('seeds')}")
    make_translator(method, method_cfg, seeds[0])     # refuse bad knobs before any data loads
    run_dir = Path(cfg["run_dir"])
    device = pick_device(cfg.get("device", "auto"))
    job = distributed.setup(device)
    if not job.main and not cls.trains_in_steps:   # only step-wise fits train data-parallel
        distributed.teardown(job)
        return {}
    if fit_kw is None:
        if cls.fit_inputs and (xa is not None or xb is not None):
            raise ValueError(f"method={method} with given xa/xb also needs fit_kw with "
                             f"{', '.join(cls.fit_inputs)} (see {cls.__name__}.fit)")
        fit_kw = cls.load_fit_inputs(cfg, method_cfg)
    if xa is None or xb is None:
        xa, xb = load_training_data(cfg)
    if pairs is None and int(cfg.get("known_pairs") or 0) > 0:
        pairs = load_known_pairs(cfg)
    held, known = None, None
    if pairs is not None:
        fit_pairs, held = split_pairs(*pairs, float(cfg.get("known_pairs_holdout", 0.2)),
                                      seed=int(cfg.get("split_seed", 0)))
        method_cfg, extra, base = known_pairs_plan(method, method_cfg, xa, xb, *fit_pairs)
        fit_kw = {**fit_kw, **extra}
        known = {"n": int(len(pairs[0])), "n_fit": int(len(fit_pairs[0])),
                 "n_holdout": int(len(held[0])), "pairs_only": pairs_metrics(base, *held)}
    record = {**{k: v for k, v in cfg.items() if k != "method"}, "method": method,
              "method_config": method_cfg, "seeds": seeds, "n_a": int(len(xa)), "n_b": int(len(xb)),
              "dims": [int(xa.shape[1]), int(xb.shape[1])]}
    if job.main:
        _check_resume(run_dir, record, bool(cfg.get("resume")), bool(cfg.get("overwrite")))
        rundir.write_config(run_dir, record)
    score_fn = scorer(xa, xb)
    per_seed: dict[str, dict] = {}
    for seed in seeds:
        sdir = rundir.seed_dir(run_dir, seed)
        tdir = rundir.translator_dir(run_dir, seed)
        t0 = time.time()
        done = bool(cfg.get("resume") and (tdir / "translator.json").is_file()
                    and (sdir / "done.json").is_file())
        if cls.trains_in_steps:  # the ranks train together: rank 0's files decide for all
            done = bool(distributed.agree(job, [float(done)])[0])
        if done:
            tr = Translator.load(tdir)
            seconds = read_json(sdir / "done.json")["seconds"]
        else:
            tr = make_translator(method, method_cfg, seed, device)
            step_kw = (dict(run_dir=sdir, resume=bool(cfg.get("resume")),
                            ckpt_every=int(cfg["ckpt_every"]), progress=bool(cfg["progress"]),
                            score_fn=score_fn) if cls.trains_in_steps else {})
            tr.fit(xa, xb, **fit_kw, **step_kw)
            if held is not None and len(held[0]) and hasattr(tr, "with_map") \
                    and _held_out_quality(base, held) > _held_out_quality(tr, held):
                # with many pairs the refinement on unpaired vectors can fall below the pairs'
                # own map: the held-out pairs decide (they are the paired truth at hand)
                tr = tr.with_map(base.w_ab, base.w_ba)
                tr.fit_evidence = {**tr.fit_evidence, "kept": "pairs-only map"}
            seconds = time.time() - t0
            if job.main:
                tr.save(tdir)
                write_json(sdir / "done.json", {"seconds": seconds})
        if not job.main:
            continue
        scores = unsupervised_score(tr, xa, xb)
        per_seed[str(seed)] = {**scores, "seconds": seconds,
                               "verdict": verdict(tr, xa, xb, scores)}
        if held is not None:   # the paired truth the known pairs give, beside the verdict
            per_seed[str(seed)]["known_pairs"] = pairs_metrics(tr, *held)
        log.info("seed %d: %s; verdict %s", seed,
                 ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if isinstance(v, float)),
                 per_seed[str(seed)]["verdict"]["label"])
    distributed.teardown(job)
    if not job.main:
        return {}
    # the pair-free score picks among seeds; an aligned seed beats any seed that is not
    chosen = max(seeds, key=lambda s: (per_seed[str(s)]["verdict"]["label"] == "aligned",
                                       score_value(per_seed[str(s)])))
    if cls.trains_in_steps:   # every seed's training curves in one figure: DIR/curves.png
        states = {s: rundir.seed_dir(run_dir, s) / "checkpoint" / "state.json" for s in seeds}
        logs = {f"seed {s}" + (" (chosen)" if s == chosen else ""): read_json(p)["history"]
                for s, p in states.items() if p.is_file()}
        if logs:
            plot_curves(logs, run_dir / "curves.png")
    tmp = run_dir / (rundir.TRANSLATOR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(rundir.translator_dir(run_dir, chosen), tmp)
    replace_dir(tmp, rundir.translator_dir(run_dir))
    selection = {"criterion": "vec2vec.selection.unsupervised_score['score'] (higher is better)",
                 "chosen_seed": chosen, "verdict": per_seed[str(chosen)]["verdict"],
                 "per_seed": per_seed}
    if known is not None:
        selection["known_pairs"] = {**known, "chosen": per_seed[str(chosen)]["known_pairs"]}
    write_json(rundir.selection_path(run_dir), selection)
    return selection
