"""``report.html`` of ``vec2vec audit``: one self-contained page (inline CSS and SVG, no script, no
network), readable in any browser and printable.

Sections: summary, translation method chosen and why (the pair-free scores of every method),
attribute distribution (bar chart; true labels beside it when known), measured leakage against its
ceilings (when the truth was given), and a table of inverted examples with their cosines.
"""
from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path

from inversion.metrics import token_f1
from vec2vec.data.io import atomic_path

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em} th,td{border:1px solid #ddd;padding:.25em .5em;
text-align:left;vertical-align:top} th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666;font-size:.9em} .chosen{background:#eaf6ea} .kpi{display:inline-block;margin:.3em 1.2em .3em 0}
.kpi b{font-size:1.4em;display:block}
.verdict{border-radius:6px;padding:.2em 1em;margin:1em 0;border:2px solid}
.verdict.ok{border-color:#2a7;background:#efe}.verdict.warn{border-color:#d90;background:#ffe}
.verdict.bad{border-color:#c33;background:#fee}
"""


def _table(header: list[str], rows: list[list], classes: list[str] | None = None) -> str:
    """An HTML table; every cell is escaped text (floats to 3 decimals, right-aligned numbers)."""
    def cell(v):
        if isinstance(v, float):
            return f'<td class="num">{v:.3f}</td>'
        if isinstance(v, int):
            return f'<td class="num">{v}</td>'
        return f"<td>{escape('' if v is None else str(v))}</td>"
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        f'<tr class="{escape((classes or [""] * len(rows))[i])}">' + "".join(cell(v) for v in r)
        + "</tr>" for i, r in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(counts: dict[str, int], truth: dict[str, int] | None = None, width: int = 700) -> str:
    """Horizontal SVG bars, largest first: inferred counts (blue) and, if given, true counts (grey)."""
    names = sorted(set(counts) | set(truth or {}), key=lambda k: -(counts.get(k, 0)))
    peak = max([1, *counts.values(), *(truth or {}).values()])
    row, label_w = (22 if truth else 16), 170
    h = row * len(names) + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
             f'role="img" aria-label="attribute distribution">']
    scale = (width - label_w - 60) / peak
    for i, name in enumerate(names):
        y = 10 + i * row
        c = counts.get(name, 0)
        parts.append(f'<text x="{label_w - 6}" y="{y + 11}" font-size="11" text-anchor="end">'
                     f'{escape(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{c * scale:.1f}" height="12" '
                     f'fill="#3b7dd8"><title>{escape(name)}: {c} inferred</title></rect>')
        parts.append(f'<text x="{label_w + c * scale + 4:.1f}" y="{y + 10}" font-size="10">{c}</text>')
        if truth:
            t = truth.get(name, 0)
            parts.append(f'<rect x="{label_w}" y="{y + 13}" width="{t * scale:.1f}" height="6" '
                         f'fill="#aaa"><title>{escape(name)}: {t} true</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _verdict(rep: dict) -> str:
    """The translation's verdict, first thing on the page: a failed translation must not read
    as a safe leak."""
    tr = rep.get("translation")
    if not tr:
        return ""
    v = tr["verdict"]
    cls = {"aligned": "ok", "not_aligned": "bad", "uncertain": "warn"}[v["label"]]
    kp = tr.get("known_pairs")
    measured = ""
    if kp and kp["chosen"].get("ab"):
        c = kp["chosen"]
        measured = (f"<p>Measured on {kp['n_holdout']} held-out known pairs: top-1 "
                    f"{c['ab']['top1']:.2f} (chance {c['top1_chance']:.2f}), mean cosine to the "
                    f"true vectors {c['ab']['cos']:.3f}.</p>")
    warning = f"<p><b>{escape(tr['warning'])}</b></p>" if tr.get("warning") else ""
    return (f'<div class="verdict {cls}"><h2>Translation verdict: {escape(v["label"])}</h2>'
            f"<p>{escape(v['explain'])}</p>{measured}{warning}</div>")


def _summary(rep: dict) -> str:
    lk = rep.get("leakage", {})
    kpis = [("leaked vectors", f"{rep['leaked']['n']:,} × {rep['leaked']['dim']}"),
            ("translated into", rep["known"]),
            (("identified as" if _identified(rep) else "method chosen (no pairs)"),
             _identified(rep) or rep["selection"]["chosen"]),
            ("inverted", f"{rep['inversion']['n']:,}")]
    if rep["inversion"]["mean_cosine"] is not None:
        kpis.append(("mean cosine of inversions", f"{rep['inversion']['mean_cosine']:.3f}"))
    if "attribute_accuracy" in lk:
        kpis.append(("attribute accuracy", f"{lk['attribute_accuracy']:.1%}"))
    if "token_f1" in lk:
        kpis.append(("inversion token F1", f"{lk['token_f1']:.3f}"))
    return "".join(f'<div class="kpi"><b>{escape(v)}</b>{escape(k)}</div>' for k, v in kpis)


def _identified(rep: dict) -> str | None:
    """The embedder the leak was identified as, if any."""
    return (rep["selection"].get("identification") or {}).get("embedder")


def _identification(rep: dict) -> str:
    ident = rep["selection"].get("identification")
    if not ident or not ident.get("candidates"):
        # only "auto" can come up empty when it is on: a list names its candidates
        why = (f"no candidate embedder of dimension {rep['leaked']['dim']}"
               if ident and ident.get("setting") == "auto" else "identify=[]")
        return (f"<p class=muted>The leak was not tested against embedders we can run "
                f"({escape(why)}).</p>")
    rows, classes = [], []
    for name, st in ident["candidates"].items():
        rows.append([name, st.get("nn_ratio"), st.get("mean_cos"),
                     "yes" if st["match"] else (st.get("note") or "no")])
        classes.append("chosen" if name == ident.get("identified") else "")
    if ident.get("identified"):
        how = ("they are the known embedder's own vectors and were used as they are"
               if ident["method"] == "identity" else
               f"they were translated into {escape(rep['known'])} with {escape(ident['method'])} "
               f"fitted on {ident['public_pairs']:,} public texts embedded by both models (no "
               f"leaked text is used)")
        verdict = (f"The leaked vectors match <b>{escape(ident['embedder'])}</b>: {how}, so no "
                   f"unsupervised translation was needed.")
    else:
        verdict = ("No embedder we can run matches the leak, so it was translated without pairs "
                   "(below).")
    return (f"<p>Is the leak the output of an embedder we can run? Each candidate embedded the same "
            f"public texts; the same model gives a nearest-neighbour ratio near 1 and mean-vector "
            f"cosine near 1, another model far less. {verdict}</p>"
            + _table(["candidate", "NN ratio", "mean cosine", "match"], rows, classes))


def _selection(rep: dict) -> str:
    sel = rep["selection"]
    if _identified(rep):
        return f"<p>Not needed: {escape(sel['criterion'])}.</p>"
    rows, classes = [], []
    for m, r in sel["methods"].items():
        s = r.get("selection", {})
        rows.append([m, r["score"], s.get("cov_ab"), s.get("cov_ba"), s.get("csls_ab"),
                     s.get("cycle_nn_a"), f"{r['seconds']:.1f}"])
        classes.append("chosen" if m == sel["chosen"] else "")
    return (f"<p>Each method was fitted on the leaked vectors and the public corpus's "
            f"{escape(rep['known'])} vectors, with no pairs between them. The one with the highest "
            f"pair-free score was chosen: <b>{escape(sel['chosen'])}</b>. Score: "
            f"{escape(sel['criterion'])}.</p>"
            + _table(["method", "score", "cov a→b", "cov b→a", "CSLS a→b", "cycle NN", "seconds"],
                     rows, classes))


def _leakage(rep: dict) -> str:
    if "leakage" not in rep:
        return ("<p class=muted>No ground truth was given (truth=PATH.jsonl), so the leakage "
                "could not be measured.</p>")
    rows = [[f"this audit ({'identified: ' + _identified(rep) if _identified(rep) else 'unsupervised translation'})", rep["leakage"].get("attribute_accuracy"),
             (rep.get("leakage_on_ceiling_rows") or {}).get("token_f1"),
             (rep.get("leakage_on_ceiling_rows") or {}).get("bleu"),
             rep.get("translation_cosine_to_truth")]]
    for name, c in rep["ceilings"].items():
        rows.append([f"ceiling: {name.replace('_', ' ')}", c.get("attribute_accuracy"),
                     c.get("token_f1"), c.get("bleu"), c.get("cosine_to_truth")])
    ratios = "; ".join(f"{escape(n.replace('_', ' '))}: " + ", ".join(
        f"{escape(k)} {v:.0%}" for k, v in r.items()) for n, r in rep["ratios"].items())
    n_ceil = (rep.get("leakage_on_ceiling_rows") or {}).get("inverted", 0)
    return (_table(["", "attribute accuracy", "token F1", "BLEU", "cosine to true vector"], rows)
            + f"<p>Share of each ceiling reached: {ratios}.</p>"
            + f"<p class=muted>Attribute accuracy over all {rep['leaked']['n']:,} rows; inversion "
              f"metrics over the first {n_ceil:,} rows for every line. Oracle translation: a map "
              f"fitted on paired rows (what an attacker with pairs gets). Direct inversion: the "
              f"true {escape(rep['known'])} vectors of the texts (no translation loss).</p>")


def _examples(rep: dict, n: int) -> str:

    items = [it for it in rep["items"] if it.get("text") is not None][:n]
    if not items:
        return "<p class=muted>No vectors were inverted (invert=false or invert_n=0).</p>"
    has_truth = "truth_text" in items[0]
    header = ["#", "attribute", "inverted text", "cosine"]
    if has_truth:
        header += ["true text", "true label", "token F1"]
    rows = []
    for it in items:
        r = [it["index"], it["attribute"], it["text"], it["cosine"]]
        if has_truth:
            r += [it["truth_text"], it.get("truth_label"), token_f1(it["text"], it["truth_text"])]
        rows.append(r)
    return _table(header, rows)


def render_html(rep: dict, n_examples: int = 200) -> str:
    """The report page for a ``report.json`` dict."""
    truth_counts = None
    if any("truth_label" in it for it in rep["items"][:1]):
        truth_counts = dict(Counter(it["truth_label"] for it in rep["items"]))
    legend = ("blue: inferred from the translated vectors; grey: true labels"
              if truth_counts else "inferred from the translated vectors")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vec2vec audit report</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>vec2vec audit report</h1>
<p class="muted">Leaked vectors: {escape(rep['leaked']['path'])} · public corpus:
{escape(rep['public_corpus']['name'])} ({rep['public_corpus']['n']:,} texts) · known embedder:
{escape(rep['known'])}</p>
{_verdict(rep)}
<h2>Summary</h2>
{_summary(rep)}
<h2>Which embedder made the leak?</h2>
{_identification(rep)}
<h2>Translation method</h2>
{_selection(rep)}
<h2>Attribute distribution</h2>
<p class="muted">Zero-shot: each translated vector gets the label whose description is nearest
in cosine ({len(rep['labels']['names'])} labels from {escape(rep['labels']['source'])}); {legend}.</p>
{bar_chart(rep['attribute_distribution'], truth_counts)}
<h2>Measured leakage</h2>
{_leakage(rep)}
<h2>Inverted examples</h2>
<p class="muted">Inverter: {escape(str(rep['inversion']['inverter']))}; {rep['inversion']['steps']}
correction steps, beam {rep['inversion']['beam']}, public-corpus retrieval in the candidate pool:
{'yes' if rep['inversion']['retrieval'] else 'no'}. Cosine: between the text's {escape(rep['known'])}
embedding and the translated vector.</p>
{_examples(rep, n_examples)}
</body></html>
"""


def write_html(rep: dict, path: str | Path, n_examples: int = 200) -> Path:
    """Write :func:`render_html` atomically to ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(render_html(rep, n_examples), encoding="utf-8")
    return path
