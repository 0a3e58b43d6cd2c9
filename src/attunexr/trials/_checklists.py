"""Reporting checklists filled from the protocol and the data: CONSORT-AI, SPIRIT-AI and RATE-XR.

Item ids follow the published checklists (CONSORT-AI: Liu et al., Nat Med 2020; SPIRIT-AI: Cruz Rivera et al.,
Nat Med 2020; RATE-XR: Vlake et al., 2024, reporting of early-phase clinical evaluation of extended reality).
Item wording here is a short paraphrase; check the published checklists for the exact text. The CONSORT-AI and
SPIRIT-AI lists hold their AI extension items plus the core CONSORT 2010 / SPIRIT 2013 items that attunexr can
answer from data. RATE-XR item ids are numbered XR-1.. in the order of the published XR-specific items.

Every item is answered from the data ("answered"), or is "not applicable" (with why), or "missing: ..." (what is
missing); nothing is answered from assumption.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attunexr.trials._analysis import TrialAnalysis
from attunexr.trials._consort import ConsortFlow
from attunexr.trials._data import TrialData
from attunexr.words import label

__all__ = ["Checklist", "ChecklistItem", "fill_checklists"]


@dataclass(frozen=True)
class ChecklistItem:
    """One answered item: ``status`` is ``answered``, ``not applicable`` or ``missing``."""

    id: str
    topic: str
    status: str
    answer: str


@dataclass
class Checklist:
    name: str
    reference: str
    items: list[ChecklistItem]

    def summary(self) -> dict[str, Any]:
        return {"items": len(self.items), "answered": sum(i.status == "answered" for i in self.items),
                "not_applicable": sum(i.status == "not applicable" for i in self.items),
                "missing": [f"{i.id}: {i.answer}" for i in self.items if i.status == "missing"]}


@dataclass
class _Ctx:
    data: TrialData
    flow: ConsortFlow
    analysis: TrialAnalysis | None


Answer = Callable[[_Ctx], tuple[str, str]]


def _field(d: dict[str, str], key: str, what: str) -> Answer:
    def f(c: _Ctx) -> tuple[str, str]:
        src = getattr(c.data.protocol, d[key]) if key in d else {}
        val = src.get(what, "") if isinstance(src, dict) else ""
        return ("answered", val) if val else ("missing", f"protocol {d.get(key, key)}.{what} is empty")
    return f


def _ai(what: str) -> Answer:
    return _field({"ai": "ai_component"}, "ai", what)


def _xr(what: str) -> Answer:
    return _field({"xr": "xr_component"}, "xr", what)


def _or(values: tuple[int, ...]) -> str:
    """``(1, 2)`` -> ``1 or 2``."""
    text = [str(v) for v in values]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " or " + text[-1]


def _and_factors(c: _Ctx) -> str:
    """`` and severity`` for the protocol's stratification factors (empty without any)."""
    factors = [label(f.id) for f in c.data.protocol.stratification]
    return " and " + ", ".join(factors) if factors else ""


def _proto(attr: str, label: str) -> Answer:
    def f(c: _Ctx) -> tuple[str, str]:
        v = getattr(c.data.protocol, attr)
        return ("answered", str(v)) if v else ("missing", f"protocol {label} not given")
    return f


def _title_ai(c: _Ctx) -> tuple[str, str]:
    t = c.data.protocol.title
    ok = any(w in t.lower() for w in ("ai", "artificial intelligence", "machine learning", "adaptive"))
    return ("answered", t) if ok else ("missing", "title does not say the intervention uses AI")


def _eligibility(c: _Ctx) -> tuple[str, str]:
    e = c.data.protocol.eligibility
    return ("answered", "; ".join(f"{x.kind}: {x.text}" for x in e)) if e else ("missing", "no eligibility criteria")


def _arm(c: _Ctx, arm: str) -> str:
    """An arm as the protocol names it, not its identifier."""
    try:
        return str(c.data.protocol.arm(arm).name)
    except (KeyError, ValueError, LookupError):
        return arm.replace("_", " ")


def _by_arm(c: _Ctx, values: dict[str, Any]) -> str:
    """``{'ai_adaptive': 38, ...}`` or ``{'ai_adaptive': {'no contact': 2}}`` in words, arms by their names."""
    def one(v: Any) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k} {n}" for k, n in v.items()) or "none"
        return str(v)

    return "; ".join(f"{_arm(c, a)}: {one(v)}" for a, v in values.items())


def _flow(c: _Ctx) -> tuple[str, str]:
    bad = c.flow.check()
    if bad:
        return "missing", "flow numbers do not add up: " + "; ".join(bad)
    return "answered", (f"assessed {c.flow.assessed}, randomized {c.flow.randomized}, allocated "
                        f"({_by_arm(c, c.flow.allocated)}), analysed ({_by_arm(c, c.flow.analysed)}) (flow diagram)")


def _losses(c: _Ctx) -> tuple[str, str]:
    return "answered", f"lost ({_by_arm(c, c.flow.lost)}); discontinued ({_by_arm(c, c.flow.discontinued)})"


def _baseline(c: _Ctx) -> tuple[str, str]:
    n = sum(1 for p in c.data.participants if p.baseline)
    return ("answered", f"baseline table by arm ({n} participants)") if n else ("missing", "no baseline data")


def _analysed(c: _Ctx) -> tuple[str, str]:
    if c.analysis is None:
        return "missing", "analysis not run"
    return "answered", f"ITT model: {c.analysis.primary.n_participants} participants, by arm ({_by_arm(c, c.flow.analysed)})"


def _estimate(c: _Ctx) -> tuple[str, str]:
    if c.analysis is None or c.analysis.primary.primary is None:
        return "missing", "no primary estimate"
    p = c.analysis.primary.primary
    return "answered", f"{_arm(c, p.arm)} vs {_arm(c, p.versus)}: {p.effect} (95 % CI {p.ci[0]} to {p.ci[1]})"


def _harms(c: _Ctx) -> tuple[str, str]:
    n = sum(len(p.adverse_events) for p in c.data.participants)
    return "answered", f"{n} adverse events recorded (harms table by arm)"


def _errors(c: _Ctx) -> tuple[str, str]:
    if c.data.simulated:
        return "missing", "analysis of AI performance errors needs session logs of a real trial"
    return "missing", "AI error analysis (cases where the AI proposal was rejected or wrong) not yet reported"


def _registration(c: _Ctx) -> tuple[str, str]:
    r = c.data.protocol.registration
    return ("answered", r) if r else ("missing", "trial registry and number")


def _input_quality(c: _Ctx) -> tuple[str, str]:
    return _ai("error_handling")(c)


def _dose(c: _Ctx) -> tuple[str, str]:
    vr = [p for p in c.data.participants if p.sessions_planned > 0]
    if not vr:
        return "not applicable", "no arm delivers XR sessions"
    got = sum(p.sessions_attended for p in vr)
    plan = sum(p.sessions_planned for p in vr)
    return "answered", f"{got} of {plan} planned XR sessions delivered (fidelity and dose table)"


def _cybersickness_results(c: _Ctx) -> tuple[str, str]:
    n = sum(1 for p in c.data.participants for a in p.adverse_events if a.type == "cybersickness")
    ssq = sum(1 for p in c.data.participants for v in p.visits if "ssq" in v.scores)
    if not ssq and not n:
        return "missing", "no cybersickness measurements recorded"
    return "answered", f"{n} cybersickness adverse events; {ssq} SSQ scores"


def _presence_results(c: _Ctx) -> tuple[str, str]:
    n = sum(1 for p in c.data.participants for v in p.visits if "ipq" in v.scores)
    return ("answered", f"{n} IPQ scores") if n else ("missing", "no presence (IPQ) scores recorded")


def _na(why: str) -> Answer:
    return lambda c: ("not applicable", why)


def _code(c: _Ctx) -> tuple[str, str]:
    return "answered", "attunexr is open source (MIT); the policy and models ship with the package and model cards"


CONSORT_AI: list[tuple[str, str, Answer]] = [
    ("1a,b(i)", "AI intervention indicated in title/abstract, type of model", _title_ai),
    ("1a,b(ii)", "Intended use of the AI intervention in the abstract", _ai("output")),
    ("2a(i)", "Intended use in context of the clinical pathway", _ai("human_ai_interaction")),
    ("4a(i)", "Inclusion and exclusion criteria at the participant level", _eligibility),
    ("4a(ii)", "Inclusion and exclusion criteria at the input-data level", _ai("inputs")),
    ("4b", "How the AI intervention was integrated into the trial setting", _xr("setting")),
    ("5(i)", "Version of the AI algorithm", _ai("version")),
    ("5(ii)", "How input data were acquired and selected", _ai("inputs")),
    ("5(iii)", "How poor-quality or unavailable input data were assessed and handled", _input_quality),
    ("5(iv)", "Human-AI interaction and expertise required", _ai("human_ai_interaction")),
    ("5(v)", "Output of the AI intervention", _ai("output")),
    ("5(vi)", "How the AI output contributed to decision-making", _ai("human_ai_interaction")),
    ("13a", "Participant flow: randomized, received treatment, analysed, per arm", _flow),
    ("13b", "Losses and exclusions after randomization, with reasons", _losses),
    ("15", "Baseline demographic and clinical characteristics by arm", _baseline),
    ("16", "Number analysed per arm, by original assignment", _analysed),
    ("17a", "Primary outcome: estimated effect with precision (95 % CI)", _estimate),
    ("19", "All important harms in each arm", _harms),
    ("19(AI)", "Analysis of performance errors of the AI and how they were identified", _errors),
    ("23", "Registration number and name of trial registry", _registration),
    ("24", "Where the full trial protocol can be accessed", lambda c: ("answered", "protocol file exported with the "
                                                                      f"report ({c.data.protocol.id} v"
                                                                      f"{c.data.protocol.version})")),
    ("25(AI)", "Whether and how the AI intervention and its code can be accessed", _code),
]

SPIRIT_AI: list[tuple[str, str, Answer]] = [
    ("1(i)", "AI intervention indicated in the title, type of model", _title_ai),
    ("1(ii)", "Intended use of the AI intervention in the title/abstract", _ai("output")),
    ("2a", "Trial identifier and registry name", _registration),
    ("6a(i)", "Intended use of the AI intervention in the clinical pathway", _ai("human_ai_interaction")),
    ("6a(ii)", "Prior evidence for the AI intervention (validation)", _ai("model_card")),
    ("9", "Study settings, sites", lambda c: ("answered", ", ".join(s.name for s in c.data.protocol.sites))),
    ("9(AI)", "Onsite and offsite requirements to integrate the AI", _xr("hardware")),
    ("10(i)", "Inclusion and exclusion criteria at the participant level", _eligibility),
    ("10(ii)", "Inclusion and exclusion criteria at the input-data level", _ai("inputs")),
    ("11a(i)", "Version of the AI algorithm", _ai("version")),
    ("11a(ii)", "Procedure for acquiring and selecting input data", _ai("inputs")),
    ("11a(iii)", "Procedure for poor-quality or unavailable input data", _input_quality),
    ("11a(iv)", "Human-AI interaction and expertise required", _ai("human_ai_interaction")),
    ("11a(v)", "Output of the AI intervention", _ai("output")),
    ("11a(vi)", "How AI output contributes to decision-making", _ai("human_ai_interaction")),
    ("12", "Primary, secondary and other outcomes with time points",
     lambda c: ("answered", "; ".join(f"{o.role}: {label(o.instrument)} at {c.data.protocol.visit_name(o.visit)}"
                                     for o in c.data.protocol.outcomes))),
    ("13", "Participant timeline (visit schedule)",
     lambda c: ("answered", "; ".join(f"{v.name} day {v.day} +/- {v.window_days}" for v in c.data.protocol.visits))),
    ("14", "Target sample size and how it was determined",
     lambda c: ("answered", f"{c.data.protocol.target_sample_size} (planning by simulation, attunexr trial "
                            "simulate; simulated effects are assumptions)")),
    ("16a", "Allocation sequence generation (method, stratification, blocks)",
     lambda c: ("answered", f"stratified permuted blocks of random size {_or(c.data.protocol.block_sizes)} x arm "
                            f"ratio sum, by site{_and_factors(c)}, seed recorded "
                            f"(SHA-256 {c.data.seed_fingerprint[:12]}...)")),
    ("16b", "Allocation concealment mechanism",
     lambda c: ("answered", "sequence sealed with AES-256-GCM per slot; revealed one at a time after enrolment; "
                            "every reveal in the audit chain")),
    ("17a", "Who is blinded and how", _proto("blinding", "blinding")),
    ("20a", "Statistical methods for primary and secondary outcomes",
     lambda c: ("answered", c.data.protocol.analysis.primary_model)),
    ("20c", "Handling of non-adherence and missing data",
     lambda c: ("answered", c.data.protocol.analysis.missing_data)),
    ("22", "Plans for collecting, assessing and reporting harms", _proto("safety_monitoring", "safety monitoring")),
    ("22(AI)", "Plans to identify and analyse AI performance errors", _ai("error_handling")),
    ("29(AI)", "Whether and how the AI intervention and its code can be accessed", _code),
]

RATE_XR: list[tuple[str, str, Answer]] = [
    ("XR-1", "XR technology type (VR/AR/MR) stated in title or abstract",
     lambda c: ("answered", "virtual reality") if re.search(r"virtual[ -]reality", c.data.protocol.title.lower())
     or "vr" in c.data.protocol.title.lower().split() else ("missing", "title does not name the XR type")),
    ("XR-2", "Hardware: head-mounted display, trackers, sensors", _xr("hardware")),
    ("XR-3", "Software: application, version, content", _xr("software")),
    ("XR-4", "Development phase of the XR intervention (e.g. VR-CORE phase)", _xr("vr_core_phase")),
    ("XR-5", "Setting and supervision of XR use", _xr("setting")),
    ("XR-6", "Dose: number and duration of XR sessions planned", _xr("session_dose")),
    ("XR-7", "Dose delivered: sessions received, exposure time", _dose),
    ("XR-8", "Users' training and familiarisation with XR",
     lambda c: ("missing", "training and familiarisation of participants and staff not recorded")),
    ("XR-9", "Cybersickness: how it was measured", _xr("cybersickness_monitoring")),
    ("XR-10", "Cybersickness and other XR-related adverse events: results", _cybersickness_results),
    ("XR-11", "Presence/immersion: how it was measured", _xr("presence")),
    ("XR-12", "Presence/immersion: results", _presence_results),
    ("XR-13", "Technical problems and failures during XR sessions",
     lambda c: ("missing", "technical failures not recorded in a simulated trial") if c.data.simulated
     else ("missing", "technical failures not yet summarised")),
    ("XR-14", "Usability and acceptability of the XR intervention",
     lambda c: ("missing", "no usability instrument in the protocol")),
    ("XR-15", "Human factors: who operated the XR system, clinician involvement", _ai("human_ai_interaction")),
    ("XR-16", "Accessibility and exclusions due to XR (e.g. motion sickness, vision)", _eligibility),
    ("XR-17", "Cost of the XR hardware and software",
     lambda c: ("answered", "cost inputs recorded per participant (staff, equipment)")
     if any(p.cost for p in c.data.participants) else ("missing", "no cost inputs")),
]


def _fill(name: str, ref: str, items: list[tuple[str, str, Answer]], ctx: _Ctx) -> Checklist:
    out = []
    for iid, topic, fn in items:
        status, answer = fn(ctx)
        out.append(ChecklistItem(iid, topic, status, answer))
    return Checklist(name, ref, out)


def fill_checklists(data: TrialData, flow: ConsortFlow, analysis: TrialAnalysis | None) -> dict[str, Checklist]:
    """Answer CONSORT-AI, SPIRIT-AI and RATE-XR from the protocol, the flow and the analysis."""
    ctx = _Ctx(data, flow, analysis)
    return {
        "consort_ai": _fill("CONSORT-AI", "Liu X, Cruz Rivera S, et al. Nat Med 2020;26:1364-74", CONSORT_AI, ctx),
        "spirit_ai": _fill("SPIRIT-AI", "Cruz Rivera S, Liu X, et al. Nat Med 2020;26:1351-63", SPIRIT_AI, ctx),
        "rate_xr": _fill("RATE-XR", "Vlake JH, et al. RATE-XR reporting guideline for early-phase clinical "
                                    "evaluation of extended reality, 2024", RATE_XR, ctx),
    }
