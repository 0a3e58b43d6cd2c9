"""Authentication (cookie sessions with CSRF tokens, or bearer tokens), sign-in throttling, ending logins, and
authorization helpers.

A browser signs in with a form and gets an HttpOnly, SameSite=Lax cookie; every state-changing request made with
that cookie must carry the session's CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field), the
synchronizer-token pattern of the OWASP CSRF prevention cheat sheet. API clients use ``POST /api/auth/token`` and
send ``Authorization: Bearer <token>``; bearer requests need no CSRF token. A token is accepted only the way it
was issued: a bearer token only in the ``Authorization`` header, a cookie login only as the cookie (so a bearer
token placed in the cookie cannot skip the CSRF check). Only SHA-256 hashes of tokens are stored. A login ends
server-side when it expires or is revoked (sign-out, the user ending their other logins, a password change, an
admin revoking the user's logins or deactivating the user).

Sign-in is throttled per user name and per client address (OWASP authentication cheat sheet): after
``Settings.login_failures_per_account`` failures for one user name since its last success, or
``Settings.login_failures_per_address`` failures from one address, within ``Settings.login_window_s``, further
attempts are refused with :class:`LoginThrottledError` (HTTP 429 with ``Retry-After``) without checking the
password, until the oldest counted failure leaves the window.

Patient data is visible only within the caller's clinic; other clinics' records answer 404 so that their existence
does not leak.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, Request, WebSocket
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from attunexr.store import (
    LoginAttempt,
    LoginSession,
    Patient,
    TherapySession,
    User,
    append_audit,
    hash_password,
    verify_password,
)
from attunexr.web._settings import Settings

__all__ = [
    "COOKIE",
    "LoginThrottledError",
    "Principal",
    "SuppliedToken",
    "active_logins",
    "authenticate",
    "check_csrf",
    "client_address",
    "create_login",
    "patient_for",
    "principal_from_token",
    "require_role",
    "revoke_logins",
    "session_for",
    "sign_in",
    "token_from",
]

logger = logging.getLogger(__name__)

COOKIE = "attunexr_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
ATTEMPTS_KEPT = timedelta(days=1)
ENDED_LOGINS_KEPT = timedelta(days=30)


@dataclass(frozen=True)
class Principal:
    """The signed-in caller."""

    user_id: int
    username: str
    role: str
    clinic_id: int | None
    csrf_token: str
    kind: str  # "cookie" | "bearer"
    login_id: int = 0


@dataclass(frozen=True)
class SuppliedToken:
    """A login token as a request carried it: ``via`` is ``"bearer"`` (Authorization header) or ``"cookie"``."""

    value: str
    via: str


class LoginThrottledError(Exception):
    """Too many failed sign-ins for this user name or from this address; retry after ``retry_after_s`` seconds."""

    def __init__(self, scope: str, retry_after_s: int) -> None:
        self.scope, self.retry_after_s = scope, retry_after_s
        at = (datetime.now(UTC) + timedelta(seconds=retry_after_s)).strftime("%H:%M:%S UTC")
        what = "for this account" if scope == "account" else "from your network address"
        super().__init__(f"too many failed sign-ins {what}; try again in {retry_after_s} seconds (at {at})")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(token: str) -> str:
    """The CSRF token of a login, derived from its secret token (HMAC-SHA256 with a fixed label); never stored."""
    return hmac.new(token.encode(), b"attunexr/csrf", hashlib.sha256).hexdigest()[:32]


def _aware(dt: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC); PostgreSQL aware ones."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    return _DUMMY[0]


def authenticate(db: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else ``None`` (no throttling: see :func:`sign_in`)."""
    user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        # spend comparable time so that user names cannot be probed by timing
        verify_password(_dummy_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


def client_address(conn: Request | WebSocket) -> str:
    """The client's address (uvicorn sets it from ``X-Forwarded-For`` only for trusted proxies)."""
    return (conn.client.host if conn.client else "unknown")[:64]


def _throttle_key(username: str) -> str:
    return username.strip().lower()[:120]


def _wait_s(fails: list[datetime], limit: int, window: timedelta, now: datetime) -> int | None:
    if limit <= 0 or len(fails) < limit:
        return None
    oldest_counted = _aware(fails[len(fails) - limit])
    return max(1, int((oldest_counted + window - now).total_seconds()) + 1)


def _throttle_wait(db: Session, key: str, address: str, settings: Settings) -> tuple[str, int] | None:
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.login_window_s)
    since = now - window
    last_ok = db.execute(select(func.max(LoginAttempt.at)).where(
        LoginAttempt.username == key, LoginAttempt.success.is_(True), LoginAttempt.at >= since)).scalar_one()
    acct_since = max(since, _aware(last_ok)) if last_ok is not None else since
    acct = list(db.execute(select(LoginAttempt.at).where(
        LoginAttempt.username == key, LoginAttempt.success.is_(False), LoginAttempt.at > acct_since)
        .order_by(LoginAttempt.at)).scalars())
    wait = _wait_s(acct, settings.login_failures_per_account, window, now)
    if wait is not None:
        return "account", wait
    addr = list(db.execute(select(LoginAttempt.at).where(
        LoginAttempt.address == address, LoginAttempt.success.is_(False), LoginAttempt.at > since)
        .order_by(LoginAttempt.at)).scalars())
    wait = _wait_s(addr, settings.login_failures_per_address, window, now)
    return ("address", wait) if wait is not None else None


def sign_in(db: Session, username: str, password: str, address: str, settings: Settings,
            action: str = "login") -> User | None:
    """Check a user name and password with throttling; every attempt is counted, failures are audited.

    Returns the user, or ``None`` for a wrong name or password. Raises :class:`LoginThrottledError` (without
    checking the password) while the account or the address is throttled.
    """
    key = _throttle_key(username)
    throttled = _throttle_wait(db, key, address, settings)
    if throttled is not None:
        logger.warning("%s refused for %r from %s: throttled (%s)", action, key, address, throttled[0])
        raise LoginThrottledError(*throttled)
    user = authenticate(db, username, password)
    now = datetime.now(UTC)
    db.add(LoginAttempt(at=now, username=key, address=address, success=user is not None))
    db.execute(delete(LoginAttempt).where(LoginAttempt.at < now - ATTEMPTS_KEPT))
    db.commit()
    if user is None:
        append_audit(db, actor=username[:120], action=f"{action}_failed", resource="user",
                     detail={"address": address})
        after = _throttle_wait(db, key, address, settings)
        if after is not None:
            append_audit(db, actor=username[:120], action="login_throttled", resource="user",
                         detail={"scope": after[0], "address": address, "retry_after_s": after[1]})
    return user


def create_login(db: Session, user: User, kind: str, hours: float, address: str | None = None) -> tuple[str, str]:
    """Create a login; returns ``(token, csrf_token)``. Only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    csrf = csrf_for(token)
    now = datetime.now(UTC)
    db.add(LoginSession(token_hash=_hash(token), csrf_token="", kind=kind, user_id=user.id,
                        expires_at=now + timedelta(hours=hours), address=address))
    # logins that ended long ago are of no use any more
    db.execute(delete(LoginSession).where(LoginSession.expires_at < now - ENDED_LOGINS_KEPT))
    db.execute(delete(LoginSession).where(LoginSession.revoked_at < now - ENDED_LOGINS_KEPT))
    db.commit()
    append_audit(db, actor=user.username, actor_id=user.id, action="login", resource="user", resource_id=user.id,
                 clinic_id=user.clinic_id, detail={"kind": kind})
    return token, csrf


def principal_from_token(db: Session, supplied: SuppliedToken | None) -> Principal | None:
    """The caller of a live login carried the way it was issued, else ``None``."""
    if supplied is None or not supplied.value:
        return None
    row = db.execute(select(LoginSession).where(LoginSession.token_hash == _hash(supplied.value))
                     ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.kind != supplied.via:
        return None
    if _aware(row.expires_at) < datetime.now(UTC) or not row.user.active:
        return None
    u = row.user
    return Principal(u.id, u.username, u.role, u.clinic_id, csrf_for(supplied.value), row.kind, row.id)


def token_from(conn: Request | WebSocket) -> SuppliedToken | None:
    auth = conn.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return SuppliedToken(auth[7:].strip(), "bearer")
    cookie = conn.cookies.get(COOKIE)
    return SuppliedToken(cookie, "cookie") if cookie else None


def active_logins(db: Session, user_id: int) -> list[LoginSession]:
    """The user's logins that have neither expired nor been revoked, newest first."""
    now = datetime.now(UTC)
    rows = db.execute(select(LoginSession).where(LoginSession.user_id == user_id,
                                                 LoginSession.revoked_at.is_(None))
                      .order_by(LoginSession.id.desc())).scalars()
    return [r for r in rows if _aware(r.expires_at) >= now]


def revoke_logins(db: Session, user_id: int, reason: str, *, only: int | None = None,
                  keep: int | None = None) -> int:
    """End the user's live logins (all, ``only`` one, or all but ``keep``); returns how many ended. Commits."""
    q = update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
    if only is not None:
        q = q.where(LoginSession.id == only)
    if keep is not None:
        q = q.where(LoginSession.id != keep)
    n = db.execute(q.values(revoked_at=datetime.now(UTC), revoked_reason=reason[:40])).rowcount  # type: ignore[attr-defined]
    db.commit()
    return int(n or 0)


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
