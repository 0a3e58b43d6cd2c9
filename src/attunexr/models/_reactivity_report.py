"""HTML report of a cue-reactivity analysis: event-locked averages, habituation, comparisons, reliability."""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from attunexr.models._plots import _png
from attunexr.models._reactivity import ReactivityResult
from attunexr.words import words_in

__all__ = ["reactivity_sentence", "render_reactivity_report", "write_reactivity_report"]

_LABELS = {
    "scr_amplitude": "skin-conductance response (uS)",
    "scr_latency": "skin-conductance response latency (s)",
    "sc_change": "skin-conductance level change (uS)",
    "hr_change_mean": "mean heart-rate change (bpm)",
    "hr_change_peak": "peak heart-rate increase (bpm)",
    "resp_rate_change": "breathing-rate change (breaths/min)",
    "pupil_change": "pupil diameter change (mm)",
}
_SIGNALS = {"sc": "skin conductance (uS)", "hr": "heart rate (bpm)", "pupil": "pupil (mm)"}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f3f7}td:first-child,th:first-child{text-align:left}.warn{background:#fff4e0;padding:0.7em;
border-left:4px solid #e08a00}.plots img{margin-right:1em;vertical-align:top}.lead{font-size:1.1em}
"""


def _f(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    if isinstance(v, int | float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _ci(c: dict[str, Any] | None, digits: int = 3) -> str:
    if not c or c.get("value") is None:
        return "n/a"
    lo, hi = c["ci"]
    return f"{_f(c['value'], digits)} ({_f(lo, digits)} to {_f(hi, digits)})"


def reactivity_sentence(result: ReactivityResult, measure: str = "scr_amplitude") -> str | None:
    """One sentence for a clinician: how the reaction to the target cues changed across the session."""
    fa = result.fear_activation.get(measure) or {}
    if "decline_percent" not in fa:
        return None
    lo, hi = fa["decline_percent_ci"]
    pct = fa["decline_percent"]
    verb = "fell" if pct >= 0 else "rose"
    return (
        f"The {_LABELS.get(measure, measure)} to {result.target} cues {verb} by {abs(pct):.0f} % from the first to "
        f"presentation {fa['last_index'] + 1} (95 % CI {lo:.0f} % to {hi:.0f} % decline), "
        f"over {result.counts.get('scored', {}).get(measure, 0)} scored cues."
    )


def _locked_png(result: ReactivityResult) -> list[str]:
    locked = result.event_locked
    t = np.asarray(locked.get("t", []), dtype=float)
    out = []
    for sig, label in _SIGNALS.items():
        cats = [c for c in result.categories if sig in locked.get(c, {})]
        if not cats or t.size == 0:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for cat in cats:
            d = locked[cat][sig]
            m = np.asarray(d["mean"], dtype=float)
            s = np.asarray(d["sem"], dtype=float)
            ax.plot(t, m, label=f"{cat} (n={d['n']})")
            ax.fill_between(t, m - s, m + s, alpha=0.2)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("seconds from cue onset")
        ax.set_ylabel(f"change in {label}")
        ax.set_title(f"Event-locked {label.split(' (')[0]}")
        ax.legend(fontsize=8)
        out.append(_png(fig))
    return out


def _habituation_png(result: ReactivityResult, measure: str) -> str | None:
    d = result.responses.dropna(subset=[measure])
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    groups = sorted(d["group"].unique()) if "group" in d.columns else [None]
    styles = ["-", "--", ":", "-."]
    for ci, cat in enumerate(result.categories):
        for gi, grp in enumerate(groups):
            sub = d[(d["category"] == cat) & ((d["group"] == grp) if grp is not None else True)]
            if sub.empty:
                continue
            m = sub.groupby("index")[measure].agg(["mean", "sem"])
            name = cat if grp is None else f"{cat} / {grp}"
            ax.errorbar(m.index + 1, m["mean"], yerr=m["sem"], marker="o", ms=3, capsize=2, label=name,
                        color=f"C{ci}", linestyle=styles[gi % len(styles)])
    ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))  # presentations are whole numbers
    ax.set_xlabel("presentation (within session)")
    ax.set_ylabel(_LABELS.get(measure, measure))
    ax.set_title("Within-session habituation")
    ax.legend(fontsize=8)
    return _png(fig)


def render_reactivity_report(result: ReactivityResult, title: str = "attunexr cue-reactivity report") -> str:
    """A self-contained HTML page (plots embedded as PNG)."""
    c = result.counts
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<p class='warn'>Research and assessment support: cue reactivity describes how a body responds to cues; it "
        "is not a diagnosis. Read the counts of scorable cues and the reliability before trusting one person's "
        "number.</p>",
    ]
    sentence = reactivity_sentence(result)
    if sentence:
        parts.append(f"<p class='lead' data-testid='reactivity-sentence'>{html.escape(sentence)}</p>")
    parts.append("<h2>Cues</h2><table>")
    parts.append(f"<tr><td>cue categories</td><td>{html.escape(', '.join(result.categories))}</td></tr>")
    parts.append(f"<tr><td>target / reference</td><td>{html.escape(result.target)} / "
                 f"{html.escape(result.reference or 'none')}</td></tr>")
    parts.append(f"<tr><td>cues</td><td data-testid='cue-count'>{c.get('cues')}</td></tr>")
    parts.append(f"<tr><td>participants / sessions</td><td>{c.get('participants')} / {c.get('sessions')}</td></tr>")
    for m, share in (c.get("scorable_share") or {}).items():
        parts.append(f"<tr><td>scorable: {html.escape(_LABELS.get(m, m))}</td><td>"
                     f"{c['scored'][m]} ({_f(100 * share if share is not None else None, 0)} %)</td></tr>")
    parts.append("</table>")
    if c.get("unscored_reasons"):
        parts.append("<p>Why cues could not be scored (cues are never dropped silently):</p><table>"
                     "<tr><th>reason</th><th>cues</th></tr>")
        for reason, n in c["unscored_reasons"].items():
            parts.append(f"<tr><td>{html.escape(reason)}</td><td>{n}</td></tr>")
        parts.append("</table>")
    for note in result.notes:
        parts.append(f"<p class='warn'>{html.escape(note)}</p>")
    r = result.rules
    parts.append(
        f"<p>Scoring: baseline {r.pre:g} s before each cue, response window {r.post:g} s; skin-conductance "
        f"response trough-to-peak with onset {r.scr_latency[0]:g}-{r.scr_latency[1]:g} s after the cue, peak "
        f"within {r.scr_rise:g} s, minimum {r.scr_min_amplitude:g} uS (smaller rises count as 0); heart rate "
        "second by second from beat intervals (see docs/reactivity.md for the rules and references).</p>"
    )
    pngs = _locked_png(result)
    if pngs:
        parts.append("<h2>Event-locked averages</h2><div class='plots'>")
        parts += [f"<img alt='event-locked average' src='data:image/png;base64,{p}'>" for p in pngs]
        parts.append("</div>")
    for m in result.measures:
        label = _LABELS.get(m, m)
        parts.append(f"<h2>{html.escape(label[:1].upper() + label[1:])}</h2>")
        hab = result.habituation.get(m) or {}
        png = _habituation_png(result, m)
        if png:
            parts.append(f"<div class='plots'><img alt='habituation' src='data:image/png;base64,{png}'></div>")
        parts.append("<table><tr><th>result</th><th>estimate (95 % CI)</th></tr>")
        parts.append(f"<tr><td>within-session change per presentation (all categories)</td>"
                     f"<td data-testid='habituation-{m}'>{_ci(hab.get('slope'), 4)}</td></tr>")
        for cat, s in (hab.get("slope_by_category") or {}).items():
            parts.append(f"<tr><td>&nbsp;&nbsp;{html.escape(cat)} cues</td><td>{_ci(s, 4)}</td></tr>")
        between = result.between_sessions.get(m)
        if between:
            parts.append(f"<tr><td>first-cue response, change per session ({between.get('n_sessions')} sessions)"
                         f"</td><td>{_ci(between.get('slope'), 4)}</td></tr>")
        fa = result.fear_activation.get(m) or {}
        if fa:
            parts.append(f"<tr><td>fear activation: mean peak response to {html.escape(result.target)} cues</td>"
                         f"<td>{_f(fa.get('peak_mean'))}</td></tr>")
            if "decline_percent" in fa:
                lo, hi = fa["decline_percent_ci"]
                parts.append(f"<tr><td>decline from first to last presentation</td><td>{_f(fa['decline_percent'], 1)}"
                             f" % ({_f(lo, 1)} to {_f(hi, 1)} %)</td></tr>")
        comp = result.comparisons.get(m) or {}
        for cat, cc in (comp.get("category_vs_reference") or {}).items():
            parts.append(f"<tr><td>{html.escape(cat)} minus {html.escape(result.reference or '')} "
                         f"(d {_ci({'value': cc.get('d'), 'ci': cc.get('d_ci', [None, None])}, 2)})</td>"
                         f"<td>{_ci(cc)}</td></tr>")
        for contrast, by_cat in (comp.get("group_difference") or {}).items():
            for cat, cc in by_cat.items():
                parts.append(f"<tr><td>{html.escape(contrast)}, {html.escape(cat)} cues "
                             f"(d {_ci({'value': cc.get('d'), 'ci': cc.get('d_ci', [None, None])}, 2)})</td>"
                             f"<td data-testid='group-{m}-{html.escape(cat)}'>{_ci(cc)}</td></tr>")
        for name, cc in (comp.get("interaction") or {}).items():
            parts.append(f"<tr><td>interaction {html.escape(name)}</td><td>{_ci(cc)}</td></tr>")
        rel = result.reliability.get(m) or {}
        if rel.get("spearman_brown") is not None:
            lo, hi = rel["ci"]
            parts.append(f"<tr><td>split-half reliability of the per-person score (Spearman-Brown, "
                         f"{rel['n_participants']} people)</td><td>{_f(rel['spearman_brown'], 2)} "
                         f"({_f(lo, 2)} to {_f(hi, 2)})</td></tr>")
        parts.append("</table>")
        if comp.get("model"):
            parts.append(f"<p><small>Mixed model (formula): {html.escape(words_in(str(comp['model'])))}</small></p>")
    pp = result.per_person
    if not pp.empty:
        parts.append("<h2>Per-person reactivity</h2><table><tr><th>participant</th><th>measure</th>"
                     "<th>target mean</th><th>reactivity</th><th>target cues</th></tr>")
        for row in pp.head(200).itertuples(index=False):
            parts.append(
                f"<tr><td>{html.escape(str(row.participant))}</td><td>{html.escape(_LABELS.get(row.measure, row.measure))}"
                f"</td><td>{_f(row.target_mean)}</td><td>{_f(row.reactivity)}</td><td>{row.n_target}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Assumptions</h2><ul>")
    parts += [f"<li>{html.escape(words_in(a))}</li>" for a in result.assumptions]
    parts.append("</ul></body></html>")
    return "".join(parts)


def write_reactivity_report(result: ReactivityResult, out_dir: str | Path) -> Path:
    """Write ``report.html``, ``responses.csv`` (one row per cue) and ``result.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "report.html": render_reactivity_report(result),
        "responses.csv": result.responses.to_csv(index=False),
        "result.json": json.dumps(result.to_dict(), indent=2),
    }
    for name, text in files.items():
        tmp = out / f".{name}.tmp{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
    return out / "report.html"
