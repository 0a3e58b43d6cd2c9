"""HTML evaluation report: metrics with CIs, plots, per-subject and subgroup tables, caveats."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attunexr.models._plots import decision_curve_png, per_subject_png, reliability_png, roc_png
from attunexr.words import describe, label, reason_sentence, sentence_case, timestamp_text, words_in

__all__ = ["render_report", "write_report"]

logger = logging.getLogger(__name__)

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f3f7}td:first-child,th:first-child{text-align:left}.warn{background:#fff4e0;padding:0.7em;
border-left:4px solid #e08a00}.plots img{margin-right:1em;vertical-align:top}code{background:#f4f4f4}
"""

_NAMES = {
    "auroc": "AUROC",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "Macro-F1",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "brier": "Brier score (lower is better)",
    "ece": "Expected calibration error (lower is better)",
}


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, str):
        return html.escape(label(v) if v in _VALUE_WORDS else words_in(v))
    return html.escape(describe(v))


#: Values of the summary that are codes (protocols, normalizations) and read better as their label.
_VALUE_WORDS = {"loso", "logo", "baseline", "recording", "running", "none"}


def _name(key: str) -> str:
    """A metric's or key's name as the report shows it."""
    return _NAMES.get(key) or label(key)


def _signed(v: Any) -> str:
    return f"{v:+.3f}" if isinstance(v, int | float) else "n/a"


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(_name(k))}</td><td>{_fmt(m['value'])}</td>"
        f"<td>{_fmt(m['ci'][0])} – {_fmt(m['ci'][1])}</td></tr>"
        for k, m in metrics.items()
    )
    return f"<table><tr><th>metric</th><th>value</th><th>95 % CI</th></tr>{rows}</table>"


def _shift_html(shift: dict[str, Any], warn: bool) -> str:
    """The shift block: level, domain-classifier AUROC, cut-offs and the features that differ most."""
    auc = shift.get("domain_auroc")
    level = shift.get("level")
    head = (
        f"Dataset shift: {html.escape(str(level).upper())}. A classifier tells these windows from the training "
        f"data with AUROC {auc:.2f} (people held out)"
        if level is not None and auc is not None
        else "Dataset shift: not measured"
    )
    if warn:
        head += (
            ": these data lie far from what the model was trained on, so its probabilities and the figures below "
            "may not hold here; recalibrate or validate on local data before relying on it"
        )
    rows = "".join(
        f"<tr><td>{html.escape(words_in(str(t['feature'])))}</td><td>{t['standardized_difference']:+.2f}</td></tr>"
        for t in shift.get("top_features", [])
    )
    cut = "; ".join(f"{label(k)}: {describe(v)}" for k, v in (shift.get("cutoffs") or {}).items())
    note = f" {html.escape(words_in(str(shift['note'])))}" if shift.get("note") else ""
    return (
        f"<div data-testid='shift' class='{'warn' if warn else ''}'><p>{head}.{note} Levels: "
        f"{html.escape(cut)}.</p>"
        + (
            "<table><tr><th>feature (model input)</th><th>standardized difference (new minus training)</th></tr>"
            + rows
            + "</table>"
            if rows
            else ""
        )
        + "</div>"
    )


def render_report(result: dict[str, Any], pred: pd.DataFrame, title: str | None = None) -> str:
    """A self-contained HTML page (plots embedded as PNG) for an evaluation result and its predictions."""
    title = title or (f"Evaluation of the {label(str(result['task']))} detector on {result['dataset']} "
                      f"({label(str(result['protocol']))})")
    tv = pred["time_in_vr"].to_numpy(dtype=float) if "elapsed_time" in result.get("baselines", {}) else None
    roc = roc_png(pred, "ROC (pooled held-out windows)", tv)
    rel = reliability_png(pred, "Reliability (calibration)")
    subj = per_subject_png(result["per_subject"], "Per-subject AUROC")
    curve = result.get("decision_curve")
    dca = decision_curve_png(curve, "Decision curve (net benefit)") if curve else None
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<p class='warn'>Research use only: these detectors support a clinician and never act on their own. "
        "The evaluation data come from small single-site studies of healthy volunteers; performance on other "
        "people, devices, sites and clinical populations is unknown until validated there.</p>",
        "<h2>Summary</h2><table>",
    ]
    shift = result.get("shift") or {}
    if shift.get("level") == "large":
        # shown before anything else: the figures below may not hold for data this far from the training data
        parts.insert(2, _shift_html(shift, warn=True))
    if result.get("in_sample"):
        parts.insert(
            -1, f"<p class='warn' data-testid='in-sample-warning'>{_fmt(result['notes'][0])}</p>"
        )
    variant = result.get("model_variant")
    if variant:
        auc = variant.get("validated_auroc")
        parts.insert(
            -1,
            "<p data-testid='model-variant'>Model variant <b>"
            + html.escape(str(variant.get("name")))
            + "</b> (signals: "
            + html.escape(", ".join(label(s) for s in variant.get("signals") or []))
            + (f"; validated AUROC {auc:.3f}" if isinstance(auc, float) else "")
            + "): "
            + _fmt(str(variant.get("why", "")))
            + "</p>",
        )
    if shift and shift.get("level") != "large":
        parts.insert(-1, _shift_html(shift, warn=False))
    for key in (
        "task",
        "protocol",
        "dataset",
        "n_subjects",
        "n_windows",
        "n_positive",
        "normalize",
        "model",
        "abstained_fraction",
        "threshold_method",
        "ci_method",
        "feature_cache",
    ):
        if key in result:
            value = result[key]
            if key == "model" and isinstance(value, dict):
                value = "; ".join(
                    f"{label(k)}: {describe(value[k])}"
                    for k in ("name", "class", "model", "trained_on")
                    if value.get(k) is not None
                )
            parts.append(f"<tr><td>{html.escape(label(key))}</td><td>{_fmt(value)}</td></tr>")
    prov = result.get("provenance")
    if prov:
        software = ", ".join(f"{k} {v}" for k, v in prov.get("packages", {}).items() if v)
        table = prov.get("feature_table") or {}
        parts.append(
            f"<tr><td>software</td><td>attunexr {_fmt(prov.get('attunexr'))}, Python {_fmt(prov.get('python'))}, "
            f"{html.escape(software)}</td></tr><tr><td>computed</td><td>{_when(prov.get('created'))}</td></tr>"
        )
        if table:
            parts.append(
                f"<tr><td>feature table</td><td data-testid='table-fingerprint'>sha256 {_fmt(table.get('sha256'))} "
                f"({table.get('rows')} rows x {table.get('columns')} columns)</td></tr>"
            )
    parts.append("</table><h2>Metrics (held-out windows)</h2>")
    parts.append(_metrics_table(result["metrics"]))
    cal = result.get("calibration")
    if cal and isinstance(cal.get("slope"), dict):
        sl, ic = cal["slope"], cal["intercept"]
        parts.append(
            f"<p data-testid='calibration-slope'>Calibration slope {_fmt(sl['value'])} ({_fmt(sl['ci'][0])} – "
            f"{_fmt(sl['ci'][1])}; ideal 1, below 1 means too extreme), calibration-in-the-large "
            f"{_fmt(ic['value'])} ({_fmt(ic['ci'][0])} – {_fmt(ic['ci'][1])}; ideal 0).</p>"
        )
    ex = result.get("metrics_excluding_reference_windows")
    if ex:
        a = ex["auroc"]
        parts.append(
            f"<p>Without the reference (baseline) windows ({ex['n_windows']} windows): AUROC {_fmt(a['value'])} "
            f"({_fmt(a['ci'][0])} – {_fmt(a['ci'][1])}), ECE {_fmt(ex['ece']['value'])}. "
            f"({_fmt(ex['description'])}).</p>"
        )
    if result.get("baselines"):
        parts.append("<h2>Baselines</h2><table><tr><th>baseline</th><th>AUROC</th><th>95 % CI</th></tr>")
        for name, b in result["baselines"].items():
            ci = b.get("ci", [None, None])
            parts.append(
                f"<tr><td>{html.escape(label(name))}</td><td>{_fmt(b.get('auroc'))}</td>"
                f"<td>{_fmt(ci[0])} – {_fmt(ci[1])}</td></tr>"
            )
        parts.append("</table>")
        for name, b in result["baselines"].items():
            gain = b.get("model_minus_baseline")
            if gain:
                gci = gain.get("ci", [None, None])
                parts.append(
                    f"<p data-testid='baseline-gain'>Detector minus {html.escape(label(name))}: AUROC "
                    f"{_signed(gain.get('value'))} (paired 95 % CI {_signed(gci[0])} to {_signed(gci[1])}; the detector is "
                    f"not better in {_fmt(gain.get('p_not_better'))} of bootstrap resamples).</p>"
                )
    if result.get("other_normalizations"):
        parts.append(
            "<h2>Other normalizations (secondary)</h2><table><tr><th>normalize</th><th>AUROC</th>"
            "<th>95 % CI</th><th>ECE</th><th>deployable live</th></tr>"
        )
        for name, r in result["other_normalizations"].items():
            a = r["metrics"]["auroc"]
            parts.append(
                f"<tr><td>{html.escape(label(name))}</td><td>{_fmt(a['value'])}</td>"
                f"<td>{_fmt(a['ci'][0])} – {_fmt(a['ci'][1])}</td>"
                f"<td>{_fmt(r['metrics']['ece']['value'])}</td><td>{'yes' if name != 'recording' else 'no'}"
                "</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Plots</h2><div class='plots'>")
    for img, alt in (
        (roc, "ROC curve"),
        (rel, "reliability diagram"),
        (dca, "decision curve"),
        (subj, "per-subject AUROC"),
    ):
        if img is not None:
            parts.append(f"<img alt='{alt}' src='data:image/png;base64,{img}'>")
    parts.append("</div>")
    if curve:
        parts.append(
            f"<p data-testid='decision-curve-note'>Decision curve: {_fmt(str(curve['description']))}.</p>"
        )
    ab = result.get("abstention", {})
    parts.append(
        f"<h2>Abstention</h2><p>{html.escape(words_in(str(ab.get('method', ''))))}</p>"
        f"<p>Abstained on {_fmt(result['abstained_fraction'])} of windows; by reason: "
        f"{html.escape(_reasons(ab.get('by_reason') or {}))}.</p>"
    )
    acc = {k: v["value"] for k, v in (result.get("metrics_answered") or {}).items() if isinstance(v, dict)}
    if acc:
        parts.append(
            f"<p>Metrics above are over all labelled windows ({_fmt(result.get('metrics_denominator', ''))})"
            f". On the {result['metrics_answered'].get('n_windows')} answered windows only: "
            + ", ".join(f"{html.escape(_name(k))} {_fmt(v)}" for k, v in acc.items())
            + "</p>"
        )
    sel = result.get("selection")
    if sel:
        parts.append(
            f"<h2>Model selection (nested)</h2><p>{_fmt(sel.get('method', ''))}</p>"
            f"<p>Chosen per fold: {html.escape(_counts(sel.get('times_selected') or {}))}. Outer AUROC of the "
            f"nested procedure {_fmt(sel['nested']['auroc']['value'])}; of each candidate used in every fold: "
            + ", ".join(
                f"{html.escape(label(k))} {_fmt(v['auroc']['value'])}"
                for k, v in sel.get("fixed", {}).items()
                if isinstance(v, dict)
            )
            + ".</p>"
        )
    if result.get("subgroups"):
        parts.append("<h2>Subgroups</h2>")
        variables = result.get("subgroup_variables", {})
        for group, vals in result["subgroups"].items():
            var = variables.get(group.removeprefix("by_"))
            timed = any("elapsed_time_auroc" in v for v in vals.values())
            parts.append(f"<h3>{html.escape(sentence_case(label(group.removeprefix('by_'))))}</h3>")
            if var:
                parts.append(
                    f"<p>{_fmt(str(var['description']))}; split {_fmt(str(var['split']))}; "
                    f"subjects without a value: {var['n_subjects_missing']}.</p>"
                )
            parts.append(
                "<table><tr><th>subgroup</th><th>AUROC</th><th>95 % CI</th><th>windows</th><th>subjects</th>"
                + ("<th>time in VR alone</th>" if timed else "")
                + "</tr>"
            )
            for name, v in vals.items():
                a = v["auroc"]
                parts.append(
                    f"<tr><td>{_fmt(name)}"
                    + (" <em>(too few people to judge)</em>" if v.get("too_few_subjects") else "")
                    + f"</td><td>{_fmt(a['value'])}</td>"
                    f"<td>{_fmt(a['ci'][0])} – {_fmt(a['ci'][1])}</td><td>{v['n']}</td>"
                    f"<td>{_fmt(v.get('n_subjects'))}</td>"
                    + (f"<td>{_fmt(v.get('elapsed_time_auroc'))}</td>" if timed else "")
                    + "</tr>"
                )
            parts.append("</table>")
    parts.append(
        "<h2>Per subject</h2><table><tr><th>subject</th><th>AUROC</th><th>balanced accuracy</th>"
        "<th>windows</th><th>positive</th></tr>"
    )
    for r in result["per_subject"]:
        parts.append(
            f"<tr><td>{html.escape(str(r['subject']))}</td><td>{_fmt(r['auroc'])}</td>"
            f"<td>{_fmt(r['balanced_accuracy'])}</td><td>{r['n']}</td><td>{r['n_positive']}</td></tr>"
        )
    parts.append("</table>")
    if result.get("notes"):
        parts.append(
            "<h2>Notes</h2><ul>" + "".join(f"<li>{_fmt(n)}</li>" for n in result["notes"]) + "</ul>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def _reasons(counts: dict[str, Any]) -> str:
    """Abstentions by reason, each reason in words: ``collecting the resting baseline: 12; ...``."""
    if not counts:
        return "none"
    return "; ".join(f"{reason_sentence(k).rstrip('.')}: {describe(v)}" for k, v in counts.items())


def _counts(counts: dict[str, Any]) -> str:
    """``{'lightgbm': 3, 'logistic': 2}`` as ``lightgbm 3 times, logistic 2 times``."""
    return ", ".join(f"{label(k)} {describe(v)} times" for k, v in counts.items()) or "none"


def _when(value: Any) -> str:
    """An ISO timestamp as date and clock time (no microseconds)."""
    import datetime as dt

    try:
        return html.escape(timestamp_text(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))))
    except ValueError:
        return _fmt(value)


def write_report(result: dict[str, Any], pred: pd.DataFrame, folder: str | Path) -> Path:
    """Write ``report.html``, ``result.json`` and ``predictions.csv`` into ``folder``; return the HTML path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "report.html"
    page.write_text(render_report(result, pred))
    (folder / "result.json").write_text(json.dumps(result, indent=2, default=_default))
    pred.to_csv(folder / "predictions.csv", index=False)
    logger.info("report written to %s", page)
    return page


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)
