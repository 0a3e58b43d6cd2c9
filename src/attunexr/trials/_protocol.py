"""A trial protocol as data: sites, arms, eligibility, stratification, visits with windows, outcomes tied to
instruments, and the analysis plan.

The pydantic models are the single source of truth; the JSON Schema shipped beside this module
(``protocol.schema.json``, see :func:`protocol_schema`) is generated from them and guarded by a test. A protocol file
is JSON with ``"schema_version"``; a registered (locked) protocol is immutable, amendments are new versions.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.words import label

__all__ = [
    "PROTOCOL_SCHEMA_VERSION",
    "AnalysisPlan",
    "Arm",
    "EligibilityCriterion",
    "Outcome",
    "Protocol",
    "Site",
    "StratificationFactor",
    "Visit",
    "default_protocol",
    "load_protocol",
    "protocol_from_dict",
    "protocol_schema",
    "save_protocol",
]

#: Version of the protocol file format (bump when the schema changes incompatibly).
PROTOCOL_SCHEMA_VERSION = "1"

_ID = r"^[a-z][a-z0-9_]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(_Strict):
    """A recruiting site."""

    id: str = Field(pattern=_ID)
    name: str
    country: str = ""


class Arm(_Strict):
    """A trial arm. ``policy`` names the exposure policy the arm delivers (``arousal``, ``fixed``) or ``none``."""

    id: str = Field(pattern=_ID)
    name: str
    description: str
    policy: Literal["arousal", "fixed", "suds", "none"]
    planned_sessions: int = Field(ge=0, le=100)
    ratio: int = Field(default=1, ge=1, le=10)


class EligibilityCriterion(_Strict):
    """An inclusion or exclusion criterion, optionally checkable on a baseline instrument score."""

    kind: Literal["inclusion", "exclusion"]
    text: str
    instrument: str | None = None
    min_score: float | None = None
    max_score: float | None = None


class StratificationFactor(_Strict):
    """A factor randomization is stratified by (in addition to site)."""

    id: str = Field(pattern=_ID)
    levels: tuple[str, ...] = Field(min_length=2)


class Visit(_Strict):
    """A scheduled visit: ``day`` after randomization, acceptable ``window_days`` either side, instruments given."""

    id: str = Field(pattern=_ID)
    name: str
    day: int = Field(ge=-60)
    window_days: int = Field(ge=0, le=120)
    instruments: tuple[str, ...] = ()
    kind: Literal["screening", "baseline", "treatment", "follow_up"]


class Outcome(_Strict):
    """A primary or secondary outcome: an instrument score at a visit."""

    id: str = Field(pattern=_ID)
    role: Literal["primary", "secondary", "harm", "process"]
    instrument: str
    visit: str
    description: str
    lower_is_better: bool = True


class AnalysisPlan(_Strict):
    """The pre-specified analysis."""

    estimand: str
    primary_model: str
    comparison: tuple[str, str] = Field(description="(experimental arm, comparator arm) of the primary contrast")
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    site_effect: Literal["fixed", "random"] = "fixed"
    missing_data: str
    sensitivity: tuple[str, ...] = ()
    responder_definition: str
    multiplicity: str = ""


class Protocol(_Strict):
    """A complete, versioned trial protocol."""

    schema_version: Literal["1"] = "1"
    id: str = Field(pattern=_ID)
    version: int = Field(ge=1)
    title: str
    registration: str = ""
    condition: str
    design: str
    sites: tuple[Site, ...] = Field(min_length=1)
    arms: tuple[Arm, ...] = Field(min_length=2)
    eligibility: tuple[EligibilityCriterion, ...] = ()
    target_sample_size: int = Field(ge=2)
    stratification: tuple[StratificationFactor, ...] = ()
    block_sizes: tuple[int, ...] = Field(default=(1, 2), min_length=1,
                                         description="block sizes as multiples of the sum of the arm ratios")
    visits: tuple[Visit, ...] = Field(min_length=2)
    outcomes: tuple[Outcome, ...] = Field(min_length=1)
    analysis: AnalysisPlan
    ai_component: dict[str, str] = Field(default_factory=dict)
    xr_component: dict[str, str] = Field(default_factory=dict)
    blinding: str = ""
    safety_monitoring: str = ""
    amendment_note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        for kind, items in (("site", self.sites), ("arm", self.arms), ("visit", self.visits),
                            ("outcome", self.outcomes), ("stratification factor", self.stratification)):
            ids = [x.id for x in items]
            dup = sorted({i for i in ids if ids.count(i) > 1})
            if dup:
                raise ValueError(f"{kind} ids must be unique; repeated: {dup}")
        visits = {v.id for v in self.visits}
        arms = {a.id for a in self.arms}
        for o in self.outcomes:
            if o.visit not in visits:
                raise ValueError(f"outcome {o.id!r} refers to unknown visit {o.visit!r}; visits: {sorted(visits)}")
        if sum(1 for o in self.outcomes if o.role == "primary") != 1:
            raise ValueError("exactly one outcome must have role 'primary'")
        if not any(v.kind == "baseline" for v in self.visits):
            raise ValueError("the visit schedule needs a 'baseline' visit")
        for a in self.analysis.comparison:
            if a not in arms:
                raise ValueError(f"analysis comparison names unknown arm {a!r}; arms: {sorted(arms)}")
        if any(b < 1 for b in self.block_sizes):
            raise ValueError("block sizes are positive multiples of the arm-ratio sum")
        return self

    # convenience -------------------------------------------------------------------------------------------
    @property
    def primary(self) -> Outcome:
        return next(o for o in self.outcomes if o.role == "primary")

    def visit(self, visit_id: str) -> Visit:
        for v in self.visits:
            if v.id == visit_id:
                return v
        raise ConfigurationError(f"protocol {self.id} v{self.version} has no visit {visit_id!r}")

    def visit_name(self, visit_id: str) -> str:
        """The visit's name as the schedule gives it (``"6-month follow-up"``); an unknown id reads as words."""
        return next((v.name for v in self.visits if v.id == visit_id), label(visit_id))

    def arm(self, arm_id: str) -> Arm:
        for a in self.arms:
            if a.id == arm_id:
                return a
        raise ConfigurationError(f"protocol {self.id} v{self.version} has no arm {arm_id!r}")

    def baseline_visit(self) -> Visit:
        return next(v for v in self.visits if v.kind == "baseline")

    def with_sites(self, n_sites: int) -> Protocol:
        """A copy with ``n_sites`` generic sites (for planning by simulation)."""
        if n_sites < 1:
            raise ConfigurationError(f"need at least one site, got {n_sites}")
        sites = tuple(Site(id=f"site_{i + 1}", name=f"Site {i + 1}") for i in range(n_sites))
        return self.model_copy(update={"sites": sites})

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def protocol_schema() -> dict[str, Any]:
    """The JSON Schema of protocol files shipped with attunexr (``trials/protocol.schema.json``)."""
    text = resources.files("attunexr.trials").joinpath("protocol.schema.json").read_text(encoding="utf-8")
    out: dict[str, Any] = json.loads(text)
    return out


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate a protocol file (JSON); errors name the file and the field."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataFormatError(p, "protocol file not found") from err
    except json.JSONDecodeError as err:
        raise DataFormatError(p, f"not valid JSON: {err}") from err
    return protocol_from_dict(data, source=p)


def protocol_from_dict(data: Any, source: str | Path | None = None) -> Protocol:
    """Validate a protocol given as parsed JSON."""
    if not isinstance(data, dict):
        raise DataFormatError(source, "a protocol is a JSON object")
    if data.get("schema_version") not in (None, PROTOCOL_SCHEMA_VERSION):
        raise DataFormatError(source, f"protocol schema_version {data.get('schema_version')!r} is not supported "
                                      f"(this attunexr reads version {PROTOCOL_SCHEMA_VERSION})")
    try:
        return Protocol.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "protocol"
        raise DataFormatError(source, f"invalid protocol at {where}: {first['msg']}") from err


def save_protocol(protocol: Protocol, path: str | Path) -> Path:
    """Write a protocol as pretty JSON (atomically)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(protocol.to_json_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(p)
    return p


def default_protocol() -> Protocol:
    """The three-arm template: AI-adaptive VR exposure vs standard VR exposure (fixed schedule) vs usual care."""
    return Protocol(
        id="attune_acro",
        version=1,
        title="AI-adaptive versus standard virtual-reality exposure versus usual care for fear of heights: "
              "a multicentre, three-arm, assessor-blinded randomized controlled trial",
        condition="Specific phobia, natural environment type (acrophobia), adults",
        design="Parallel-group, three-arm, 1:1:1, stratified permuted blocks, assessor-blinded, multicentre",
        sites=(Site(id="site_1", name="Site 1"), Site(id="site_2", name="Site 2"), Site(id="site_3", name="Site 3")),
        arms=(
            Arm(id="ai_adaptive", name="AI-adaptive VR exposure", policy="arousal", planned_sessions=8,
                description="Eight 20-minute VR height-exposure sessions; the level is proposed by the "
                            "arousal-adaptive policy from physiology and SUDS, within clinician bounds, and "
                            "approved by the supervising clinician."),
            Arm(id="standard_vr", name="Standard VR exposure (fixed schedule)", policy="fixed", planned_sessions=8,
                description="Eight 20-minute VR height-exposure sessions stepping up on a fixed schedule, "
                            "same clinician bounds and safety rules, no AI proposals."),
            Arm(id="usual_care", name="Usual care / waitlist", policy="none", planned_sessions=0,
                description="Usual care from the referring service; VR exposure offered after the 6-month "
                            "follow-up."),
        ),
        eligibility=(
            EligibilityCriterion(kind="inclusion", text="Age 18-70 years"),
            EligibilityCriterion(kind="inclusion", text="Acrophobia Questionnaire anxiety score >= 45",
                                 instrument="aq_anxiety", min_score=45),
            EligibilityCriterion(kind="exclusion", text="Current psychosis, bipolar disorder or substance "
                                                        "dependence"),
            EligibilityCriterion(kind="exclusion", text="PHQ-9 item 9 > 0 at screening (referred for risk "
                                                        "assessment)", instrument="phq9"),
            EligibilityCriterion(kind="exclusion", text="Epilepsy, vestibular disorder or severe motion "
                                                        "sickness susceptibility"),
        ),
        target_sample_size=300,
        stratification=(StratificationFactor(id="severity", levels=("moderate", "severe")),),
        block_sizes=(1, 2),
        visits=(
            Visit(id="screening", name="Screening", day=-14, window_days=14, instruments=("aq_anxiety", "phq9"),
                  kind="screening"),
            Visit(id="baseline", name="Baseline", day=0, window_days=0, instruments=("aq_anxiety", "phq9", "gad7"),
                  kind="baseline"),
            Visit(id="mid_treatment", name="Mid-treatment (after session 4)", day=14, window_days=7,
                  instruments=("ssq",), kind="treatment"),
            Visit(id="post", name="Post-treatment", day=35, window_days=7,
                  instruments=("aq_anxiety", "phq9", "gad7", "ipq"), kind="follow_up"),
            Visit(id="fu_1m", name="1-month follow-up", day=65, window_days=10, instruments=("aq_anxiety",),
                  kind="follow_up"),
            Visit(id="fu_3m", name="3-month follow-up", day=125, window_days=14, instruments=("aq_anxiety", "phq9"),
                  kind="follow_up"),
            Visit(id="fu_6m", name="6-month follow-up", day=215, window_days=21, instruments=("aq_anxiety", "phq9"),
                  kind="follow_up"),
        ),
        outcomes=(
            Outcome(id="aq_post", role="primary", instrument="aq_anxiety", visit="post",
                    description="Acrophobia Questionnaire anxiety subscale (0-120) at post-treatment"),
            Outcome(id="aq_6m", role="secondary", instrument="aq_anxiety", visit="fu_6m",
                    description="Acrophobia Questionnaire anxiety subscale at 6 months"),
            Outcome(id="phq9_post", role="secondary", instrument="phq9", visit="post",
                    description="PHQ-9 depression score at post-treatment"),
            Outcome(id="ssq_mid", role="harm", instrument="ssq", visit="mid_treatment",
                    description="Simulator Sickness Questionnaire total after session 4"),
            Outcome(id="ipq_post", role="process", instrument="ipq", visit="post",
                    description="Igroup Presence Questionnaire at the end of treatment"),
        ),
        analysis=AnalysisPlan(
            estimand="Treatment-policy (ITT) difference in mean AQ-anxiety at post-treatment between AI-adaptive "
                     "and standard VR exposure, in all randomized participants, regardless of adherence",
            primary_model="Linear mixed model of AQ-anxiety at all post-baseline visits: arm x visit, baseline "
                          "AQ-anxiety, site (fixed), stratification factors; random intercept per participant; "
                          "REML",
            comparison=("ai_adaptive", "standard_vr"),
            site_effect="fixed",
            missing_data="Missing outcomes assumed missing at random given arm, site, baseline and observed "
                         "visits (handled by the mixed model); multiple imputation sensitivity analysis",
            sensitivity=("per_protocol", "multiple_imputation"),
            responder_definition="Reliable improvement on AQ-anxiety (Jacobson-Truax RCI < -1.96) from baseline "
                                 "to post-treatment",
            multiplicity="One primary contrast; secondary contrasts reported with unadjusted 95 % CIs",
        ),
        ai_component={
            "name": "attunexr arousal-adaptive exposure policy",
            "version": "0.1.0",
            "inputs": "Window features of heart rate and skin conductance, SUDS prompts, signal-quality flags",
            "output": "Proposed exposure-level change with rationale; clinician approves or overrides",
            "human_ai_interaction": "Clinician-in-the-loop: every proposal approved, rejected or overridden",
            "error_handling": "No escalation on poor signal quality or model abstention; safety monitors "
                              "de-escalate, pause or end",
            "model_card": "models/registry (attunexr model cards)",
        },
        xr_component={
            "hardware": "Standalone or PC-tethered head-mounted display; chest-strap ECG; wrist EDA",
            "software": "attunexr WebXR heights scenario (8-level hierarchy)",
            "setting": "Outpatient clinic, clinician present",
            "vr_core_phase": "VR3 (randomized controlled trial)",
            "cybersickness_monitoring": "FMS every 2 minutes during exposure, SSQ after session 4",
            "session_dose": "8 sessions of 20 minutes exposure",
            "presence": "IPQ at post-treatment",
        },
        blinding="Outcome assessors are blinded to arm (blinded-assessor role never sees allocation); "
                 "participants and clinicians cannot be blinded",
        safety_monitoring="Adverse events recorded in the attunexr registry (seriousness, relatedness, "
                          "expectedness); PHQ-9 item 9 > 0 alerts the responsible clinician at once",
    )
