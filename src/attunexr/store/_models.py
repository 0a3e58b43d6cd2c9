"""SQLAlchemy 2 ORM models of the attunexr store.

Tables: clinics, users, login sessions (cookie or bearer), patients (pseudonym + encrypted identifying fields),
consents, therapy sessions (the plan and its outcome), session events (the timeline a report is made from) and the
keyed hash-chained audit log.

At rest, every clinical value is encrypted (:class:`EncryptedJSON` / :class:`EncryptedText`, see ``_fieldcrypt``):
consent notes, session plans and summaries, VR-client tokens and every session event payload. In clear stay only
what queries, ordering, access control and the audit need: ids and foreign keys, times, consent scope and granted
flag, session scenario/status/source, event kind and actor, and the audit log (which never holds patient data).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from attunexr.store._fieldcrypt import EncryptedJSON, EncryptedText, token_digest

__all__ = [
    "AuditEntry",
    "Base",
    "Clinic",
    "Consent",
    "LoginAttempt",
    "LoginSession",
    "Patient",
    "ROLES",
    "SessionEvent",
    "TherapySession",
    "TrialAdverseEvent",
    "TrialAllocationSlot",
    "TrialParticipant",
    "TrialStudy",
    "TrialVisit",
    "User",
]

#: ``coordinator`` runs trials (enrols, randomizes); ``assessor`` is the blinded outcome assessor (never sees arms)
ROLES = ("clinician", "researcher", "admin", "coordinator", "assessor")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every attunexr table."""

    type_annotation_map = {dict[str, Any]: JSON}


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    clinic: Mapped[Clinic | None] = relationship()


class LoginSession(Base):
    """A signed-in browser (cookie + CSRF token) or an API client (bearer token); only the token's hash is kept.

    A login ends when it expires or is revoked (``revoked_at`` set: sign-out, the user ending their other logins,
    a password change, an admin revoking the user's logins or deactivating the user); the row is kept for the
    user's list of logins and removed some time after it ended.
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))  # "cookie" | "bearer"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """One sign-in attempt (for throttling per account and per client address); kept for a day."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(120), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    success: Mapped[bool] = mapped_column(Boolean)


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(40), unique=True)
    identifying_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    scope: Mapped[str] = mapped_column(String(40))  # treatment | research | data_sharing
    granted: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(EncryptedText("consents.note"), default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TherapySession(Base):
    """A planned, running or finished VR exposure session."""

    __tablename__ = "therapy_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    scenario: Mapped[str] = mapped_column(String(40))
    plan: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("therapy_sessions.plan"))
    status: Mapped[str] = mapped_column(String(20), default="planned")
    source: Mapped[str] = mapped_column(String(120), default="virtual")
    # the VR client's bearer secret: encrypted (shown again to the clinician), looked up and compared by its hash
    vr_token: Mapped[str] = mapped_column(EncryptedText("therapy_sessions.vr_token"))
    vr_token_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    summary: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("therapy_sessions.summary"), default=dict)

    patient: Mapped[Patient] = relationship()

    @validates("vr_token")
    def _hash_vr_token(self, _key: str, token: str) -> str:
        self.vr_token_hash = token_digest(token)
        return token


class SessionEvent(Base):
    """One entry of a session's timeline: level change, estimate, proposal, decision, SUDS, alert, note, vitals."""

    __tablename__ = "session_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("therapy_sessions.id"), index=True)
    t: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    actor: Mapped[str] = mapped_column(String(120), default="system")
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("session_events.payload"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """One link of the audit chain: ``hash = HMAC-SHA256(audit key, prev_hash + canonical JSON of the entry)``."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    resource: Mapped[str] = mapped_column(String(60))
    resource_id: Mapped[str] = mapped_column(String(60), default="")
    clinic_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class TrialStudy(Base):
    """A trial in one coordinating clinic: the current protocol (JSON), its versions, and whether it is registered.

    A registered protocol is locked: changes are amendments (new versions, the earlier ones
    stored in ``versions``), never edits. ``sequence_version`` is the protocol version the sealed allocation sequence
    was generated under; ``seed_fingerprint`` the SHA-256 of the recorded seed (the seed itself is not stored).
    """

    __tablename__ = "trial_studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    protocol_id: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)
    protocol: Mapped[dict[str, Any]] = mapped_column(JSON)
    versions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | registered
    sequence_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seed_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TrialAllocationSlot(Base):
    """One sealed slot of the allocation sequence (AES-GCM ciphertext; bound to a participant once revealed)."""

    __tablename__ = "trial_allocation_slots"
    __table_args__ = (UniqueConstraint("study_id", "stratum", "idx"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("trial_studies.id"), index=True)
    stratum: Mapped[str] = mapped_column(String(200))
    idx: Mapped[int] = mapped_column(Integer)
    block: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("trial_participants.id"), nullable=True)
    revealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TrialParticipant(Base):
    """A person enrolled in a trial (study pseudonym; the arm is stored encrypted)."""

    __tablename__ = "trial_participants"
    __table_args__ = (UniqueConstraint("study_id", "patient_id"), UniqueConstraint("study_id", "code"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("trial_studies.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    site: Mapped[str] = mapped_column(String(40))
    strata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stratum: Mapped[str] = mapped_column(String(200))
    study_consent: Mapped[bool] = mapped_column(Boolean)
    treatment_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    characteristics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="enrolled")  # enrolled|randomized|withdrawn|lost
    arm_enc: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    randomized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_reason: Mapped[str] = mapped_column(String(200), default="")
    discontinued: Mapped[str] = mapped_column(String(200), default="")
    cost: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enrolled_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrialVisit(Base):
    """A trial visit that took place, its instrument scores, and a deviation when outside its window."""

    __tablename__ = "trial_visits"
    __table_args__ = (UniqueConstraint("participant_id", "visit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("trial_participants.id"), index=True)
    visit: Mapped[str] = mapped_column(String(40))
    day: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deviation: Mapped[str] = mapped_column(String(300), default="")
    entered_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TrialAdverseEvent(Base):
    """An adverse event of a trial participant (fields of :class:`attunexr.safety.AdverseEvent`)."""

    __tablename__ = "trial_adverse_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("trial_participants.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("therapy_sessions.id"), nullable=True)
    type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))
    serious: Mapped[bool] = mapped_column(Boolean)
    relatedness: Mapped[str] = mapped_column(String(20))
    expected: Mapped[bool] = mapped_column(Boolean)
    description: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
