"""Request and response bodies of the REST API (pydantic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "ERROR_RESPONSES",
    "MAX_ID", "MODEL_NAME_PATTERN", "ClinicIn", "ClinicOut", "ConsentIn", "ConsentOut", "ControllerPlan",
    "DecisionIn", "ErrorOut", "LevelIn", "LoginOut", "NoteIn", "PasswordChangeIn", "PatientIn", "PatientOut",
    "RevokedOut", "SafetyPlan", "SessionOut", "SessionPlanIn", "SsqIn", "SudsIn", "TokenIn", "TokenOut", "UserIn",
    "UserOut", "UtcDatetime",
]

MAX_ID = 2_147_483_647  # the largest id a PostgreSQL INTEGER column holds
MAX_PASSWORD = 1024
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


def _as_utc(value: datetime) -> datetime:
    """Times are stored in UTC; SQLite hands them back without a zone, which RFC 3339 requires."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class _In(BaseModel):
    """Request bodies: finite numbers only (JSON has no NaN or infinity)."""

    model_config = ConfigDict(allow_inf_nan=False)


class ErrorOut(BaseModel):
    """An error: ``detail`` says what was wrong and what to do."""

    detail: str


class TokenIn(_In):
    username: str = Field(max_length=120)
    password: str = Field(max_length=MAX_PASSWORD)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str


class ClinicIn(_In):
    name: str = Field(min_length=1, max_length=200)


class ClinicOut(BaseModel):
    id: int
    name: str


class UserIn(_In):
    """A new account; the password must pass the policy (at least 12 characters, not a common password, not
    containing the user name)."""

    username: str = Field(min_length=2, max_length=120, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=12, max_length=MAX_PASSWORD)
    role: Literal["clinician", "researcher", "admin", "coordinator", "assessor"]
    clinic_id: int | None = Field(None, ge=1, le=MAX_ID)


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    clinic_id: int | None
    active: bool


class PasswordChangeIn(_In):
    """Change one's own password: the current one, and a new one that passes the policy."""

    old_password: str = Field(max_length=MAX_PASSWORD)
    new_password: str = Field(min_length=12, max_length=MAX_PASSWORD)


class LoginOut(BaseModel):
    """One live login of a user (a browser or an API client)."""

    id: int
    kind: str
    created_at: UtcDatetime
    expires_at: UtcDatetime
    address: str | None
    current: bool


class RevokedOut(BaseModel):
    revoked: int


class PatientIn(_In):
    """A new patient; ``identifying`` (name, birth date, contact…) is stored encrypted, never shown to researchers."""

    identifying: dict[str, str] = Field(default_factory=dict)


class PatientOut(BaseModel):
    id: int
    pseudonym: str
    clinic_id: int
    created_at: UtcDatetime
    identifying: dict[str, str] | None = None


class ConsentIn(_In):
    scope: Literal["treatment", "research", "data_sharing"]
    granted: bool
    note: str = ""


class ConsentOut(BaseModel):
    id: int
    scope: str
    granted: bool
    note: str
    recorded_at: UtcDatetime
    recorded_by: int


class ControllerPlan(_In):
    """Controller mode and the clinician's bounds."""

    mode: Literal["manual", "propose", "auto"] = "propose"
    policy: Literal["arousal", "suds", "fixed"] = "arousal"
    max_level: int = Field(5, ge=0, le=1000)
    min_dwell_s: float = Field(60.0, ge=0)
    max_step: int = Field(1, ge=1, le=3)
    session_length_s: float | None = Field(1800.0, gt=0)
    window: tuple[float, float] = (0.35, 0.7)
    proposal_expiry_s: float = Field(120.0, gt=0)


class SafetyPlan(_In):
    """Safety thresholds."""

    arousal_ceiling: float = Field(0.9, gt=0, le=1)
    overload_s: float = Field(30.0, ge=0)
    suds_ceiling: float = Field(85.0, ge=0, le=100)
    signal_loss_s: float = Field(10.0, ge=0)
    hr_above_baseline_bpm: float = Field(40.0, gt=0)


class SessionPlanIn(_In):
    """A session plan: scenario, hierarchy (optional; the scenario's default otherwise), controller and safety."""

    scenario: Literal["heights", "spiders", "public_speaking"]
    levels: list[dict[str, Any]] | None = None
    start_level: int = Field(0, ge=0, le=1000)
    controller: ControllerPlan = Field(default_factory=lambda: ControllerPlan.model_validate({}))
    safety: SafetyPlan = Field(default_factory=lambda: SafetyPlan.model_validate({}))
    source: str = Field("virtual", pattern=r"^(virtual|client|replay:[A-Za-z0-9_-]+:[A-Za-z0-9_./-]+|"
                                           r"lsl:[A-Za-z0-9_. -]{1,64}(,[A-Za-z0-9_. -]{1,64}){0,7}|"
                                           r"ble:[0-9A-Fa-f:-]{12,36}(/ecg)?)$")
    speed: float | None = Field(None, gt=0, le=500)
    suds_every_s: float | None = Field(120.0, gt=0)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="virtual patient draw (default: the session id)")
    model: str = Field("stress", pattern=MODEL_NAME_PATTERN,
                       description="name of a model in the registry or in the operator's models folder (never a "
                                   "path)")


class SessionOut(BaseModel):
    id: int
    patient_id: int
    pseudonym: str
    scenario: str
    status: str
    plan: dict[str, Any]
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    ended_at: UtcDatetime | None


class DecisionIn(_In):
    reason: str = ""


class LevelIn(_In):
    level: int = Field(ge=0, le=1000)
    reason: str = "clinician choice"


class BoundsIn(_In):
    """Bounds a clinician may change while a session runs (omitted fields keep their value)."""

    model_config = ConfigDict(extra="forbid")
    max_level: int | None = Field(default=None, ge=0, le=50)
    max_step: int | None = Field(default=None, ge=1, le=10)
    min_dwell_s: float | None = Field(default=None, ge=0, le=3600)


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=4000)


class SudsIn(_In):
    value: float = Field(ge=0, le=100)


class SsqIn(_In):
    """Simulator Sickness Questionnaire: 16 items scored 0–3, before or after the session."""

    when: Literal["pre", "post"]
    items: list[Annotated[int, Field(ge=0, le=3)]] = Field(min_length=16, max_length=16)


#: Error answers every API router declares (FastAPI ``responses=``): the body is always ``{"detail": ...}``.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (400, "the request cannot be carried out as given"),
        (401, "not signed in, or the login ended"),
        (403, "signed in, but not allowed (role, or missing CSRF token for a cookie login)"),
        (404, "no such resource in the caller's clinic"),
        (409, "conflicts with the current state (e.g. session not running)"),
        (413, "request body too large"),
        (429, "too many failed sign-ins; see Retry-After"),
        (503, "the server is busy checking passwords; retry in a few seconds"),
    )}
