"""Session reports (HTML and PDF) built from the stored timeline.

Contents: timeline of exposure levels, physiology (HR, EDA), arousal estimates with their uncertainty band,
proposals and who decided what, SUDS, safety events, SSQ before/after, data quality, notes, and the model versions
with links to their cards. Figures are drawn with matplotlib (Agg) and embedded as PNG in the HTML; the PDF is
written with matplotlib's ``PdfPages`` so that no browser or system library is needed.
"""

from __future__ import annotations

import base64
import io
import logging
import textwrap
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from attunexr.store import SessionEvent, TherapySession  # noqa: E402

__all__ = ["ReportData", "build_report", "model_cards", "render_report_html", "render_report_pdf"]

logger = logging.getLogger(__name__)


@dataclass
class ReportData:
    session: dict[str, Any]
    engine: dict[str, Any]
    levels: list[dict[str, Any]] = field(default_factory=list)
    vitals: list[dict[str, Any]] = field(default_factory=list)
    estimates: list[dict[str, Any]] = field(default_factory=list)
    proposals: list[dict[str, Any]] = field(default_factory=list)
    level_changes: list[dict[str, Any]] = field(default_factory=list)
    suds: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    ssq: dict[str, dict[str, Any]] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] = field(default_factory=dict)
    cue_responses: list[dict[str, Any]] = field(default_factory=list)
    reactivity: dict[str, Any] = field(default_factory=dict)


def model_cards() -> dict[str, dict[str, Any]]:
    """Cards of the models shipped in the registry (empty when :mod:`attunexr.models` has none)."""
    try:
        from attunexr.models import list_models, load_card
    except ImportError:
        return {}
    out = {}
    for name in list_models():
        try:
            out[name] = load_card(name)
        except Exception as err:  # noqa: BLE001 - one broken card must not hide the others
            logger.warning("model card %s unreadable: %s", name, err)
    return out


def build_report(db: Session, ts: TherapySession, services: Any) -> ReportData:
    """Collect the report's content from the stored events of ``ts`` (pseudonymous: no identifying fields)."""
    events = list(db.execute(select(SessionEvent).where(SessionEvent.session_id == ts.id)
                             .order_by(SessionEvent.id)).scalars())
    levels = ts.plan.get("levels")
    if not levels:
        from attunexr.web._live_bridge import scenario_levels

        levels = scenario_levels(ts.scenario)
    duration = None
    if ts.started_at and ts.ended_at:
        duration = (ts.ended_at - ts.started_at).total_seconds()
    data = ReportData(
        session={"id": ts.id, "pseudonym": ts.patient.pseudonym, "scenario": ts.scenario, "status": ts.status,
                 "source": ts.source, "started_at": ts.started_at, "ended_at": ts.ended_at,
                 "wall_duration_s": duration, "plan": ts.plan},
        engine=(ts.summary or {}).get("engine", {}), levels=levels)
    proposals: dict[str, dict[str, Any]] = {}
    qual_counts: dict[str, list[int]] = {}
    for e in events:
        p = e.payload
        if e.kind == "vitals":
            data.vitals.append({"t": e.t, "hr": p.get("hr"), "eda": p.get("eda"), "level": p.get("level")})
            for k, v in (p.get("quality") or {}).items():
                c = qual_counts.setdefault(k, [0, 0])
                c[0] += v == "good"
                c[1] += 1
        elif e.kind == "estimate":
            data.estimates.append({"t": e.t, **p})
        elif e.kind == "proposal":
            proposals[p["id"]] = {"t": e.t, "id": p["id"], "from": p.get("from_level"), "to": p.get("to_level"),
                                  "reason": p.get("reason", ""), "decision": "pending", "by": "", "decided_t": None}
        elif e.kind == "decision":
            prop = proposals.get(p.get("proposal", ""))
            if prop is not None:
                decision = p.get("decision")
                if decision == "refused":  # approved by the clinician, refused by a bound: say which
                    decision = f"refused: {p.get('message') or p.get('bound')}"
                prop.update(decision=decision, by=e.actor, decided_t=e.t)
        elif e.kind == "level":
            reason = p.get("reason", "")
            if p.get("warning"):
                reason = f"{reason} (warning: {p['warning']})"
            data.level_changes.append({"t": e.t, "from": p.get("from"), "to": p.get("level"),
                                       "name": p.get("name"), "by": e.actor, "reason": reason})
        elif e.kind == "suds":
            data.suds.append({"t": e.t, "value": p.get("value"), "level": p.get("level"), "by": e.actor})
        elif e.kind == "alert":
            data.alerts.append({"t": e.t, "monitor": p.get("monitor"), "severity": p.get("severity"),
                                "action": p.get("action"), "message": p.get("message")})
        elif e.kind in ("note", "pause", "resume"):
            data.notes.append({"t": e.t, "kind": e.kind, "by": e.actor, "text": p.get("text", "")})
        elif e.kind == "ssq":
            data.ssq[p["when"]] = p
        elif e.kind == "end":
            data.end = {"t": e.t, "by": e.actor, **p}
        elif e.kind == "info":
            data.engine = {**p, **data.engine}
        elif e.kind == "cue_response":
            data.cue_responses.append({"t": e.t, **p})
    data.proposals = list(proposals.values())
    data.reactivity = session_reactivity(data.cue_responses, ts.patient.pseudonym)
    data.quality = {k: c[0] / c[1] for k, c in qual_counts.items() if c[1]}
    cards = model_cards()
    model_name = data.engine.get("model")
    data.models = [{"name": model_name or "none", "version": data.engine.get("model_version", ""),
                    "card": data.engine.get("model_card")}]
    for name, card in cards.items():
        if name == data.engine.get("model_card"):
            data.models[0]["card_summary"] = card.get("intended_use") or card.get("summary") or ""
    return data


def session_reactivity(responses: list[dict[str, Any]], participant: str) -> dict[str, Any]:
    """The session's reaction to cues: per category the scored responses, their mean and their change across the
    session (mixed-model slope), and one sentence for the clinician. Empty when no cue was shown."""
    if not responses:
        return {}
    import pandas as pd

    from attunexr.models import analyse_reactivity, reactivity_sentence

    rows = [{"participant": participant, "session": "1", "session_number": 1, "cue_id": r.get("id", ""),
             "category": r["category"], "onset": r["onset"], "index": r["index"],
             "scorable": any(r.get(m) is not None for m in ("scr_amplitude", "sc_change", "hr_change_mean")),
             "quality": "; ".join(f"{k}: {v}" for k, v in sorted((r.get("quality") or {}).items())),
             **{m: (float(r[m]) if r.get(m) is not None else float("nan"))
                for m in ("scr_amplitude", "scr_latency", "sc_change", "hr_change_mean", "hr_change_peak",
                          "resp_rate_change", "pupil_change")}}
            for r in responses]
    table = pd.DataFrame(rows)
    cats = list(dict.fromkeys(table["category"]))
    target = next((c for c in cats if c.lower() != "neutral"), cats[0])
    ordered = [target] + [c for c in cats if c != target]
    result = analyse_reactivity([], ordered, table=table, event_locked={},
                                reference="neutral" if "neutral" in cats and target != "neutral" else None,
                                measures=("scr_amplitude", "hr_change_mean"))
    per_cat = []
    for cat in ordered:
        sub = table[table["category"] == cat]
        slope = (result.habituation.get("scr_amplitude", {}).get("slope_by_category") or {}).get(cat)
        per_cat.append({
            "category": cat, "cues": len(sub), "scored": int(sub["scr_amplitude"].notna().sum()),
            "scr_mean": float(sub["scr_amplitude"].mean()) if sub["scr_amplitude"].notna().any() else None,
            "hr_mean": float(sub["hr_change_mean"].mean()) if sub["hr_change_mean"].notna().any() else None,
            "slope": slope,
        })
    return {"sentence": reactivity_sentence(result), "categories": per_cat, "notes": result.notes}


def _figure(data: ReportData) -> Figure:
    fig, axes = plt.subplots(4, 1, figsize=(10, 9), sharex=True, constrained_layout=True)
    t = [v["t"] for v in data.vitals]
    ax = axes[0]
    ax.step(t, [v["level"] for v in data.vitals], where="post", color="#6a3d9a")
    ax.set_ylabel("exposure level")
    ax.set_ylim(-0.5, max(len(data.levels) - 0.5, max((v["level"] or 0) for v in data.vitals) + 1.0)
                if data.vitals else len(data.levels))
    for prop in data.proposals:
        color = {"approved": "#2ca02c", "rejected": "#d62728"}.get(prop["decision"], "#7f7f7f")
        ax.annotate("", xy=(prop["t"], prop["to"]), xytext=(prop["t"], prop["from"]),
                    arrowprops={"arrowstyle": "->", "color": color})
    for s in data.suds:
        ax.annotate(f"SUDS {s['value']:.0f}", (s["t"], s["level"] or 0), fontsize=7, color="#1f77b4",
                    textcoords="offset points", xytext=(0, 6))
    ax.set_title(f"Session {data.session['id']} ({data.session['pseudonym']}), {data.session['scenario']}: "
                 "levels (arrows: proposals, green approved, red rejected)", fontsize=10)
    axes[1].plot(t, [v["hr"] if v["hr"] is not None else float("nan") for v in data.vitals], color="#d62728")
    axes[1].set_ylabel("HR (bpm)")
    axes[2].plot(t, [v["eda"] if v["eda"] is not None else float("nan") for v in data.vitals], color="#ff7f0e")
    axes[2].set_ylabel("EDA (µS)")
    est = [e for e in data.estimates if not e.get("abstained")]
    ax = axes[3]
    if est:
        et = [e["t"] for e in est]
        ax.fill_between(et, [e["lower"] for e in est], [e["upper"] for e in est], color="#1f77b4", alpha=0.25,
                        label="uncertainty band")
        ax.plot(et, [e["probability"] for e in est], color="#1f77b4", label="arousal")
    win = data.session["plan"].get("controller", {}).get("window")
    if win:
        ax.axhspan(win[0], win[1], color="#2ca02c", alpha=0.08, label="therapeutic window")
    ab = [e["t"] for e in data.estimates if e.get("abstained")]
    if ab:
        ax.plot(ab, [0.02] * len(ab), "x", color="#7f7f7f", label="abstained")
    ax.set_ylim(0, 1)
    ax.set_ylabel("arousal")
    ax.set_xlabel("session time (s)")
    ax.legend(loc="upper left", fontsize=7)
    for a in data.alerts:
        for axx in axes:
            axx.axvline(a["t"], color="#d62728", lw=0.8, ls="--")
    return fig


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def render_report_html(data: ReportData, templates: Any, request: Any) -> str:
    """The report as one self-contained HTML page (figure embedded)."""
    template = templates.get_template("report.html")
    return str(template.render(d=data, figure=_png(_figure(data)), request=request))


def _text_lines(data: ReportData) -> list[str]:
    s = data.session
    lines = [f"attunexr session report: session {s['id']}, patient {s['pseudonym']}",
             f"scenario {s['scenario']}; status {s['status']}; source {s['source']}",
             f"started {s['started_at']}; ended {s['ended_at']}",
             f"controller: {data.engine.get('controller', '')}; model: {data.engine.get('model', '')} "
             f"{data.engine.get('model_version', '')}; safety: {data.engine.get('safety', '')}", "",
             "Proposals and decisions (t s: from -> to, decision, by, reason)"]
    lines += [f"  {p['t']:7.0f}: {p['from']} -> {p['to']}  {p['decision']:<9} {p['by']:<12} {p['reason']}"
              for p in data.proposals] or ["  none"]
    lines += ["", "Level changes (t s: from -> to, by, reason)"]
    lines += [f"  {c['t']:7.0f}: {c['from']} -> {c['to']} ({c['name']})  {c['by']}  {c['reason']}"
              for c in data.level_changes] or ["  none"]
    lines += ["", "SUDS (t s: value at level, by)"]
    lines += [f"  {x['t']:7.0f}: {x['value']:.0f} at level {x['level']}  {x['by']}" for x in data.suds] or ["  none"]
    lines += ["", "Safety events (t s: monitor, severity, action, message)"]
    lines += [f"  {a['t']:7.0f}: {a['monitor']} {a['severity']} {a['action']}  {a['message']}"
              for a in data.alerts] or ["  none"]
    lines += ["", "SSQ (nausea / oculomotor / disorientation / total)"]
    for when in ("pre", "post"):
        q = data.ssq.get(when)
        lines.append(f"  {when}: " + (f"{q['nausea']:.1f} / {q['oculomotor']:.1f} / {q['disorientation']:.1f} / "
                                      f"{q['total']:.1f}" if q else "not recorded"))
    lines += ["", "Data quality (share of seconds rated good)"]
    lines += [f"  {k}: {v * 100:.1f} %" for k, v in sorted(data.quality.items())] or ["  no signals"]
    lines += ["", "Notes, pauses and resumptions"]
    lines += [f"  {n['t']:7.0f}: {n['kind']} by {n['by']} {n['text']}" for n in data.notes] or ["  none"]
    if data.reactivity:
        lines += ["", "Reaction to cues"]
        if data.reactivity.get("sentence"):
            lines.append("  " + data.reactivity["sentence"])
        for c in data.reactivity["categories"]:
            scr = "n/a" if c["scr_mean"] is None else f"{c['scr_mean']:.3f} uS"
            hr = "n/a" if c["hr_mean"] is None else f"{c['hr_mean']:+.1f} bpm"
            lines.append(f"  {c['category']}: {c['cues']} cues, {c['scored']} scored, mean SCR {scr}, "
                         f"mean heart-rate change {hr}")
    lines += ["", "Models: " + ", ".join(f"{m['name']} {m['version']} (card: {m['card'] or 'none'})"
                                         for m in data.models)]
    return lines


def render_report_pdf(data: ReportData) -> bytes:
    """The report as PDF: the timeline figure, then the tables as text pages (matplotlib ``PdfPages``)."""
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": f"attunexr session {data.session['id']}", "Creator": "attunexr"}) as pdf:
        pdf.savefig(_figure(data))
        plt.close("all")
        lines: list[str] = []
        for line in _text_lines(data):
            lines += textwrap.wrap(line, 110, subsequent_indent="      ") or [""]
        per_page = 60
        for start in range(0, len(lines), per_page):
            fig = plt.figure(figsize=(8.27, 11.69))
            fig.text(0.05, 0.97, "\n".join(lines[start:start + per_page]), va="top", ha="left",
                     family="monospace", fontsize=7)
            pdf.savefig(fig)
            plt.close(fig)
    return buf.getvalue()
