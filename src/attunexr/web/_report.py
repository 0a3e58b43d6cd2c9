"""Session reports (HTML and PDF) built from the stored timeline, in a clinician's words.

One data model, :class:`ReportData`, is collected from the session's stored events by :func:`build_report`; it
turns itself into titled tables (:meth:`ReportData.sections`) that both renderings show, so the HTML page and the
PDF a clinician files say the same thing the same way. Contents: header (pseudonym, date, clinician), summary,
charts (levels, heart rate, skin conductance, arousal with its uncertainty band), proposals and who decided (a
refused approval names the bound that refused it), level changes, SUDS, safety events, Simulator Sickness
Questionnaire, reaction to cues, data quality, notes and the models used. Codes, keys and times go through
:mod:`attunexr.words`: no module or class names, no snake_case codes, no microsecond times.

The charts are drawn with matplotlib (Agg); the PDF is typeset with reportlab's platypus (tables, paragraphs,
the charts as an embedded PNG), using DejaVu Sans when the system has it so that µS and arrows print.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from attunexr.store import SessionEvent, TherapySession, User  # noqa: E402
from attunexr.words import (  # noqa: E402
    clock_time,
    date_text,
    describe,
    label,
    reason_sentence,
    sentence_case,
    session_time,
    words_in,
)

__all__ = [
    "CueCategory",
    "Decision",
    "EstimatePoint",
    "LevelChange",
    "ModelUse",
    "Note",
    "ReportData",
    "ReportSection",
    "SafetyEvent",
    "SsqScores",
    "SudsAnswer",
    "VitalsPoint",
    "build_report",
    "model_cards",
    "render_report_html",
    "render_report_pdf",
]

logger = logging.getLogger(__name__)

#: Who acted, as the timeline records it, in words (user names are shown as they are).
_ACTORS = {
    "system": "automatic (attunexr)",
    "controller": "the AI (exposure controller)",
    "safety": "safety monitor",
    "supervisor": "safety monitor",
}
#: A bound named by the controller, and the plan/bounds field that holds its value.
_BOUND_FIELD = {"max_level": "max_level", "max_step": "max_step", "min_dwell": "min_dwell_s",
                "arousal_ceiling": "arousal_ceiling", "suds_ceiling": "suds_ceiling"}
_NOTE_KINDS = {"note": "note", "pause": "paused", "resume": "resumed"}


def actor_words(actor: str | None) -> str:
    """Who acted, as a clinician reads it (a user name stays a user name)."""
    if not actor:
        return "unknown"
    return _ACTORS.get(actor, actor)


@dataclass(frozen=True)
class VitalsPoint:
    """One second of the session: heart rate, skin conductance and the level shown."""

    t: float
    hr: float | None
    eda: float | None
    level: int | None


@dataclass(frozen=True)
class EstimatePoint:
    """One arousal estimate (probability and its band), or an abstention with its reason code."""

    t: float
    probability: float | None
    lower: float | None
    upper: float | None
    abstained: bool
    reason: str = ""


@dataclass
class Decision:
    """An AI proposal and what became of it: who decided, when, and (for a refusal) which bound refused it."""

    t: float
    proposal_id: str
    from_level: int | None
    to_level: int | None
    reason: str
    decision: str = "pending"
    by: str = ""
    decided_t: float | None = None
    bound: str = ""
    bound_value: Any = None
    message: str = ""

    @property
    def decision_text(self) -> str:
        """``approved``, ``rejected``, or ``refused: <why> (<bound>: <value>)``."""
        if self.decision != "refused":
            return {"pending": "not decided", "expired": "expired", "superseded": "replaced by a newer proposal"}.get(
                self.decision, self.decision)
        why = _refusal_words(self.message) or reason_sentence(self.bound).removeprefix("Refused: ").rstrip(".")
        bound = f" ({label(_BOUND_FIELD.get(self.bound, self.bound))}: {describe(self.bound_value)})" \
            if self.bound and self.bound_value is not None else ""
        return f"refused: {why}{bound}"


@dataclass(frozen=True)
class LevelChange:
    t: float
    from_level: int | None
    to_level: int | None
    name: str
    by: str
    reason: str
    warning: str = ""


@dataclass(frozen=True)
class SudsAnswer:
    t: float
    value: float
    level: int | None
    by: str


@dataclass(frozen=True)
class SafetyEvent:
    t: float
    monitor: str
    severity: str
    action: str
    message: str


@dataclass(frozen=True)
class Note:
    t: float
    kind: str
    by: str
    text: str


@dataclass(frozen=True)
class SsqScores:
    """Simulator Sickness Questionnaire subscale and total scores (Kennedy et al., 1993)."""

    nausea: float
    oculomotor: float
    disorientation: float
    total: float


@dataclass(frozen=True)
class CueCategory:
    """Reaction to one category of cues: counts, mean responses and the change across presentations."""

    category: str
    cues: int
    scored: int
    scr_mean: float | None
    hr_mean: float | None
    slope: float | None
    slope_ci: tuple[float, float] | None


@dataclass(frozen=True)
class ModelUse:
    name: str
    version: str
    card: str | None
    card_summary: str = ""


@dataclass(frozen=True)
class ReportSection:
    """One titled table of the report, already in words; both the HTML page and the PDF render these."""

    title: str
    testid: str
    columns: list[str]
    rows: list[list[str]]
    empty: str = "none"
    intro: str = ""


@dataclass
class ReportData:
    """Everything a session report shows, typed; collected once, rendered as HTML and as PDF."""

    session_id: int
    pseudonym: str
    clinician: str
    scenario: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    plan: dict[str, Any] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)
    end_reason: str = ""
    end_by: str = ""
    end_t: float | None = None
    vitals: list[VitalsPoint] = field(default_factory=list)
    estimates: list[EstimatePoint] = field(default_factory=list)
    proposals: list[Decision] = field(default_factory=list)
    level_changes: list[LevelChange] = field(default_factory=list)
    suds: list[SudsAnswer] = field(default_factory=list)
    alerts: list[SafetyEvent] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    ssq: dict[str, SsqScores] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    models: list[ModelUse] = field(default_factory=list)
    reactivity_sentence: str = ""
    reactivity: list[CueCategory] = field(default_factory=list)
    reactivity_notes: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------------------------------------ header
    @property
    def title(self) -> str:
        return f"Exposure session report: {self.pseudonym}, {self.date}"

    @property
    def date(self) -> str:
        return date_text(self.started_at) or "not started"

    @property
    def scenario_words(self) -> str:
        return label(self.scenario)

    @property
    def times(self) -> str:
        """``07:14:50 to 07:19:10 UTC`` (clock times of start and end), or what is known."""
        if self.started_at is None:
            return "not started"
        zone = f" {self.started_at.tzname()}" if self.started_at.tzname() else ""
        if self.ended_at is None:
            return f"from {clock_time(self.started_at)}{zone}"
        return f"{clock_time(self.started_at)} to {clock_time(self.ended_at)}{zone}"

    @property
    def length(self) -> str:
        """Session length on the session clock (the end event), else the wall-clock time between start and end."""
        if self.end_t is not None and self.end_t >= 0:
            return session_time(self.end_t)
        if self.started_at and self.ended_at:
            return session_time((self.ended_at - self.started_at).total_seconds())
        return "n/a"

    @property
    def controller_words(self) -> str:
        """The plan's control settings in words."""
        ctl = self.plan.get("controller") or {}
        parts = []
        if ctl.get("mode"):
            parts.append(label(str(ctl["mode"])))
        if ctl.get("max_level") is not None:
            parts.append(f"highest level {ctl['max_level']}")
        if ctl.get("min_dwell_s") is not None:
            parts.append(f"at least {session_time(float(ctl['min_dwell_s']))} at a level")
        win = ctl.get("window")
        if isinstance(win, list | tuple) and len(win) == 2:
            parts.append(f"therapeutic window {float(win[0]):.2f} to {float(win[1]):.2f} (estimated arousal)")
        return "; ".join(parts)

    def header_rows(self) -> list[tuple[str, str]]:
        status = sentence_case(label(self.status))
        if self.end_reason:
            who = actor_words(self.end_by)
            by = "" if who in self.end_reason else f", by {who}"
            status += f" at {session_time(self.end_t)} ({self.end_reason}{by})"
        return [
            ("Patient (pseudonym)", self.pseudonym),
            ("Date", self.date),
            ("Clinician", self.clinician),
            ("Scenario", self.scenario_words),
            ("Session", f"number {self.session_id}; clock time {self.times}; length {self.length}"),
            ("Status", status),
        ]

    def summary_rows(self) -> list[tuple[str, str]]:
        """The session at a glance."""
        levels = [c.to_level for c in self.level_changes if c.to_level is not None]
        counts = {k: sum(p.decision == k for p in self.proposals) for k in ("approved", "rejected", "refused")}
        other = len(self.proposals) - sum(counts.values())
        suds = [s.value for s in self.suds]
        quality = min(self.quality.values()) if self.quality else None
        worst = min(self.quality, key=lambda k: self.quality[k]) if self.quality else ""
        ssq = " → ".join(f"{self.ssq[w].total:.1f} ({label(w)})" for w in ("pre", "post") if w in self.ssq)
        rows = [
            ("Levels", f"started at {levels[0]}, highest {max(levels)}, ended at {levels[-1]}" if levels
             else "no level shown"),
            ("AI proposals", f"{len(self.proposals)}: {counts['approved']} approved, {counts['rejected']} rejected, "
                             f"{counts['refused']} refused by a bound" + (f", {other} not decided" if other else "")),
            ("Level changes", f"{sum(c.from_level is not None for c in self.level_changes)}"),
            ("SUDS", f"{len(suds)} answers, from {min(suds):.0f} to {max(suds):.0f}" if suds else "no answers"),
            ("Safety events", str(len(self.alerts)) if self.alerts else "none"),
            ("Simulator sickness (SSQ total)", ssq or "not recorded"),
            ("Data quality", f"lowest: {label(worst)}, {quality * 100:.0f} % of seconds good"
             if quality is not None else "no signals"),
        ]
        if self.setup:
            rows.append(("Set-up", "; ".join(self.setup)))
        if self.controller_words:
            rows.append(("Control", self.controller_words))
        return rows

    # ------------------------------------------------------------------------------------------------ tables
    def sections(self) -> list[ReportSection]:
        """The report's tables in words, in reading order (after the header, summary and charts)."""
        out = [
            ReportSection(
                "Proposals and who decided", "report-proposals",
                ["proposed at", "proposal", "why", "decision", "decided by", "decided at"],
                [[session_time(p.t), _step(p.from_level, p.to_level), p.reason, p.decision_text, actor_words(p.by)
                  if p.by else "", session_time(p.decided_t)] for p in self.proposals],
                "no AI proposals"),
            ReportSection(
                "Level changes", "report-levels", ["at", "change", "level shown", "by", "why"],
                [[session_time(c.t), "start at " + str(c.to_level) if c.from_level is None
                  else _step(c.from_level, c.to_level), c.name, actor_words(c.by),
                  c.reason + (f" Warning: {c.warning}" if c.warning else "")] for c in self.level_changes],
                "no level changes"),
            ReportSection(
                "SUDS", "report-suds", ["at", "SUDS (0 to 100)", "level", "reported via"],
                [[session_time(s.t), f"{s.value:.0f}", describe(s.level), actor_words(s.by)] for s in self.suds],
                "no SUDS answers"),
            ReportSection(
                "Safety events", "report-safety", ["at", "monitor", "severity", "action", "what happened"],
                [[session_time(a.t), reason_sentence(a.monitor).split(":")[0].rstrip("."), a.severity,
                  reason_sentence(a.action), a.message] for a in self.alerts],
                "no safety events"),
            ReportSection(
                "Simulator Sickness Questionnaire", "report-ssq",
                ["", "nausea", "oculomotor", "disorientation", "total"],
                [[sentence_case(label(w))] + ([f"{q.nausea:.1f}", f"{q.oculomotor:.1f}", f"{q.disorientation:.1f}",
                                             f"{q.total:.1f}"] if (q := self.ssq.get(w)) else
                                            ["not recorded", "", "", ""]) for w in ("pre", "post")]),
        ]
        if self.reactivity:
            out.append(ReportSection(
                "Reaction to cues", "report-reactivity",
                ["cue category", "cues", "scored (skin conductance)", "mean skin-conductance response",
                 "mean heart-rate change", "change per presentation (95 % CI)"],
                [[c.category, str(c.cues), str(c.scored),
                  f"{c.scr_mean:.3f} µS" if c.scr_mean is not None else "n/a",
                  f"{c.hr_mean:+.1f} bpm" if c.hr_mean is not None else "n/a",
                  f"{c.slope:+.3f} µS ({c.slope_ci[0]:+.3f} to {c.slope_ci[1]:+.3f})"
                  if c.slope is not None and c.slope_ci is not None else "n/a"] for c in self.reactivity],
                intro=self.reactivity_sentence))
        out += [
            ReportSection(
                "Data quality", "report-quality", ["signal", "seconds rated good"],
                [[label(k), f"{v * 100:.1f} %"] for k, v in sorted(self.quality.items(), key=lambda kv: label(kv[0]))],
                "no signals"),
            ReportSection(
                "Notes, pauses and resumptions", "report-notes", ["at", "", "by", "note"],
                [[session_time(n.t) or "outside the session", n.kind, actor_words(n.by), n.text] for n in self.notes],
                "no notes"),
            ReportSection(
                "Models", "report-models", ["model", "version", "model card"],
                [[label(m.name), m.version, (m.card_summary or "model card available") if m.card
                  else "no model card (not a registered, validated model)"] for m in self.models],
                "no model was used"),
        ]
        return out


def _step(a: int | None, b: int | None) -> str:
    return f"{describe(a)} → {describe(b)}"


def _refusal_words(message: str) -> str:
    """The controller's refusal message without its prefix (``approval by clinician refused: ...``)."""
    return re.sub(r"^.*?refused:\s*", "", message or "").strip().rstrip(".")


def _model_version(text: str) -> str:
    """``0.1.0 (2026-12-06T05:05:22Z)`` -> ``0.1.0, trained 6 December 2026``."""
    m = re.match(r"^\s*(\S+)\s*\((\d{4}-\d{2}-\d{2})T[^)]*\)\s*$", text or "")
    if not m:
        return text or ""
    try:
        return f"{m.group(1)}, trained {date_text(datetime.fromisoformat(m.group(2)))}"
    except ValueError:
        return m.group(1)


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


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def build_report(db: Session, ts: TherapySession, services: Any = None) -> ReportData:
    """Collect the report's content from the stored events of ``ts`` (pseudonymous: no identifying fields).

    ``services`` is accepted for the web routes' convenience and not used.
    """
    events = list(db.execute(select(SessionEvent).where(SessionEvent.session_id == ts.id)
                             .order_by(SessionEvent.id)).scalars())
    creator = db.get(User, ts.created_by)
    data = ReportData(session_id=ts.id, pseudonym=ts.patient.pseudonym,
                      clinician=creator.username if creator is not None else "unknown", scenario=ts.scenario,
                      status=ts.status, started_at=ts.started_at, ended_at=ts.ended_at, plan=dict(ts.plan or {}))
    engine: dict[str, Any] = dict((ts.summary or {}).get("engine") or {})
    bounds: dict[str, Any] = dict(data.plan.get("controller") or {})
    proposals: dict[str, Decision] = {}
    qual_counts: dict[str, list[int]] = {}
    for e in events:
        p = e.payload or {}
        if e.kind == "vitals":
            data.vitals.append(VitalsPoint(e.t, _num(p.get("hr")), _num(p.get("eda")), _int(p.get("level"))))
            for k, v in (p.get("quality") or {}).items():
                c = qual_counts.setdefault(k, [0, 0])
                c[0] += v == "good"
                c[1] += 1
        elif e.kind == "estimate":
            data.estimates.append(EstimatePoint(e.t, _num(p.get("probability")), _num(p.get("lower")),
                                                _num(p.get("upper")), bool(p.get("abstained")),
                                                str(p.get("reason") or "")))
        elif e.kind == "proposal":
            code = p.get("reason_code")
            reason = reason_sentence(code) if code else words_in(str(p.get("reason") or ""))
            proposals[p["id"]] = Decision(e.t, str(p["id"]), _int(p.get("from_level")), _int(p.get("to_level")),
                                          reason)
        elif e.kind == "bounds":
            bounds.update(p.get("bounds") or p.get("changes") or {})
        elif e.kind == "decision":
            prop = proposals.get(str(p.get("proposal", "")))
            if prop is not None:
                prop.decision = str(p.get("decision") or "pending")
                prop.by, prop.decided_t = e.actor, e.t
                if prop.decision == "refused":  # approved by the clinician, refused by a bound: say which
                    prop.bound = str(p.get("bound") or "")
                    prop.message = str(p.get("message") or "")
                    prop.bound_value = bounds.get(_BOUND_FIELD.get(prop.bound, prop.bound))
        elif e.kind == "level":
            data.level_changes.append(LevelChange(
                e.t, _int(p.get("from")), _int(p.get("level")), str(p.get("name") or ""), e.actor,
                _level_reason(str(p.get("reason") or "")), words_in(str(p.get("warning") or ""))))
        elif e.kind == "suds" and _num(p.get("value")) is not None:
            data.suds.append(SudsAnswer(e.t, float(p["value"]), _int(p.get("level")), e.actor))
        elif e.kind == "alert":
            data.alerts.append(SafetyEvent(e.t, str(p.get("monitor") or ""), str(p.get("severity") or ""),
                                           str(p.get("action") or ""), words_in(str(p.get("message") or ""))))
        elif e.kind in _NOTE_KINDS:
            data.notes.append(Note(e.t, _NOTE_KINDS[e.kind], e.actor, str(p.get("text") or "")))
        elif e.kind == "ssq" and p.get("when") in ("pre", "post"):
            data.ssq[p["when"]] = SsqScores(float(p["nausea"]), float(p["oculomotor"]),
                                            float(p["disorientation"]), float(p["total"]))
        elif e.kind == "end":
            data.end_reason = words_in(str(p.get("reason") or ""))
            data.end_by, data.end_t = e.actor, e.t
        elif e.kind == "info":
            engine = {**p, **engine}
    data.proposals = list(proposals.values())
    data.quality = {k: c[0] / c[1] for k, c in qual_counts.items() if c[1]}
    data.setup = [str(s) for s in engine.get("summary") or []] or [
        str(engine[k]) for k in ("source_words", "model_words", "controller_words", "safety_words") if engine.get(k)]
    _add_reactivity(data, [{"t": e.t, **(e.payload or {})} for e in events if e.kind == "cue_response"])
    card = engine.get("model_card")
    summary = ""
    if card:
        summary = str(model_cards().get(str(card), {}).get("intended_use") or "")
    if engine.get("model"):
        data.models = [ModelUse(str(engine["model"]), _model_version(str(engine.get("model_version") or "")),
                                str(card) if card else None, summary)]
    return data


def _level_reason(text: str) -> str:
    """A level change's reason in words (codes inside it become sentences or labels)."""
    text = text.strip()
    if text in ("", "session start"):
        return text or ""
    if re.fullmatch(r"[a-z]+(_[a-z]+)+", text):
        return reason_sentence(text)
    return words_in(text)


def _add_reactivity(data: ReportData, responses: list[dict[str, Any]]) -> None:
    """The session's reaction to cues: per category the scored responses, their mean and their change across the
    session (mixed-model slope), and one sentence for the clinician. Nothing when no cue was shown."""
    if not responses:
        return
    import pandas as pd

    from attunexr.models import analyse_reactivity, reactivity_sentence

    rows = [{"participant": data.pseudonym, "session": "1", "session_number": 1, "cue_id": r.get("id", ""),
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
    for cat in ordered:
        sub = table[table["category"] == cat]
        slope = (result.habituation.get("scr_amplitude", {}).get("slope_by_category") or {}).get(cat) or {}
        ci = slope.get("ci")
        value = _num(slope.get("value"))
        data.reactivity.append(CueCategory(
            category=str(cat), cues=len(sub), scored=int(sub["scr_amplitude"].notna().sum()),
            scr_mean=float(sub["scr_amplitude"].mean()) if sub["scr_amplitude"].notna().any() else None,
            hr_mean=float(sub["hr_change_mean"].mean()) if sub["hr_change_mean"].notna().any() else None,
            slope=value, slope_ci=(float(ci[0]), float(ci[1])) if value is not None and ci is not None else None))
    data.reactivity_sentence = reactivity_sentence(result) or ""
    data.reactivity_notes = [str(n) for n in result.notes]


# ---------------------------------------------------------------------------------------------------- charts
def _figure(data: ReportData, size: tuple[float, float] = (10, 9)) -> Figure:
    fig, axes = plt.subplots(4, 1, figsize=size, sharex=True, constrained_layout=True)
    t = [v.t for v in data.vitals]
    ax = axes[0]
    ax.step(t, [v.level if v.level is not None else float("nan") for v in data.vitals], where="post",
            color="#6a3d9a")
    ax.set_ylabel("exposure level")
    top = max([v.level or 0 for v in data.vitals] + [p.to_level or 0 for p in data.proposals] + [0])
    ax.set_ylim(-0.5, top + 1.0)
    for prop in data.proposals:
        if prop.from_level is None or prop.to_level is None:
            continue
        color = {"approved": "#2ca02c", "rejected": "#d62728", "refused": "#ff7f0e"}.get(prop.decision, "#7f7f7f")
        ax.annotate("", xy=(prop.t, prop.to_level), xytext=(prop.t, prop.from_level),
                    arrowprops={"arrowstyle": "->", "color": color})
    for s in data.suds:
        ax.annotate(f"SUDS {s.value:.0f}", (s.t, s.level or 0), fontsize=7, color="#1f77b4",
                    textcoords="offset points", xytext=(0, 6))
    ax.set_title("Levels (arrows: AI proposals; green approved, red rejected, orange refused by a bound, "
                 "grey not decided)", fontsize=9)
    axes[1].plot(t, [v.hr if v.hr is not None else float("nan") for v in data.vitals], color="#d62728")
    axes[1].set_ylabel("heart rate (bpm)")
    axes[2].plot(t, [v.eda if v.eda is not None else float("nan") for v in data.vitals], color="#ff7f0e")
    axes[2].set_ylabel("skin conductance (µS)")
    est = [e for e in data.estimates if not e.abstained and e.probability is not None]
    ax = axes[3]
    if est:
        et = [e.t for e in est]
        ax.fill_between(et, [e.lower if e.lower is not None else float("nan") for e in est],
                        [e.upper if e.upper is not None else float("nan") for e in est], color="#1f77b4",
                        alpha=0.25, label="uncertainty band")
        ax.plot(et, [e.probability for e in est], color="#1f77b4", label="estimated arousal")
    win = (data.plan.get("controller") or {}).get("window")
    if isinstance(win, list | tuple) and len(win) == 2:
        ax.axhspan(float(win[0]), float(win[1]), color="#2ca02c", alpha=0.08, label="therapeutic window")
    ab = [e.t for e in data.estimates if e.abstained]
    if ab:
        ax.plot(ab, [0.02] * len(ab), "x", color="#7f7f7f", label="no estimate (AI abstained)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("arousal (0 to 1)")
    ax.set_xlabel("time into the session (min:s)")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: session_time(x) if x >= 0 else ""))
    if est or ab or win:
        ax.legend(loc="upper left", fontsize=7)
    for a in data.alerts:
        for axx in axes:
            axx.axvline(a.t, color="#d62728", lw=0.8, ls="--")
    return fig


def _image(fig: Figure, fmt: str = "png", dpi: int = 90) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------- HTML
def render_report_html(data: ReportData, templates: Any, request: Any) -> str:
    """The report as one self-contained HTML page (charts embedded)."""
    template = templates.get_template("report.html")
    figure = base64.b64encode(_image(_figure(data))).decode()
    return str(template.render(d=data, figure=figure, request=request, disclaimer=DISCLAIMER))


# ---------------------------------------------------------------------------------------------------- PDF
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


def _fonts() -> tuple[str, str]:
    """Regular and bold font names: DejaVu Sans (Unicode: µ, →) when installed, else Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and bold.is_file()):
        return "Helvetica", "Helvetica-Bold"
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
    return "DejaVuSans", "DejaVuSans-Bold"


def _plain(text: str, unicode_ok: bool) -> str:
    """Text safe for the chosen font: Helvetica lacks arrows and some dashes."""
    return text if unicode_ok else text.replace("→", "->").replace("–", "-").replace("—", "-")


def render_report_pdf(data: ReportData) -> bytes:
    """The report as a typeset PDF (A4): header, summary, charts, then the tables and notes.

    Built with reportlab's platypus from :meth:`ReportData.header_rows`, :meth:`ReportData.summary_rows` and
    :meth:`ReportData.sections`, the same content the HTML page shows.
    """
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_LEFT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import (
        CondPageBreak,
        Image,
        KeepTogether,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    regular, bold = _fonts()
    uni = regular != "Helvetica"
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=9, leading=11.5,
                          alignment=TA_LEFT)
    cell = ParagraphStyle("cell", parent=body, fontSize=8, leading=10)
    head = ParagraphStyle("head", parent=cell, fontName=bold)
    muted = ParagraphStyle("muted", parent=body, fontSize=8, textColor=colors.HexColor("#5b6670"))
    h1 = ParagraphStyle("h1", parent=base["Title"], fontName=bold, fontSize=16, leading=20, alignment=TA_LEFT)
    h2 = ParagraphStyle("h2", parent=base["Heading2"], fontName=bold, fontSize=11.5, leading=14, spaceBefore=8,
                        spaceAfter=4, textColor=colors.HexColor("#1d2730"))

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(_plain(text, uni)), style)

    width = A4[0] - 36 * mm
    grid = TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor("#1d2730")),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#c9d0d6")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f5")),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ])
    keyvalue = TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#c9d0d6")),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ])

    def pairs(rows: list[tuple[str, str]]) -> Table:
        table = Table([[para(k, head), para(v, cell)] for k, v in rows], colWidths=[45 * mm, width - 45 * mm])
        table.setStyle(keyvalue)
        return table

    story: list[Any] = [
        para(data.title, h1),
        para("Pseudonymous record of a VR exposure session run under clinician supervision. "
             "Times are minutes:seconds into the session.", muted),
        Spacer(1, 4 * mm),
        pairs(data.header_rows()),
        para("Summary", h2),
        pairs(data.summary_rows()),
        PageBreak(),
        para("Charts", h2),
        para("Exposure level, heart rate, skin conductance and the AI's arousal estimate with its uncertainty band. "
             "Dashed red lines mark safety events.", muted),
        Spacer(1, 2 * mm),
    ]
    png = _image(_figure(data, size=(7.2, 8.6)), dpi=150)
    story.append(Image(io.BytesIO(png), width=width, height=width * 8.6 / 7.2))
    story.append(PageBreak())
    for section in data.sections():
        block: list[Any] = [para(section.title, h2)]
        if section.intro:
            block.append(para(section.intro))
            block.append(Spacer(1, 2 * mm))
        if section.rows:
            rows = [[para(c, head) for c in section.columns]] + [[para(c, cell) for c in r] for r in section.rows]
            table = Table(rows, repeatRows=1, colWidths=_column_widths(section, width))
            table.setStyle(grid)
            block.append(table)
        else:
            block.append(para(sentence_case(section.empty) + ".", muted))
        if section.testid == "report-reactivity":
            block += [para(n, muted) for n in data.reactivity_notes]
        story.append(CondPageBreak(40 * mm))
        story.append(KeepTogether(block) if len(section.rows) < 12 else block[0])
        if len(section.rows) >= 12:
            story.extend(block[1:])
    story += [Spacer(1, 5 * mm), para(DISCLAIMER, muted)]

    def footer(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.setFillColor(colors.HexColor("#5b6670"))
        canvas.drawString(18 * mm, 10 * mm, _plain(f"attunexr session report · {data.pseudonym} · {data.date} · "
                                                   f"clinician {data.clinician}", uni))
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=18 * mm, title=data.title, author=f"attunexr, clinician {data.clinician}",
                            subject=f"exposure session of {data.pseudonym}", creator="attunexr")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


#: Relative column widths of the wide tables (the free-text columns get the room).
_WIDTHS = {
    "report-proposals": [1.45, 1.2, 2.9, 3.1, 1.6, 1.3],
    "report-levels": [0.9, 1.1, 2.6, 1.6, 3.5],
    "report-safety": [0.9, 1.6, 1.0, 2.2, 3.6],
    "report-notes": [1.0, 0.9, 1.6, 5.0],
    "report-reactivity": [1.6, 0.8, 1.3, 1.6, 1.4, 2.4],
    "report-models": [1.5, 2.0, 5.0],
}


def _column_widths(section: ReportSection, width: float) -> list[float] | None:
    rel = _WIDTHS.get(section.testid)
    if rel is None or len(rel) != len(section.columns):
        return None
    total = sum(rel)
    return [width * r / total for r in rel]


DISCLAIMER = ("Estimates support the clinician; every level change above was made or approved by the person named, "
              "or by a safety rule. The detectors were validated only on small single-site datasets of healthy "
              "volunteers.")
