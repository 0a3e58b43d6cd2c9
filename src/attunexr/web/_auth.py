"""Authentication (cookie sessions with CSRF tokens, or bearer tokens) and authorization helpers.

A browser signs in with a form and gets an HttpOnly, SameSite=Lax cookie; every state-changing request made with
that cookie must carry the session's CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field), the
synchronizer-token pattern of the OWASP CSRF prevention cheat sheet. API clients use ``POST /api/auth/token`` and
send ``Authorization: Bearer <token>``; bearer requests need no CSRF token. Only SHA-256 hashes of tokens are
stored. Patient data is visible only within the caller's clinic; other clinics' records answer 404 so that their
existence does not leak.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, Request, WebSocket
from sqlalchemy import select
from sqlalchemy.orm import Session

from attunexr.store import (
    LoginSession,
    Patient,
    TherapySession,
    User,
    append_audit,
    hash_password,
    verify_password,
)

__all__ = [
    "COOKIE",
    "Principal",
    "authenticate",
    "check_csrf",
    "create_login",
    "patient_for",
    "principal_from_token",
    "require_role",
    "session_for",
]

COOKIE = "attunexr_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Principal:
    """The signed-in caller."""

    user_id: int
    username: str
    role: str
    clinic_id: int | None
    csrf_token: str
    kind: str  # "cookie" | "bearer"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(token: str) -> str:
    """The CSRF token of a login, derived from its secret token (HMAC-SHA256 with a fixed label); never stored."""
    return hmac.new(token.encode(), b"attunexr/csrf", hashlib.sha256).hexdigest()[:32]


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    return _DUMMY[0]


def authenticate(db: Session, username: str, password: str) -> User | None:
    user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        # spend comparable time so that user names cannot be probed by timing
        verify_password(_dummy_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


def create_login(db: Session, user: User, kind: str, hours: float) -> tuple[str, str]:
    """Create a login; returns ``(token, csrf_token)``. Only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    csrf = csrf_for(token)
    db.add(LoginSession(token_hash=_hash(token), csrf_token="", kind=kind, user_id=user.id,
                        expires_at=datetime.now(UTC) + timedelta(hours=hours)))
    db.commit()
    append_audit(db, actor=user.username, actor_id=user.id, action="login", resource="user", resource_id=user.id,
                 clinic_id=user.clinic_id, detail={"kind": kind})
    return token, csrf


def principal_from_token(db: Session, token: str | None) -> Principal | None:
    if not token:
        return None
    row = db.execute(select(LoginSession).where(LoginSession.token_hash == _hash(token))).scalar_one_or_none()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires < datetime.now(UTC) or not row.user.active:
        return None
    u = row.user
    return Principal(u.id, u.username, u.role, u.clinic_id, csrf_for(token), row.kind)


def token_from(conn: Request | WebSocket) -> str | None:
    auth = conn.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return conn.cookies.get(COOKIE)


def check_csrf(principal: Principal, supplied: str | None) -> None:
    if principal.kind != "cookie":
        return
    if not supplied or not hmac.compare_digest(supplied, principal.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def require_role(principal: Principal, *roles: str) -> None:
    if principal.role not in roles:
        raise HTTPException(403, f"this needs the role {' or '.join(roles)}; you are {principal.role}")


def patient_for(db: Session, principal: Principal, patient_id: int, action: str) -> Patient:
    """The patient if the caller may see it (clinician or researcher of the same clinic), else 404; audited."""
    patient = db.get(Patient, patient_id)
    if (patient is None or principal.role not in ("clinician", "researcher")
            or patient.clinic_id != principal.clinic_id):
        append_audit(db, actor=principal.username, actor_id=principal.user_id, action=f"denied:{action}",
                     resource="patient", resource_id=patient_id, clinic_id=principal.clinic_id)
        raise HTTPException(404, f"no patient {patient_id} in your clinic")
    append_audit(db, actor=principal.username, actor_id=principal.user_id, action=action, resource="patient",
                 resource_id=patient.id, clinic_id=patient.clinic_id,
                 detail={"role": principal.role})
    return patient


def session_for(db: Session, principal: Principal, session_id: int, action: str, *, control: bool = False
                ) -> TherapySession:
    """The therapy session if the caller may see it (``control``: clinicians only), else 404/403; audited."""
    ts = db.get(TherapySession, session_id)
    if (ts is None or principal.role not in ("clinician", "researcher")
            or ts.clinic_id != principal.clinic_id):
        append_audit(db, actor=principal.username, actor_id=principal.user_id, action=f"denied:{action}",
                     resource="session", resource_id=session_id, clinic_id=principal.clinic_id)
        raise HTTPException(404, f"no session {session_id} in your clinic")
    if control and principal.role != "clinician":
        append_audit(db, actor=principal.username, actor_id=principal.user_id, action=f"denied:{action}",
                     resource="session", resource_id=session_id, clinic_id=ts.clinic_id)
        raise HTTPException(403, "only a clinician can steer a session")
    append_audit(db, actor=principal.username, actor_id=principal.user_id, action=action, resource="session",
                 resource_id=ts.id, clinic_id=ts.clinic_id, detail={"patient": ts.patient_id,
                                                                    "role": principal.role})
    return ts
