"""``vec2vec audit``: what does a leaked vector database reveal?

Someone holds vectors (a ``.npy`` or a faiss index) made by an embedder they cannot query. With an
embedder they *can* run (``known``) and public texts of the same domain, the audit:

1. embeds the public corpus with ``known`` (through the cache);
2. with ``identify`` set (off by default: the unknown-embedder case; ``auto`` = the registry's
   embedders of the leaked dimension; :mod:`vec2vec.identify`), tests whether the leak is the
   output of an embedder it can run. If one matches, the
   leak is translated with a least-squares map fitted on the public texts embedded by both that
   embedder and ``known`` (paired public texts; no leaked text involved). Otherwise it fits
   translators leaked -> known with each unsupervised method in ``methods`` (no pairs), and picks
   one by the pair-free criterion of :mod:`vec2vec.selection`;
3. translates every leaked vector into ``known``'s space;
4. infers an attribute per vector, zero-shot: the label whose description (embedded by ``known``)
   is nearest in cosine to the translated vector;
5. inverts the translated vectors to text with ``known``'s inverter (hypothesiser + optional
   correction steps; nearest public texts join the candidate pool when ``retrieval`` is on);
6. writes ``DIR/report.json`` and ``DIR/report.html``.

With ``truth=PATH.jsonl`` (one ``{"text", "label"}`` per leaked vector, in order) it also measures
the leakage (attribute accuracy, inversion token F1 / BLEU) and two ceilings on the same rows:
``oracle_translation`` (a translator fitted on *paired* rows: what an attacker with pairs gets) and
``direct_inversion`` (the true ``known`` vectors of the texts: no translation loss at all).

Every stage writes its result into ``DIR`` before the next starts (translators as run dirs,
inversions in atomic chunks of ``invert_chunk`` rows), so a killed audit resumes where it stopped
when run again with the same arguments.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from inversion.data import embed_texts, load_corpus_vectors
from inversion.infer import RetrievalIndex, check_temperature, default_weights_dir, invert
from inversion.metrics import score
from inversion.train import load_inverter
from vec2vec.audit.identify import candidate_names, embed_candidates, format_result, identify
from vec2vec.audit.leak import (
    DEFAULT_LABELS,
    infer_attributes,
    load_known_pairs,
    load_labels,
    load_leaked,
    load_truth,
)
from vec2vec.audit.report import write_html
from vec2vec.data.cache import embed
from vec2vec.data.corpora import resolve_split
from vec2vec.data.embedders import get_embedder
from vec2vec.data.io import file_sha256, read_json, save_npy, write_json
from vec2vec.data.validation import check_vectors, l2_normalize
from vec2vec.runtime import set_seed, thread_limit
from vec2vec.selection import CRITERION
from vec2vec.train import run as train_run
from vec2vec.translators.base import Translator, get_translator

REPORT_VERSION = 1


# ----- translation -------------------------------------------------------------------------------
def fit_translators(leaked: np.ndarray, public: np.ndarray, cfg: dict, out: Path,
                    pairs: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Fit each method of ``cfg["methods"]`` on (leaked = space a, public = space b) into
    ``out/translators/<method>`` and choose one: an ``aligned`` verdict first; then, with known
    ``pairs`` (leaked rows [N, d], known vectors [N, d_known]), the best mean cosine on the
    held-out pairs, else the pair-free score.

    The GAN (``vec2vec``) warm-starts from the fitted ``mini-vec2vec`` when both are listed (with
    known pairs it refits it from the pairs: cheap, the pairs' start alone is refined).
    Returns ``{"chosen", "criterion", "methods": {name: {"score", "seconds", "verdict", ...}}}``.
    """

    methods = list(cfg["methods"])
    if "mini-vec2vec" in methods and "vec2vec" in methods:   # the GAN warm-starts from it: fit it first
        methods.remove("mini-vec2vec")
        methods.insert(methods.index("vec2vec"), "mini-vec2vec")
    if not methods:
        raise ValueError("methods=[] : list at least one unsupervised method (e.g. mini-vec2vec)")
    record: dict = {"methods": {}}
    for method in methods:
        params = {"name": method, **(cfg.get("method_configs") or {}).get(method, {})}
        if (method == "vec2vec" and "mini-vec2vec" in methods and "warm_start" not in params
                and pairs is None):
            params["warm_start"] = str(out / "translators" / "mini-vec2vec" / "translator")
        run_cfg = {"method": params, "source": "leaked", "target": cfg["known"],
                   "corpus": str(cfg["public_corpus"]), "split_seed": int(cfg["seed"]),
                   "n_a": len(leaked), "n_b": len(public), "seed": int(cfg["seed"]),
                   "seeds": None, "resume": True, "ckpt_every": 100,
                   "known_pairs_holdout": float(cfg.get("known_pairs_holdout", 0.2)),
                   "progress": bool(cfg["progress"]), "device": cfg["device"],
                   "run_dir": str(out / "translators" / method)}
        t0 = time.time()
        print(f"[audit] fitting {method} (leaked {leaked.shape} -> {cfg['known']} "
              f"{public.shape})", file=sys.stderr)
        sel = train_run(run_cfg, leaked, public, pairs=pairs)
        scores = sel["per_seed"][str(sel["chosen_seed"])]
        record["methods"][method] = {"score": float(scores["score"]),
                                     "seconds": float(scores.get("seconds", time.time() - t0)),
                                     "verdict": sel["verdict"], "selection": scores}
        if "known_pairs" in sel:
            record["methods"][method]["known_pairs"] = sel["known_pairs"]

    def rank(m):
        r = record["methods"][m]
        held = r.get("known_pairs", {}).get("chosen", {})
        measured = held["ab"]["cos"] if "ab" in held else -1.0
        return r["verdict"]["label"] == "aligned", measured, r["score"]

    record["chosen"] = max(record["methods"], key=rank)
    record["criterion"] = ("an aligned verdict first, then the mean cosine on held-out known "
                           "pairs, then " + CRITERION) if pairs is not None else (
                           "an aligned verdict first, then " + CRITERION)
    return record


def identify_leak(leaked: np.ndarray, public: np.ndarray, cfg: dict) -> tuple[dict, dict]:
    """Step 2a: test each embedder of ``cfg["identify"]`` on its embeddings of the same public texts
    (cached; ``known``'s are ``public`` [m, d]). Returns (record ``{"identified", "candidates",
    "seconds"}`` of :func:`vec2vec.identify.identify`, {name: public vectors})."""

    t0 = time.time()
    vecs = embed_candidates(candidate_names(cfg.get("identify"), leaked.shape[1]),
                            str(cfg["public_corpus"]), cfg["public_split"], cfg["public_n"],
                            seed=int(cfg["seed"]), have={cfg["known"]: public},
                            dim=leaked.shape[1])
    record = identify(leaked, vecs, seed=int(cfg["seed"]))
    record["setting"], record["seconds"] = cfg.get("identify"), time.time() - t0
    return record, vecs


IDENTIFIED = "identified"   # translator dir and method key of an identified leak


def fit_identified(ident: dict, candidate: np.ndarray, public: np.ndarray, cfg: dict,
                   out: Path) -> dict:
    """The translator for a leak identified as embedder C: identity if C is ``known``, else a
    least-squares map C -> known fitted on the public texts embedded by both (``candidate`` [m, d_c]
    and ``public`` [m, d], same rows), saved to ``out/translators/identified``. Returns the
    selection record (as :func:`fit_translators`, plus ``identification``)."""

    name = ident["identified"]
    method = "identity" if name == cfg["known"] else "lstsq-oracle"
    t0 = time.time()
    t = get_translator(method).fit(candidate, public)
    t.save(out / "translators" / IDENTIFIED / "translator")
    stats = ident["candidates"][name]
    how = ("the known embedder itself: passed through unchanged" if method == "identity" else
           f"{method} fitted on {len(public)} public texts embedded by {name} and {cfg['known']} "
           f"(pairs of public texts, none leaked)")
    print(f"[audit] the leak matches {name} (nn ratio {stats['nn_ratio']:.3f}, mean cosine "
          f"{stats['mean_cos']:.3f}): {how}", file=sys.stderr)
    sure = {"label": "aligned", "evidence": {"identified": name, **stats},
            "explain": (f"Aligned: the leak is {name}'s output (nearest-neighbour ratio "
                        f"{stats['nn_ratio']:.3f}, mean cosine {stats['mean_cos']:.3f}), translated "
                        "by a map fitted on public texts embedded by both.")}
    return {"chosen": IDENTIFIED, "methods": {IDENTIFIED: {
                "score": float(stats["nn_ratio"]), "seconds": time.time() - t0, "selection": {},
                "verdict": sure}},
            "criterion": f"identified as {name}: {how}",
            "identification": {**ident, "embedder": name, "method": method,
                               "public_pairs": int(len(public))}}


def translator_of(out: Path, method: str):

    return Translator.load(out / "translators" / method / "translator")


def oracle_translation(leaked: np.ndarray, known_true: np.ndarray, method: str) -> np.ndarray:
    """Ceiling: a translator fitted on the *paired* rows (leaked[i] <-> known_true[i]) and applied
    to the same rows: the best a paired attacker's map does on this set."""

    return get_translator(method).fit(leaked, known_true).translate(leaked, "ab")


# ----- inversion (chunked, resumable) ------------------------------------------------------------
def invert_chunked(vectors: np.ndarray, folder: Path, cfg: dict, model, retrieval) -> list[dict]:
    """Invert vectors [n, d] (known space) in chunks of ``invert_chunk`` rows; each chunk is written
    atomically to ``folder/NNNNNN.json`` and reused when it exists (resume after a kill; the
    inputs are pinned by :func:`check_out_dir`)."""
    from tqdm import tqdm


    folder.mkdir(parents=True, exist_ok=True)
    size = int(cfg["invert_chunk"])
    out: list[dict] = []
    bar = tqdm(total=len(vectors), desc=f"invert {folder.name}", unit="vec", file=sys.stderr,
               disable=not cfg["progress"], dynamic_ncols=True)
    for i in range(0, len(vectors), size):
        path = folder / f"{i:06d}.json"
        part = vectors[i:i + size]
        done = read_json(path) if path.is_file() else None
        if not (isinstance(done, list) and len(done) == len(part)):
            done = invert(part, model, cfg["known"], steps=int(cfg["invert_steps"]),
                          beam=int(cfg["invert_beam"]), temperature=cfg["invert_temperature"],
                          polish=int(cfg["invert_polish"]), retrieval=retrieval,
                          retrieval_k=int(cfg["retrieval_k"]), batch_size=int(cfg["invert_batch"]))
            done = [{k: r[k] for k in ("text", "cosine", "steps", "queries", "hypothesis",
                                       "hypothesis_cosine")} for r in done]
            write_json(path, done)
        out += done
        bar.update(len(part))
    bar.close()
    return out


# ----- the pipeline ------------------------------------------------------------------------------
def inverter_dir(cfg: dict, dim: int) -> Path:
    """The inverter to use for ``known`` (``inverter=`` or the shipped one), checked cheaply
    before any expensive stage: it must exist and be made for ``known``'s ``dim``-d vectors."""

    run_dir = Path(cfg["inverter"]) if cfg.get("inverter") else default_weights_dir(cfg["known"])
    if not (run_dir / "inverter.json").is_file():
        raise FileNotFoundError(f"no inverter for known={cfg['known']!r} at {run_dir}; train one "
                                "with `vec2vec invert-train` and pass inverter=DIR, or invert=false")
    meta = read_json(run_dir / "inverter.json")
    if not isinstance(meta, dict) or meta.get("emb_dim") != dim:
        raise ValueError(f"inverter {run_dir} inverts {meta.get('emb_dim') if isinstance(meta, dict) else '?'}"
                         f"-d vectors of {meta.get('embedder') if isinstance(meta, dict) else '?'!r}, "
                         f"but known={cfg['known']!r} makes {dim}-d vectors; pass the inverter "
                         "trained for the known embedder")
    return run_dir


def translation_section(selection: dict) -> dict:
    """What the report says about the translation: the chosen method's pair-free verdict, the
    known pairs' measurement when there were any, and whether the leakage figures are a lower
    bound (anything but an aligned verdict)."""
    chosen = selection["methods"][selection["chosen"]]
    v = chosen["verdict"]
    section = {"method": selection["chosen"], "verdict": v,
               "lower_bound": v["label"] != "aligned"}
    if "known_pairs" in chosen:
        section["known_pairs"] = chosen["known_pairs"]
    if section["lower_bound"]:
        section["warning"] = (
            "The translation is not known to be right (verdict: " + v["label"] + "), so the "
            "leakage figures below are a lower bound from a translation that may have failed, "
            "not evidence that the leak is safe. An attacker with a better translation, or a few "
            "known documents, may read much more. What would settle it: known pairs "
            "(known_pairs=PATH.jsonl), more public texts of the same domain (public_n=), or "
            "identify=auto if the leak may come from an embedder you can run.")
    return section


def attribute_baselines(pred: np.ndarray, names: list[str], truth: list[str]) -> dict:
    """Accuracy beside what it must beat: chance (1/labels), the majority class of the truth,
    macro-F1 over the labels that occur, and the lift = accuracy / max(chance, majority)."""
    pred_names = [names[p] for p in pred]
    acc = float(np.mean([p == t for p, t in zip(pred_names, truth)]))
    counts = {lab: truth.count(lab) for lab in set(truth)}
    majority = max(counts.values()) / len(truth)
    f1s = []
    for lab in counts:
        tp = sum(p == t == lab for p, t in zip(pred_names, truth))
        fp = sum(p == lab != t for p, t in zip(pred_names, truth))
        fn = counts[lab] - tp
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    chance = 1.0 / len(names)
    return {"attribute_accuracy": acc, "attribute_macro_f1": float(np.mean(f1s)),
            "attribute_chance": chance, "attribute_majority": float(majority),
            "attribute_lift": acc / max(chance, majority)}


def _leakage(pred_attr, names, truth_labels, inv, truth_texts) -> dict:
    res = {}
    if truth_labels is not None:
        res |= attribute_baselines(pred_attr, names, truth_labels)
    if inv is not None:

        scores = score([r["text"] for r in inv], truth_texts[:len(inv)])
        res |= {"token_f1": scores["token_f1"], "bleu": scores["bleu"],
                "exact": scores["exact"], "inverted": scores["n"]}
    return res


# config keys that change what an audit computes (speed and display settings are left out)
RESULT_KEYS = ("known", "public_corpus", "public_split", "public_n", "labels", "methods",
               "method_configs", "seed", "invert_steps", "invert_beam", "invert_temperature",
               "invert_polish", "inverter", "retrieval", "retrieval_k", "oracle_method", "min_leaked",
               "identify", "known_pairs", "known_pairs_holdout")


# keys added to RESULT_KEYS after audits were first written, with the value an older key.json
# implied: proposals were sampled at temperature 1.0 before the knob existed; no polish (and no
# identification) before theirs
KEYS_ADDED = {"invert_temperature": 1.0, "invert_polish": 0, "identify": [], "known_pairs": None,
              "known_pairs_holdout": 0.2}


def _comparable_key(key: dict) -> dict:
    """``key`` with keys it predates filled in, and the temperature blanked where it is unused
    (beam 1 inverts greedily), so only differences that change the results count."""
    key = {**KEYS_ADDED, **key}
    if key.get("identify") in (None, False):
        key["identify"] = []        # the same "no identification" as identify=[]
    if int(key.get("invert_beam") or 1) <= 1:
        key["invert_temperature"] = None
    return key


def check_out_dir(cfg: dict, out: Path) -> None:
    """Resume only what was made with the same inputs: ``out/key.json`` records the result-relevant
    arguments and the content hashes of the leaked and truth files. A mismatch is refused (with the
    differing keys named) unless ``overwrite=true``, which empties ``out`` first."""
    import shutil

    key = _comparable_key({k: cfg.get(k) for k in RESULT_KEYS})
    key["leaked_sha256"] = file_sha256(cfg["input"])
    key["truth_sha256"] = file_sha256(cfg["truth"]) if cfg.get("truth") else None
    if cfg.get("known_pairs"):
        key["known_pairs_sha256"] = file_sha256(cfg["known_pairs"])
    path = out / "key.json"
    if path.is_file():
        old = _comparable_key(read_json(path))
        diff = sorted(k for k in set(old) | set(key) if old.get(k) != key.get(k))
        if diff and not cfg.get("overwrite"):
            raise ValueError(f"out={out} holds an audit made with other inputs ({', '.join(diff)}); "
                             "use another out= or overwrite=true to start it afresh")
        if diff:
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, key)


def run(cfg: dict) -> dict:
    """Run the whole audit described by ``cfg`` (the resolved ``audit.yaml``); returns the report."""
    if not cfg.get("input"):
        raise ValueError("input=PATH.npy|PATH.faiss is required (the leaked vectors to audit)")
    if not cfg.get("out_dir"):
        raise ValueError("out_dir=DIR is required (report.html and report.json go there)")
    leaked = load_leaked(cfg["input"], int(cfg["min_leaked"]))
    cfg["public_split"] = resolve_split(str(cfg["public_corpus"]), cfg.get("public_split"), "a")
    if int(cfg["invert_chunk"]) < 1 or int(cfg["invert_batch"]) < 1:
        raise ValueError("invert_chunk and invert_batch must be >= 1")
    check_temperature(cfg["invert_temperature"])   # fail before any work; invert() converts it
    out = Path(cfg["out_dir"])
    check_out_dir(cfg, out)
    set_seed(int(cfg["seed"]))
    with thread_limit(int(cfg.get("threads") or 0)):   # restored when the audit ends
        return _run(cfg, out, leaked)


def _run(cfg: dict, out: Path, leaked: np.ndarray) -> dict:


    t_start = time.time()
    timings: dict[str, float] = {}
    write_json(out / "config.json", cfg)

    labels = load_labels(cfg.get("labels"))
    truth_texts, truth_labels = (load_truth(cfg["truth"], len(leaked)) if cfg.get("truth")
                                 else (None, None))
    if truth_labels is not None and cfg.get("labels") is not None:
        unknown = sorted(set(truth_labels) - set(labels.names))
        if unknown:
            print(f"[audit] warning: truth labels not in labels= : {unknown[:5]}", file=sys.stderr)

    # 1. public corpus in the known space
    t0 = time.time()
    public_texts, public = load_corpus_vectors(cfg["known"], cfg["public_corpus"],
                                               cfg["public_split"], cfg["public_n"],
                                               seed=int(cfg["seed"]))
    if public.shape[0] < int(cfg["min_leaked"]):
        raise ValueError(f"public corpus {cfg['public_corpus']}: only {len(public)} texts; the "
                         f"translators need at least {cfg['min_leaked']}")
    dup = len(leaked) - len(np.unique(leaked.round(6), axis=0))
    # checked now, not after the translators are fitted
    inv_dir = inverter_dir(cfg, public.shape[1]) if cfg["invert"] else None
    timings["embed_public"] = time.time() - t0

    # 2-3. is it an embedder we can run? If not, translators chosen without pairs; then the
    # translated leaked vectors
    ident, cand_vecs = identify_leak(leaked, public, cfg)   # times itself
    timings["identify"] = ident["seconds"]
    t0 = time.time()
    pairs = None
    if cfg.get("known_pairs"):
        pa, pb, _ = load_known_pairs(cfg["known_pairs"], leaked, cfg["known"],
                                     bool(cfg["progress"]))
        pairs = (pa, pb)
    if ident["identified"]:
        selection = fit_identified(ident, cand_vecs[ident["identified"]], public, cfg, out)
    else:
        selection = fit_translators(leaked, public, cfg, out, pairs)
        selection["identification"] = ident
    translator = translator_of(out, selection["chosen"])
    translated = l2_normalize(translator.translate(leaked, "ab"))
    save_npy(out / "translated.npy", translated)
    timings["translate"] = time.time() - t0

    # 4. zero-shot attributes
    label_vecs = l2_normalize(embed_texts(get_embedder(cfg["known"]), labels.descriptions))
    attr, attr_cos = infer_attributes(translated, label_vecs)

    # 5. inversion
    t0 = time.time()
    inv = None
    n_inv = len(leaked) if cfg.get("invert_n") is None else min(int(cfg["invert_n"]), len(leaked))
    retrieval = model = None
    if cfg["invert"] and n_inv > 0:
        model = load_inverter(inv_dir, embedder=cfg["known"])
        if cfg["retrieval"]:
            retrieval = RetrievalIndex(public_texts, public)
        inv = invert_chunked(translated[:n_inv], out / "inversion" / "translated", cfg, model,
                             retrieval)
    timings["invert"] = time.time() - t0

    items = []
    for i in range(len(leaked)):
        item = {"index": i, "attribute": labels.names[attr[i]],
                "attribute_cosine": float(attr_cos[i]),
                "text": inv[i]["text"] if inv is not None and i < len(inv) else None,
                "cosine": float(inv[i]["cosine"]) if inv is not None and i < len(inv) else None}
        if truth_texts is not None:
            item["truth_text"] = truth_texts[i]
            if truth_labels is not None:
                item["truth_label"] = truth_labels[i]
        items.append(item)

    report = {
        "version": REPORT_VERSION,
        "leaked": {"path": str(cfg["input"]), "n": int(len(leaked)), "dim": int(leaked.shape[1]),
                   "duplicates": int(dup)},
        "known": cfg["known"], "public_corpus": {"name": str(cfg["public_corpus"]),
                                                 "split": cfg["public_split"], "n": len(public)},
        "selection": selection,
        "translation": translation_section(selection),
        "labels": {"source": str(cfg.get("labels") or DEFAULT_LABELS.name),
                   "names": labels.names, "descriptions": labels.descriptions},
        "attribute_distribution": {labels.names[k]: int(c) for k, c in
                                   zip(*np.unique(attr, return_counts=True))},
        "inversion": {"inverter": str(inv_dir) if inv else None, "n": n_inv if inv else 0,
                      "steps": int(cfg["invert_steps"]), "beam": int(cfg["invert_beam"]),
                      "temperature": cfg["invert_temperature"],
                      "polish": int(cfg["invert_polish"]),
                      "retrieval": bool(cfg["retrieval"]),
                      "mean_cosine": float(np.mean([r["cosine"] for r in inv])) if inv else None},
        "items": items,
    }

    # 6. measured leakage and ceilings, when the truth is known
    if truth_texts is not None:
        t0 = time.time()
        report |= _truth_section(cfg, out, leaked, translated, attr, labels, label_vecs,
                                 truth_texts, truth_labels, inv, model, retrieval)
        timings["ceilings"] = time.time() - t0
    timings["total"] = time.time() - t_start
    report["timings_seconds"] = timings
    write_json(out / "report.json", report)
    write_html(report, out / "report.html", int(cfg["report_examples"]))
    return report


def _truth_section(cfg, out, leaked, translated, attr, labels, label_vecs, truth_texts,
                   truth_labels, inv, model, retrieval) -> dict:
    """``leakage`` (this audit) and ``ceilings`` (oracle translation, direct inversion), each on
    the same rows: attributes on all, inversion on the first ``ceiling_invert_n`` inverted rows."""

    # the embedding cache keys user files by content, so a resumed audit reads these back
    known_true = embed(cfg["known"], corpus=str(cfg["truth"]), split="all",
                       progress=bool(cfg["progress"]))
    known_true = check_vectors(known_true, "known vectors of the truth texts", dim=translated.shape[1])
    oracle = l2_normalize(oracle_translation(leaked, known_true, cfg["oracle_method"]))
    n_ceil = 0 if inv is None else min(len(inv), int(cfg["ceiling_invert_n"]))
    res = {"leakage": _leakage(attr, labels.names, truth_labels, inv, truth_texts),
           "leakage_on_ceiling_rows": None, "ceilings": {}}
    if n_ceil:
        res["leakage_on_ceiling_rows"] = _leakage(attr[:n_ceil], labels.names, truth_labels and
                                                  truth_labels[:n_ceil], inv[:n_ceil], truth_texts)
    res["translation_cosine_to_truth"] = float(np.mean(np.sum(
        translated * l2_normalize(known_true), 1)))
    for name, vecs in (("oracle_translation", oracle), ("direct_inversion", l2_normalize(known_true))):
        a, _ = infer_attributes(vecs, label_vecs)
        ceil_inv = (invert_chunked(vecs[:n_ceil], out / "inversion" / name, cfg, model, retrieval)
                    if n_ceil else None)
        res["ceilings"][name] = {**_leakage(a, labels.names, truth_labels, ceil_inv, truth_texts),
                                 "cosine_to_truth": float(np.mean(np.sum(
                                     vecs * l2_normalize(known_true), 1)))}
    res["ratios"] = _ratios(res)
    return res


def _ratios(res: dict) -> dict:
    """Leakage as a share of each ceiling (attribute accuracy on all rows, token F1 on the rows the
    ceilings were inverted on)."""
    out = {}
    mine_inv = res.get("leakage_on_ceiling_rows") or {}
    for name, ceil in res["ceilings"].items():
        r = {}
        if "attribute_accuracy" in ceil and ceil["attribute_accuracy"] > 0:
            r["attribute_accuracy"] = res["leakage"]["attribute_accuracy"] / ceil["attribute_accuracy"]
        if "token_f1" in ceil and ceil["token_f1"] > 0 and "token_f1" in mine_inv:
            r["token_f1"] = mine_inv["token_f1"] / ceil["token_f1"]
        out[name] = r
    return out


def summary_text(rep: dict) -> str:
    """A few lines for the terminal: chosen method, attribute distribution, leakage if known."""
    sel = rep["selection"]
    lines = [f"leaked: {rep['leaked']['n']} vectors of dim {rep['leaked']['dim']} -> "
             f"{rep['known']} (public corpus {rep['public_corpus']['name']}, "
             f"{rep['public_corpus']['n']} texts)"]
    tr = rep.get("translation")
    if tr:
        lines.append(f"translation verdict: {tr['verdict']['explain']}")
        if tr.get("warning"):
            lines.append("WARNING: " + tr["warning"])
    ident = sel.get("identification") or {}
    if ident.get("candidates"):
        lines.append(format_result(ident))
    if ident.get("identified"):
        lines.append(sel["criterion"])
    else:
        lines.append("method     score   seconds  verdict")
        for m, r in sel["methods"].items():
            lines.append(f"{m:<10} {r['score']:.4f} {r['seconds']:8.1f}  "
                         f"{r.get('verdict', {}).get('label', '-')}" +
                         ("  <- chosen" if m == sel["chosen"] else ""))
    top = sorted(rep["attribute_distribution"].items(), key=lambda kv: -kv[1])[:5]
    lines.append("top attributes: " + ", ".join(f"{k} {v}" for k, v in top))
    if rep["inversion"]["n"]:
        lines.append(f"inverted {rep['inversion']['n']} vectors, mean cosine "
                     f"{rep['inversion']['mean_cosine']:.3f}")
    if "leakage" in rep:
        lk = rep["leakage"]
        lines.append("leakage: " + ", ".join(f"{k} {v:.3f}" for k, v in lk.items()
                                             if isinstance(v, float)))
        for name, c in rep["ceilings"].items():
            lines.append(f"  ceiling {name}: " + ", ".join(
                f"{k} {v:.3f}" for k, v in c.items() if isinstance(v, float)))
        for name, r in rep["ratios"].items():
            lines.append(f"  share of {name}: " + ", ".join(f"{k} {v:.0%}" for k, v in r.items()))
    return "\n".join(lines)
