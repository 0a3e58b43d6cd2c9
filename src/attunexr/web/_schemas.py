"""Request and response bodies of the REST API (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ClinicIn", "ClinicOut", "ConsentIn", "ConsentOut", "ControllerPlan", "LevelIn", "NoteIn", "PatientIn",
    "PatientOut", "SafetyPlan", "SessionOut", "SessionPlanIn", "SsqIn", "SudsIn", "TokenIn", "TokenOut", "UserIn",
    "UserOut", "DecisionIn",
]


class TokenIn(BaseModel):
    username: str
    password: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str


class ClinicIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class ClinicOut(BaseModel):
    id: int
    name: str


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8)
    role: Literal["clinician", "researcher", "admin", "coordinator", "assessor"]
    clinic_id: int | None = None


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    clinic_id: int | None
    active: bool


class PatientIn(BaseModel):
    """A new patient; ``identifying`` (name, birth date, contact…) is stored encrypted, never shown to researchers."""

    identifying: dict[str, str] = Field(default_factory=dict)


class PatientOut(BaseModel):
    id: int
    pseudonym: str
    clinic_id: int
    created_at: datetime
    identifying: dict[str, str] | None = None


class ConsentIn(BaseModel):
    scope: Literal["treatment", "research", "data_sharing"]
    granted: bool
    note: str = ""


class ConsentOut(BaseModel):
    id: int
    scope: str
    granted: bool
    note: str
    recorded_at: datetime
    recorded_by: int


class ControllerPlan(BaseModel):
    """Controller mode and the clinician's bounds."""

    mode: Literal["manual", "propose", "auto"] = "propose"
    policy: Literal["arousal", "suds", "fixed"] = "arousal"
    max_level: int = Field(5, ge=0)
    min_dwell_s: float = Field(60.0, ge=0)
    max_step: int = Field(1, ge=1, le=3)
    session_length_s: float | None = Field(1800.0, gt=0)
    window: tuple[float, float] = (0.35, 0.7)
    proposal_expiry_s: float = Field(120.0, gt=0)


class SafetyPlan(BaseModel):
    """Safety thresholds."""

    arousal_ceiling: float = Field(0.9, gt=0, le=1)
    overload_s: float = Field(30.0, ge=0)
    suds_ceiling: float = Field(85.0, ge=0, le=100)
    signal_loss_s: float = Field(10.0, ge=0)
    hr_above_baseline_bpm: float = Field(40.0, gt=0)


class SessionPlanIn(BaseModel):
    """A session plan: scenario, hierarchy (optional; the scenario's default otherwise), controller and safety."""

    scenario: Literal["heights", "spiders", "public_speaking"]
    levels: list[dict[str, Any]] | None = None
    start_level: int = Field(0, ge=0)
    controller: ControllerPlan = Field(default_factory=lambda: ControllerPlan.model_validate({}))
    safety: SafetyPlan = Field(default_factory=lambda: SafetyPlan.model_validate({}))
    source: str = Field("virtual", pattern=r"^(virtual|client|replay:[A-Za-z0-9_-]+:[A-Za-z0-9_./-]+|"
                                           r"lsl:[A-Za-z0-9_. -]{1,64}(,[A-Za-z0-9_. -]{1,64}){0,7}|"
                                           r"ble:[0-9A-Fa-f:-]{12,36}(/ecg)?)$")
    speed: float | None = Field(None, gt=0, le=500)
    suds_every_s: float | None = Field(120.0, gt=0)
    seed: int | None = Field(None, ge=0, description="virtual patient draw (default: the session id)")
    model: str = Field("stress", pattern=r"^[A-Za-z0-9_.-]+$", description="registered detector for the estimate")


class SessionOut(BaseModel):
    id: int
    patient_id: int
    pseudonym: str
    scenario: str
    status: str
    plan: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class DecisionIn(BaseModel):
    reason: str = ""


class LevelIn(BaseModel):
    level: int = Field(ge=0)
    reason: str = "clinician choice"


class BoundsIn(BaseModel):
    """Bounds a clinician may change while a session runs (omitted fields keep their value)."""

    model_config = ConfigDict(extra="forbid")
    max_level: int | None = Field(default=None, ge=0, le=50)
    max_step: int | None = Field(default=None, ge=1, le=10)
    min_dwell_s: float | None = Field(default=None, ge=0, le=3600)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class SudsIn(BaseModel):
    value: float = Field(ge=0, le=100)


class SsqIn(BaseModel):
    """Simulator Sickness Questionnaire: 16 items scored 0–3, before or after the session."""

    when: Literal["pre", "post"]
    items: list[int] = Field(min_length=16, max_length=16)
