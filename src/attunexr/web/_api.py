"""REST API (``/api``): accounts, clinics, patients, consent, session plans, live control and the audit log.

Every read or write of patient data is authorized (clinic and role) and appended to the hash-chained audit log, and
so is every change to an account (sign-out, ending logins, password change, deactivation).
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from attunexr.errors import ConfigurationError
from attunexr.store import (
    AuditEntry,
    Clinic,
    Consent,
    Patient,
    SessionEvent,
    TherapySession,
    User,
    append_audit,
    hash_password,
    password_problems,
    verify_audit_chain,
)
from attunexr.web._auth import (
    Principal,
    active_logins,
    client_address,
    create_login,
    patient_for,
    require_role,
    revoke_logins,
    session_for,
    sign_in,
)
from attunexr.web._deps import IdPath, get_db, get_principal, get_services, get_writer, unprocessable
from attunexr.web._live import LiveSessionRunner
from attunexr.web._schemas import (
    ERROR_RESPONSES,
    MAX_ID,
    BoundsIn,
    ClinicIn,
    ClinicOut,
    ConsentIn,
    ConsentOut,
    DecisionIn,
    LevelIn,
    LoginOut,
    NoteIn,
    PasswordChangeIn,
    PatientIn,
    PatientOut,
    RevokedOut,
    SessionOut,
    SessionPlanIn,
    SsqIn,
    SudsIn,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from attunexr.web._services import WebServices

__all__ = ["router"]

_ERRORS = ERROR_RESPONSES
router = APIRouter(prefix="/api", responses=_ERRORS)
ProposalId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="a proposal id, e.g. d000003")]


def _audit(db: Session, p: Principal, action: str, resource: str, rid: Any = "", clinic: int | None = None,
           **detail: Any) -> None:
    append_audit(db, actor=p.username, actor_id=p.user_id, action=action, resource=resource, resource_id=rid,
                 clinic_id=clinic, detail=detail)


# ------------------------------------------------------------------ auth
def _user_out(u: User) -> UserOut:
    return UserOut(id=u.id, username=u.username, role=u.role, clinic_id=u.clinic_id, active=u.active)


def _check_new_password(password: str, username: str, field: str) -> None:
    problems = password_problems(password, username)
    if problems:
        raise unprocessable("password refused: " + "; ".join(problems), "body", field)


@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
def issue_token(body: TokenIn, request: Request, db: Session = Depends(get_db),
                services: WebServices = Depends(get_services)) -> TokenOut:
    """Exchange user name and password for a bearer token (send it as ``Authorization: Bearer <token>``).

    Failed attempts are throttled per user name and per client address: 429 with ``Retry-After``."""
    address = client_address(request)
    user = sign_in(db, body.username, body.password, address, services.settings)
    if user is None:
        raise HTTPException(401, "wrong user name or password")
    token, _ = create_login(db, user, "bearer", services.settings.session_hours, address)
    return TokenOut(access_token=token, role=user.role)


@router.post("/auth/logout", status_code=204, tags=["auth"])
def api_logout(p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> Response:
    """End the caller's login (bearer token or cookie): the token is refused everywhere afterwards."""
    revoke_logins(db, p.user_id, "logout", only=p.login_id)
    _audit(db, p, "logout", "user", p.user_id, p.clinic_id, kind=p.kind)
    return Response(status_code=204)


@router.get("/me", response_model=UserOut, tags=["auth"])
def me(p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> UserOut:
    u = db.get(User, p.user_id)
    assert u is not None
    return _user_out(u)


def _logins_out(db: Session, user_id: int, current: int) -> list[LoginOut]:
    return [LoginOut(id=r.id, kind=r.kind, created_at=r.created_at, expires_at=r.expires_at, address=r.address,
                     current=r.id == current) for r in active_logins(db, user_id)]


@router.get("/me/logins", response_model=list[LoginOut], tags=["auth"])
def my_logins(p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> list[LoginOut]:
    """The caller's live logins (browsers and API clients), to recognise and end the ones that are not theirs."""
    return _logins_out(db, p.user_id, p.login_id)


@router.post("/me/logins/{login_id}/revoke", response_model=RevokedOut, tags=["auth"])
def revoke_my_login(login_id: IdPath, p: Principal = Depends(get_writer),
                    db: Session = Depends(get_db)) -> RevokedOut:
    """End one of the caller's own logins."""
    n = revoke_logins(db, p.user_id, "ended_by_user", only=login_id)
    if n == 0:
        raise HTTPException(404, f"you have no live login {login_id}")
    _audit(db, p, "revoke_login", "user", p.user_id, p.clinic_id, login=login_id)
    return RevokedOut(revoked=n)


@router.post("/me/logins/revoke-others", response_model=RevokedOut, tags=["auth"])
def revoke_my_other_logins(p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> RevokedOut:
    """End every login of the caller except the one making this request."""
    n = revoke_logins(db, p.user_id, "ended_by_user", keep=p.login_id)
    _audit(db, p, "revoke_other_logins", "user", p.user_id, p.clinic_id, revoked=n)
    return RevokedOut(revoked=n)


@router.post("/me/password", response_model=RevokedOut, tags=["auth"])
def change_password(body: PasswordChangeIn, request: Request, p: Principal = Depends(get_writer),
                    db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> RevokedOut:
    """Change the caller's password (the current one is required); every other login of the caller ends.

    A wrong current password counts as a failed sign-in (throttled like ``/api/auth/token``)."""
    user = sign_in(db, p.username, body.old_password, client_address(request), services.settings,
                   action="change_password")
    if user is None or user.id != p.user_id:
        raise HTTPException(403, "the current password is wrong")
    _check_new_password(body.new_password, user.username, "new_password")
    user.password_hash = hash_password(body.new_password)
    user.password_changed_at = datetime.now(UTC)
    db.commit()
    n = revoke_logins(db, p.user_id, "password_changed", keep=p.login_id)
    _audit(db, p, "change_password", "user", p.user_id, p.clinic_id, revoked=n)
    return RevokedOut(revoked=n)


# ------------------------------------------------------------------ admin
@router.get("/clinics", response_model=list[ClinicOut], tags=["admin"])
def list_clinics(p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> list[ClinicOut]:
    require_role(p, "admin")
    return [ClinicOut(id=c.id, name=c.name) for c in db.execute(select(Clinic)).scalars()]


@router.post("/clinics", response_model=ClinicOut, status_code=201, tags=["admin"])
def create_clinic(body: ClinicIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> ClinicOut:
    require_role(p, "admin")
    if db.execute(select(Clinic).where(Clinic.name == body.name)).scalar_one_or_none():
        raise HTTPException(409, f"a clinic named {body.name!r} exists")
    c = Clinic(name=body.name)
    db.add(c)
    db.commit()
    _audit(db, p, "create", "clinic", c.id, c.id)
    return ClinicOut(id=c.id, name=c.name)


@router.get("/users", response_model=list[UserOut], tags=["admin"])
def list_users(p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> list[UserOut]:
    require_role(p, "admin")
    return [_user_out(u) for u in db.execute(select(User).order_by(User.id)).scalars()]


@router.post("/users", response_model=UserOut, status_code=201, tags=["admin"])
def create_user(body: UserIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> UserOut:
    require_role(p, "admin")
    if body.role != "admin" and (body.clinic_id is None or db.get(Clinic, body.clinic_id) is None):
        raise HTTPException(422, "clinicians and researchers belong to an existing clinic: give clinic_id")
    if db.execute(select(User).where(User.username == body.username)).scalar_one_or_none():
        raise HTTPException(409, f"user {body.username!r} exists")
    _check_new_password(body.password, body.username, "password")
    u = User(username=body.username, password_hash=hash_password(body.password), role=body.role,
             clinic_id=body.clinic_id, password_changed_at=datetime.now(UTC))
    db.add(u)
    db.commit()
    _audit(db, p, "create", "user", u.id, u.clinic_id, role=u.role)
    return _user_out(u)


def _managed_user(db: Session, p: Principal, user_id: int) -> User:
    require_role(p, "admin")
    u = db.get(User, user_id)
    if u is None:
        raise HTTPException(404, f"no user {user_id}")
    return u


@router.get("/users/{user_id}/logins", response_model=list[LoginOut], tags=["admin"])
def user_logins(user_id: IdPath, p: Principal = Depends(get_principal),
                db: Session = Depends(get_db)) -> list[LoginOut]:
    """A user's live logins (admin)."""
    u = _managed_user(db, p, user_id)
    return _logins_out(db, u.id, p.login_id)


@router.post("/users/{user_id}/revoke-logins", response_model=RevokedOut, tags=["admin"])
def revoke_user_logins(user_id: IdPath, p: Principal = Depends(get_writer),
                       db: Session = Depends(get_db)) -> RevokedOut:
    """End every login of a user (admin), e.g. after a lost laptop; the user can sign in again."""
    u = _managed_user(db, p, user_id)
    n = revoke_logins(db, u.id, "revoked_by_admin", keep=p.login_id if u.id == p.user_id else None)
    _audit(db, p, "revoke_logins", "user", u.id, u.clinic_id, revoked=n)
    return RevokedOut(revoked=n)


@router.post("/users/{user_id}/deactivate", response_model=UserOut, tags=["admin"])
def deactivate_user(user_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> UserOut:
    """Deactivate a user (admin): every login of theirs ends and they cannot sign in until reactivated."""
    u = _managed_user(db, p, user_id)
    if u.id == p.user_id:
        raise HTTPException(409, "you cannot deactivate your own account; ask another admin")
    u.active = False
    db.commit()
    n = revoke_logins(db, u.id, "user_deactivated")
    _audit(db, p, "deactivate", "user", u.id, u.clinic_id, revoked=n)
    return _user_out(u)


@router.post("/users/{user_id}/activate", response_model=UserOut, tags=["admin"])
def activate_user(user_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> UserOut:
    """Reactivate a deactivated user (admin)."""
    u = _managed_user(db, p, user_id)
    u.active = True
    db.commit()
    _audit(db, p, "activate", "user", u.id, u.clinic_id)
    return _user_out(u)


@router.get("/audit/verify", tags=["admin"])
def audit_verify(p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> dict[str, Any]:
    """Verify the whole hash chain (admin)."""
    require_role(p, "admin")
    n = verify_audit_chain(db)
    return {"verified": True, "entries": n}


@router.get("/audit", tags=["admin"])
def audit_entries(limit: int = Query(200, ge=1, le=1000), p: Principal = Depends(get_principal),
                  db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    """The newest audit entries (admin); they name resources by id only, never identifying data."""
    require_role(p, "admin")
    rows = db.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).scalars()
    return [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "resource": e.resource,
             "resource_id": e.resource_id, "clinic_id": e.clinic_id, "hash": e.hash} for e in rows]


# ------------------------------------------------------------------ patients
def _patient_out(services: WebServices, patient: Patient, p: Principal) -> PatientOut:
    return PatientOut(id=patient.id, pseudonym=patient.pseudonym, clinic_id=patient.clinic_id,
                      created_at=patient.created_at,
                      identifying=services.identifying(patient) if p.role == "clinician" else None)


@router.get("/patients", response_model=list[PatientOut], tags=["patients"])
def list_patients(p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> list[PatientOut]:
    """Pseudonyms of the caller's clinic (clinician, researcher)."""
    require_role(p, "clinician", "researcher")
    rows = list(db.execute(select(Patient).where(Patient.clinic_id == p.clinic_id)).scalars())
    _audit(db, p, "list", "patient", "", p.clinic_id, count=len(rows))
    return [PatientOut(id=r.id, pseudonym=r.pseudonym, clinic_id=r.clinic_id, created_at=r.created_at)
            for r in rows]


@router.post("/patients", response_model=PatientOut, status_code=201, tags=["patients"])
def create_patient(body: PatientIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                   services: WebServices = Depends(get_services)) -> PatientOut:
    """Create a pseudonymous patient in the clinician's clinic; identifying fields are stored encrypted."""
    require_role(p, "clinician")
    assert p.clinic_id is not None
    patient = services.create_patient(db, p.clinic_id, p.user_id, body.identifying)
    _audit(db, p, "create", "patient", patient.id, patient.clinic_id)
    return _patient_out(services, patient, p)


@router.get("/patients/{patient_id}", response_model=PatientOut, tags=["patients"])
def get_patient(patient_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
                services: WebServices = Depends(get_services)) -> PatientOut:
    """One patient; identifying fields only for clinicians of the patient's clinic."""
    patient = patient_for(db, p, patient_id, "read")
    return _patient_out(services, patient, p)


@router.get("/patients/{patient_id}/consents", response_model=list[ConsentOut], tags=["patients"])
def list_consents(patient_id: IdPath, p: Principal = Depends(get_principal),
                  db: Session = Depends(get_db)) -> list[ConsentOut]:
    patient = patient_for(db, p, patient_id, "read_consent")
    rows = db.execute(select(Consent).where(Consent.patient_id == patient.id).order_by(Consent.id)).scalars()
    return [ConsentOut(id=c.id, scope=c.scope, granted=c.granted, note=c.note, recorded_at=c.recorded_at,
                       recorded_by=c.recorded_by) for c in rows]


@router.post("/patients/{patient_id}/consents", response_model=ConsentOut, status_code=201, tags=["patients"])
def record_consent(patient_id: IdPath, body: ConsentIn, p: Principal = Depends(get_writer),
                   db: Session = Depends(get_db)) -> ConsentOut:
    require_role(p, "clinician")
    patient = patient_for(db, p, patient_id, "record_consent")
    c = Consent(patient_id=patient.id, scope=body.scope, granted=body.granted, note=body.note,
                recorded_by=p.user_id)
    db.add(c)
    db.commit()
    _audit(db, p, "create", "consent", c.id, patient.clinic_id, patient=patient.id, scope=c.scope,
           granted=c.granted)
    return ConsentOut(id=c.id, scope=c.scope, granted=c.granted, note=c.note, recorded_at=c.recorded_at,
                      recorded_by=c.recorded_by)


# ------------------------------------------------------------------ sessions
def _session_out(ts: TherapySession) -> SessionOut:
    return SessionOut(id=ts.id, patient_id=ts.patient_id, pseudonym=ts.patient.pseudonym, scenario=ts.scenario,
                      status=ts.status, plan=ts.plan, created_at=ts.created_at, started_at=ts.started_at,
                      ended_at=ts.ended_at)


@router.get("/patients/{patient_id}/sessions", response_model=list[SessionOut], tags=["sessions"])
def list_patient_sessions(patient_id: IdPath, p: Principal = Depends(get_principal),
                          db: Session = Depends(get_db)) -> list[SessionOut]:
    patient = patient_for(db, p, patient_id, "list_sessions")
    rows = db.execute(select(TherapySession).where(TherapySession.patient_id == patient.id)).scalars()
    return [_session_out(ts) for ts in rows]


@router.post("/patients/{patient_id}/sessions", response_model=SessionOut, status_code=201, tags=["sessions"])
def plan_session(patient_id: IdPath, body: SessionPlanIn, p: Principal = Depends(get_writer),
                 db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> SessionOut:
    """Plan a session: scenario, hierarchy, controller mode and bounds, safety thresholds, signal source."""
    require_role(p, "clinician")
    patient = patient_for(db, p, patient_id, "plan_session")
    if body.levels is not None and not all("name" in lv for lv in body.levels):
        raise unprocessable("every level of a custom hierarchy needs a 'name'", "body", "levels")
    if body.model not in services.model_names():
        raise unprocessable(f"no model named {body.model!r}; available: {', '.join(services.model_names())}",
                            "body", "model")
    ts = TherapySession(patient_id=patient.id, clinic_id=patient.clinic_id, scenario=body.scenario,
                        plan=body.model_dump(), source=body.source, vr_token=secrets.token_urlsafe(16),
                        created_by=p.user_id)
    db.add(ts)
    db.commit()
    _audit(db, p, "create", "session", ts.id, ts.clinic_id, patient=patient.id, scenario=ts.scenario)
    return _session_out(ts)


@router.get("/sessions", response_model=list[SessionOut], tags=["sessions"])
def list_sessions(p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> list[SessionOut]:
    require_role(p, "clinician", "researcher")
    rows = list(db.execute(select(TherapySession).where(TherapySession.clinic_id == p.clinic_id)
                           .order_by(TherapySession.id.desc())).scalars())
    _audit(db, p, "list", "session", "", p.clinic_id, count=len(rows))
    return [_session_out(ts) for ts in rows]


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["sessions"])
def get_session(session_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> SessionOut:
    return _session_out(session_for(db, p, session_id, "read"))


@router.get("/sessions/{session_id}/events", tags=["sessions"])
def session_events(session_id: IdPath, kind: str | None = Query(None, max_length=20),
                   after_id: int = Query(0, ge=0, le=MAX_ID),
                   p: Principal = Depends(get_principal), db: Session = Depends(get_db),
                   services: WebServices = Depends(get_services)) -> list[dict[str, Any]]:
    """The session timeline (levels, estimates, proposals, decisions, SUDS, alerts, notes, vitals)."""
    ts = session_for(db, p, session_id, "read_events")
    services.writer.flush()
    q = select(SessionEvent).where(SessionEvent.session_id == ts.id, SessionEvent.id > after_id)
    if kind:
        q = q.where(SessionEvent.kind == kind)
    return [{"id": e.id, "t": e.t, "kind": e.kind, "actor": e.actor, "payload": e.payload}
            for e in db.execute(q.order_by(SessionEvent.id).limit(5000)).scalars()]


def _runner(services: WebServices, session_id: int) -> LiveSessionRunner:
    runner = services.live.get(session_id)
    if runner is None:
        raise HTTPException(409, f"session {session_id} is not running; start it first")
    return runner


@router.get("/sessions/{session_id}/live", tags=["live"])
def live_snapshot(session_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
                  services: WebServices = Depends(get_services)) -> dict[str, Any]:
    """The current live state (what the dashboard draws)."""
    session_for(db, p, session_id, "read_live")
    return _runner(services, session_id).snapshot()


@router.post("/sessions/{session_id}/start", tags=["live"])
async def start_session(session_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                        services: WebServices = Depends(get_services)) -> dict[str, Any]:
    session_for(db, p, session_id, "start_request", control=True)
    runner = await services.start_session(session_id, p.username, p.user_id)
    return {"session": session_id, "state": runner.state}


@router.post("/sessions/{session_id}/pause", tags=["live"])
def pause_session(session_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                  services: WebServices = Depends(get_services)) -> dict[str, Any]:
    session_for(db, p, session_id, "pause", control=True)
    runner = _runner(services, session_id)
    runner.pause(p.username)
    return {"session": session_id, "state": runner.state}


@router.post("/sessions/{session_id}/resume", tags=["live"])
def resume_session(session_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                   services: WebServices = Depends(get_services)) -> dict[str, Any]:
    session_for(db, p, session_id, "resume", control=True)
    runner = _runner(services, session_id)
    runner.resume(p.username)
    return {"session": session_id, "state": runner.state}


@router.post("/sessions/{session_id}/stop", tags=["live"])
async def stop_session(session_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                       services: WebServices = Depends(get_services)) -> dict[str, Any]:
    session_for(db, p, session_id, "stop", control=True)
    runner = _runner(services, session_id)
    await runner.stop(p.username)
    return {"session": session_id, "state": runner.state}


@router.post("/sessions/{session_id}/level", tags=["live"])
def set_level(session_id: IdPath, body: LevelIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
              services: WebServices = Depends(get_services)) -> dict[str, Any]:
    session_for(db, p, session_id, "set_level", control=True)
    runner = _runner(services, session_id)
    runner.set_level(body.level, p.username, body.reason)
    return {"session": session_id, "level": runner.level}


@router.post("/sessions/{session_id}/proposals/{proposal_id}/approve", tags=["live"])
def approve_proposal(session_id: IdPath, proposal_id: ProposalId, p: Principal = Depends(get_writer),
                     db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> dict[str, Any]:
    session_for(db, p, session_id, "approve", control=True)
    runner = _runner(services, session_id)
    prop = runner.approve(proposal_id, p.username)
    return {"session": session_id, "proposal": proposal_id, "status": prop["status"], "level": runner.level,
            "bound": prop.get("refused_by"), "message": prop.get("refusal", "")}


@router.get("/sensors/lsl", tags=["sensors"])
async def list_lsl_streams(p: Principal = Depends(get_writer)) -> list[dict[str, Any]]:
    """LSL streams this server receives now: a session plan's source can be ``lsl:NAME[,NAME]``."""
    from dataclasses import asdict

    from attunexr.sensors import discover_lsl_streams

    return [asdict(i) for i in await asyncio.to_thread(discover_lsl_streams, 1.0)]


@router.post("/sessions/{session_id}/bounds", tags=["live"])
def set_bounds(session_id: int, body: BoundsIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
               services: WebServices = Depends(get_services)) -> dict[str, Any]:
    """Change the running session's bounds (highest level, largest step, minimum time at a level)."""
    session_for(db, p, session_id, "set_bounds", control=True)
    runner = _runner(services, session_id)
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise HTTPException(422, "give at least one of max_level, max_step, min_dwell_s")
    return {"session": session_id, "bounds": runner.set_bounds(changes, p.username)}


@router.post("/sessions/{session_id}/proposals/{proposal_id}/reject", tags=["live"])
def reject_proposal(session_id: IdPath, proposal_id: ProposalId, body: DecisionIn | None = None,
                    p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                    services: WebServices = Depends(get_services)) -> dict[str, Any]:
    session_for(db, p, session_id, "reject", control=True)
    runner = _runner(services, session_id)
    prop = runner.reject(proposal_id, p.username, body.reason if body else "")
    return {"session": session_id, "proposal": proposal_id, "status": prop["status"], "level": runner.level}


@router.post("/sessions/{session_id}/notes", status_code=201, tags=["live"])
def add_note(session_id: IdPath, body: NoteIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
             services: WebServices = Depends(get_services)) -> dict[str, Any]:
    ts = session_for(db, p, session_id, "note", control=True)
    runner = services.live.get(session_id)
    if runner is not None:
        return runner.add_note(body.text, p.username)
    db.add(SessionEvent(session_id=ts.id, t=-1.0, kind="note", actor=p.username, payload={"text": body.text}))
    db.commit()
    return {"text": body.text, "by": p.username, "t": None}


@router.post("/sessions/{session_id}/suds", status_code=201, tags=["live"])
def record_suds(session_id: IdPath, body: SudsIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                services: WebServices = Depends(get_services)) -> dict[str, Any]:
    """A SUDS answer given to the clinician (the VR client sends its own through the WebSocket)."""
    session_for(db, p, session_id, "suds", control=True)
    return _runner(services, session_id).record_suds(body.value, p.username)


@router.post("/sessions/{session_id}/prompt_suds", tags=["live"])
def prompt_suds(session_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                services: WebServices = Depends(get_services)) -> dict[str, Any]:
    session_for(db, p, session_id, "prompt_suds", control=True)
    _runner(services, session_id).prompt_suds(p.username)
    return {"session": session_id, "prompted": True}


@router.post("/sessions/{session_id}/ssq", status_code=201, tags=["sessions"])
def record_ssq(session_id: IdPath, body: SsqIn, p: Principal = Depends(get_writer),
               db: Session = Depends(get_db)) -> dict[str, Any]:
    """Simulator Sickness Questionnaire before or after the session (scored by :func:`attunexr.clinical.score_ssq`)."""
    ts = session_for(db, p, session_id, f"ssq_{body.when}", control=True)
    from attunexr.clinical import score_ssq

    try:
        score = score_ssq(body.items)
    except ConfigurationError as err:
        raise unprocessable(str(err), "body", "items") from err
    payload = {"when": body.when, "items": body.items, "nausea": score.nausea, "oculomotor": score.oculomotor,
               "disorientation": score.disorientation, "total": score.total}
    db.add(SessionEvent(session_id=ts.id, t=-1.0, kind="ssq", actor=p.username, payload=payload))
    db.commit()
    return payload
