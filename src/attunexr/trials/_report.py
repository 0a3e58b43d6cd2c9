"""The trial report: JSON summary, HTML report with the CONSORT flow diagram, baseline, outcomes, harms, fidelity
and dose, cost, analyses with their assumptions, and the three checklists; plus the de-identified dataset export."""

from __future__ import annotations

import csv
import html
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median
from typing import Any

from attunexr.errors import ConfigurationError
from attunexr.trials._analysis import ResponderResult, TrialAnalysis, analyse_trial
from attunexr.trials._checklists import Checklist, fill_checklists
from attunexr.trials._consort import ConsortFlow, consort_flow, write_flow_diagram
from attunexr.trials._data import TrialData
from attunexr.trials._simulate import OUTCOME_MODEL_LABELS
from attunexr.words import label

__all__ = [
    "SIMULATION_WARNING",
    "TrialReport",
    "baseline_rows",
    "build_report",
    "export_dataset",
    "fidelity_rows",
    "harms_rows",
    "outcome_rows",
    "render_analysis_html",
    "report_body_html",
    "write_report",
]

SIMULATION_WARNING = ("SIMULATED TRIAL: every effect, dropout rate and harm below comes from virtual patients and "
                      "stated assumptions. Simulated effects are assumptions, not evidence.")


@dataclass
class TrialReport:
    data: TrialData
    flow: ConsortFlow
    analysis: TrialAnalysis | None
    checklists: dict[str, Checklist]
    analysis_error: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        p = self.analysis.primary.primary if self.analysis else None
        out: dict[str, Any] = {
            "arms": [a.id for a in self.data.protocol.arms],
            "consort": self.flow.to_json_dict(),
            "primary": {"effect": p.effect if p else None, "ci": list(p.ci) if p else None,
                        "model": self.analysis.primary.model if self.analysis else
                        f"not estimable yet: {self.analysis_error}",
                        "contrast": f"{p.arm} - {p.versus}" if p else None,
                        "se": p.se if p else None, "p": p.p if p else None,
                        "assumptions": self.analysis.primary.assumptions if self.analysis else []},
            "checklists": {k: c.summary() for k, c in self.checklists.items()},
            "protocol": {"id": self.data.protocol.id, "version": self.data.protocol.version},
            "simulated": self.data.simulated,
        }
        if self.data.simulated:
            out["warning"] = SIMULATION_WARNING
            out["assumed_true_effect"] = self.data.notes.get("assumed_true_effect")
        return out


def build_report(data: TrialData, imputations: int = 20, seed: int = 0) -> TrialReport:
    """Flow, analysis and checklists of a trial."""
    flow = consort_flow(data)
    analysis: TrialAnalysis | None = None
    error = ""
    try:
        analysis = analyse_trial(data, imputations=imputations, seed=seed)
    except ConfigurationError as err:  # too little data so far (a trial in progress): flow and tables only
        error = str(err)
    return TrialReport(data, flow, analysis, fill_checklists(data, flow, analysis), error)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    h = "".join(f"<th>{html.escape(str(x))}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _assumed(value: Any) -> str:
    """An assumed value as a table cell: ``(("none", 0.08), ("arousal", 0.05))`` -> ``none 0.08, arousal 0.05``."""
    if isinstance(value, list | tuple):
        return ", ".join(" ".join(map(_cell, v)) if isinstance(v, list | tuple) else _cell(v) for v in value)
    return _cell(value)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return label(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def baseline_rows(data: TrialData) -> tuple[list[str], list[list[Any]]]:
    inst = data.protocol.primary.instrument
    arms = data.by_arm()
    head = ["characteristic", *[data.protocol.arm(a).name for a in arms]]
    rows: list[list[Any]] = [["n", *[len(ps) for ps in arms.values()]]]

    def ms(vals: list[float]) -> str:
        if not vals:
            return "-"
        m = mean(vals)
        sd = (sum((v - m) ** 2 for v in vals) / max(len(vals) - 1, 1)) ** 0.5
        return f"{m:.1f} ({sd:.1f})"
    rows.append(["age, mean (SD)", *[ms([p.characteristics["age"] for p in ps if "age" in p.characteristics])
                                     for ps in arms.values()]])
    rows.append(["female, n (%)", *[f"{sum(p.characteristics.get('sex') == 'female' for p in ps)} "
                                    f"({100 * sum(p.characteristics.get('sex') == 'female' for p in ps) / max(len(ps), 1):.0f} %)"
                                    for ps in arms.values()]])
    rows.append([f"baseline {label(inst)}, mean (SD)", *[ms([p.baseline[inst] for p in ps if inst in p.baseline])
                                                  for ps in arms.values()]])
    sites = sorted({p.site for p in data.participants})
    site_names = {site.id: site.name for site in data.protocol.sites}
    for s in sites:
        rows.append([f"{site_names.get(s, 'site ' + label(s))}, n", *[sum(p.site == s for p in ps) for ps in arms.values()]])
    for f in data.protocol.stratification:
        for lv in f.levels:
            rows.append([f"{f.id} = {lv}, n", *[sum(p.strata.get(f.id) == lv for p in ps) for ps in arms.values()]])
    return head, rows


def outcome_rows(data: TrialData) -> tuple[list[str], list[list[Any]]]:
    inst = data.protocol.primary.instrument
    arms = data.by_arm()
    head = ["visit", *[f"{data.protocol.arm(a).name}: n, mean (SD)" for a in arms]]
    rows = []
    for v in sorted(data.protocol.visits, key=lambda x: x.day):
        if inst not in v.instruments:
            continue
        cells = []
        for ps in arms.values():
            vals = [s for p in ps if (s := p.score(v.id, inst)) is not None]
            if vals:
                m = mean(vals)
                sd = (sum((x - m) ** 2 for x in vals) / max(len(vals) - 1, 1)) ** 0.5
                cells.append(f"{len(vals)}, {m:.1f} ({sd:.1f})")
            else:
                cells.append("0")
        rows.append([v.name, *cells])
    return head, rows


def harms_rows(data: TrialData) -> tuple[list[str], list[list[Any]]]:
    arms = data.by_arm()
    types = sorted({a.type for p in data.participants for a in p.adverse_events})
    head = ["adverse event", *[f"{data.protocol.arm(a).name}: events (participants)" for a in arms]]
    rows = []
    for t in types:
        cells = []
        for ps in arms.values():
            ev = sum(1 for p in ps for a in p.adverse_events if a.type == t)
            who = sum(1 for p in ps if any(a.type == t for a in p.adverse_events))
            cells.append(f"{ev} ({who})")
        rows.append([label(t), *cells])
    rows.append(["serious adverse events", *[str(sum(1 for p in ps for a in p.adverse_events if a.serious))
                                             for ps in arms.values()]])
    return head, rows


def fidelity_rows(data: TrialData) -> tuple[list[str], list[list[Any]]]:
    arms = data.by_arm()
    head = ["dose / fidelity", *[data.protocol.arm(a).name for a in arms]]
    rows: list[list[Any]] = []
    rows.append(["sessions planned per participant", *[str(data.protocol.arm(a).planned_sessions) for a in arms]])
    rows.append(["sessions delivered / planned", *[f"{sum(p.sessions_attended for p in ps)} / "
                                                   f"{sum(p.sessions_planned for p in ps)}" for ps in arms.values()]])
    rows.append(["sessions per participant, median", *[median([p.sessions_attended for p in ps]) if ps else "-"
                                                        for ps in arms.values()]])
    n_levels = max((len(p.minutes_at_level) for p in data.participants), default=0)
    for lv in range(n_levels):
        rows.append([f"exposure minutes at level {lv}, mean",
                     *[f"{mean([p.minutes_at_level[lv] if lv < len(p.minutes_at_level) else 0.0 for p in ps]):.1f}"
                       if ps else "-" for ps in arms.values()]])
    rows.append(["AI proposals approved / rejected", *[f"{sum(p.proposals_approved for p in ps)} / "
                                                       f"{sum(p.proposals_rejected for p in ps)}"
                                                       for ps in arms.values()]])
    rows.append(["clinician overrides", *[sum(p.clinician_overrides for p in ps) for ps in arms.values()]])
    devs = Counter(p.arm for p in data.participants for v in p.visits if v.deviation)
    rows.append(["visits outside window (deviations)", *[devs.get(a, 0) for a in arms]])
    return head, rows


def _arm_name(data: TrialData, arm: str) -> str:
    """An arm as the protocol names it (``AI-adaptive VR exposure``), not its identifier."""
    try:
        return str(data.protocol.arm(arm).name)
    except (KeyError, ValueError, LookupError):
        return arm.replace("_", " ")


def _contrast_rows(res: Any, data: TrialData) -> list[list[Any]]:
    return [[f"{_arm_name(data, c.arm)} vs {_arm_name(data, c.versus)}", c.effect, f"{c.ci[0]} to {c.ci[1]}", c.p]
            for c in res.contrasts]


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;font-size:90%}.warn{background:#fff3cd;"
        "border:3px solid #d9534f;padding:1em;font-weight:bold;font-size:120%}img{max-width:100%}"
        ".missing{color:#b00}")


def write_report(report: TrialReport, folder: str | Path) -> Path:
    """Write ``report.html``, ``consort_flow.svg``/``.pdf``, ``summary.json``, ``protocol.json`` and the
    de-identified dataset into ``folder``; returns the HTML path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    write_flow_diagram(report.flow, out / "consort_flow.svg")
    data = report.data
    (out / "summary.json").write_text(json.dumps(report.to_json_dict(), indent=1) + "\n")
    if report.analysis is not None:
        (out / "analysis.json").write_text(json.dumps(report.analysis.to_json_dict(), indent=1, default=str) + "\n")
    (out / "protocol.json").write_text(json.dumps(data.protocol.to_json_dict(), indent=2) + "\n")
    export_dataset(data, out / "dataset")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(data.protocol.title)}</title>"
             f"<style>{_CSS}</style></head><body>", report_body_html(report, "consort_flow.svg"), "</body></html>"]
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def report_body_html(report: TrialReport, flow_src: str) -> str:
    """The report's content (title, warning, flow diagram from ``flow_src``, tables, analyses, checklists)."""
    data = report.data
    parts = [f"<h1>{html.escape(data.protocol.title)}</h1>",
             f"<p>Protocol {data.protocol.id} version {data.protocol.version}. {html.escape(data.protocol.design)}.</p>"]
    if data.simulated:
        parts.append(f"<p class='warn'>{html.escape(SIMULATION_WARNING)}</p>")
        parts.append("<h2>Assumed outcome model (simulation)</h2>" + _table(
            ["assumption", "value"], [[OUTCOME_MODEL_LABELS.get(k, label(k)), _assumed(v)]
                                      for k, v in data.notes.get("outcome_model", {}).items()]))
    parts.append(f"<h2>CONSORT flow diagram</h2><img src='{html.escape(flow_src)}' alt='CONSORT flow diagram' "
                 "id='consort-flow'>")
    for title, (head, rows) in (("Baseline characteristics by arm", baseline_rows(data)),
                                ("Primary outcome by visit (observed)", outcome_rows(data)),
                                ("Harms", harms_rows(data)), ("Fidelity and dose", fidelity_rows(data))):
        parts.append(f"<h2>{title}</h2>{_table(head, rows)}")
    parts.append(render_analysis_html(report))
    return "\n".join(parts)


def render_analysis_html(report: TrialReport) -> str:
    """The analyses (with assumptions), responders and the three checklists as HTML fragments."""
    parts: list[str] = []
    data = report.data
    an = report.analysis
    if an is None:
        parts.append(f"<h2>Analysis</h2><p>Not estimable yet: {html.escape(report.analysis_error)}</p>")
    for res in (() if an is None else (an.primary, an.per_protocol, an.multiple_imputation)):
        if res is None:
            continue
        parts.append(f"<h2>Analysis: {html.escape(label(res.name))}</h2><p>{html.escape(res.model)}</p>"
                     f"<p>Population: {html.escape(res.population)}; {res.n_participants} participants, "
                     f"{res.n_observations} observations.</p>")
        parts.append(_table(["contrast", "effect (points)", "95 % CI", "p"], _contrast_rows(res, data)))
        parts.append("<p>Assumptions:</p><ul>" + "".join(f"<li>{html.escape(a)}</li>" for a in res.assumptions)
                     + "".join(f"<li>note: {html.escape(n)}</li>" for n in res.notes) + "</ul>")
    r = an.responders if an is not None else None
    if r is not None:
        parts.append(_responders_html(r, data))
    for cl in report.checklists.values():
        s = cl.summary()
        parts.append(f"<h2>{cl.name} checklist</h2><p>{html.escape(cl.reference)}. {s['answered']} of "
                     f"{s['items']} items answered, {s['not_applicable']} not applicable, {len(s['missing'])} "
                     "missing.</p>")
        parts.append(_table(["item", "topic", "status", "answer"],
                            [[i.id, i.topic, i.status if i.status != "missing" else "missing", i.answer]
                             for i in cl.items]))
    return "\n".join(parts)


def _responders_html(r: ResponderResult, data: TrialData) -> str:
    parts = [f"<h2>Responders and cost per responder</h2><p>{html.escape(r.definition)}</p>"]
    parts.append(_table(["arm", "randomized", "with score", "responders", "share", "cost per participant",
                         "cost per responder"],
                        [[_arm_name(data, a), v["randomized"], v["with_primary_score"], v["responders"], v["responder_share"],
                          v["cost_per_participant"], v["cost_per_responder"]] for a, v in r.by_arm.items()]))
    if r.risk_difference:
        rd = r.risk_difference
        parts.append(f"<p>Risk difference {html.escape(_arm_name(data, rd.arm))} vs "
                     f"{html.escape(_arm_name(data, rd.versus))}: {rd.effect} (95 % CI {rd.ci[0]} to {rd.ci[1]})"
                     "</p>")
    parts.append("<ul>" + "".join(f"<li>{html.escape(a)}</li>" for a in r.assumptions) + "</ul>")
    return "\n".join(parts)


DATA_DICTIONARY: list[tuple[str, str]] = [
    ("participant", "study pseudonym (no direct identifiers)"),
    ("site", "site id"),
    ("arm", "allocated arm (intention to treat)"),
    ("stratum", "randomization stratum"),
    ("age", "age in years at baseline"),
    ("sex", "sex as recorded"),
    ("visit", "visit id from the protocol"),
    ("day", "days since randomization"),
    ("instrument", "instrument id"),
    ("score", "instrument total score"),
    ("deviation", "protocol deviation text for this visit, empty if none"),
    ("sessions_planned", "VR sessions planned by the arm"),
    ("sessions_attended", "VR sessions delivered"),
    ("discontinued", "reason the intervention was discontinued, empty if not"),
    ("lost", "reason lost to follow-up or withdrawn, empty if not"),
]


def export_dataset(data: TrialData, folder: str | Path) -> Path:
    """De-identified long analysis dataset (``analysis_dataset.csv``) and its ``data_dictionary.csv``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "analysis_dataset.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([n for n, _ in DATA_DICTIONARY])
        for p in data.participants:
            for v in p.visits:
                for inst, score in sorted(v.scores.items()):
                    w.writerow([p.id, p.site, p.arm, p.stratum, p.characteristics.get("age", ""),
                                p.characteristics.get("sex", ""), v.visit, v.day, inst, score, v.deviation,
                                p.sessions_planned, p.sessions_attended, p.discontinued, p.lost])
    with (out / "data_dictionary.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["column", "description"])
        w.writerows(DATA_DICTIONARY)
    return path


