"""Server-rendered pages: login, account (logins, password), user administration, patients, session planning, live
dashboard, report, VR client, model cards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from attunexr.errors import AttunexrError
from attunexr.store import (
    Consent,
    Patient,
    TherapySession,
    User,
    append_audit,
    hash_password,
    password_problems,
    token_digest,
)
from attunexr.web._auth import (
    COOKIE,
    LoginThrottledError,
    Principal,
    active_logins,
    client_address,
    create_login,
    patient_for,
    revoke_logins,
    session_for,
    sign_in,
)
from attunexr.web._deps import IdPath, get_db, get_services, get_writer, optional_principal
from attunexr.web._live_bridge import scenario_levels
from attunexr.web._report import build_report, model_cards, render_report_html, render_report_pdf
from attunexr.web._schemas import SessionPlanIn
from attunexr.web._services import WebServices

__all__ = ["router", "templates"]



def _csp_nonce(request: Request) -> dict[str, Any]:
    """Every template gets the response's Content-Security-Policy nonce for its inline scripts."""
    return {"csp_nonce": getattr(request.state, "csp_nonce", "")}


templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")), context_processors=[_csp_nonce])
router = APIRouter(include_in_schema=False)


class _LoginRedirect(Exception):
    pass


def _page_principal(p: Principal | None = Depends(optional_principal)) -> Principal:
    if p is None:
        raise _LoginRedirect()
    return p


def _render(request: Request, template: str, p: Principal | None, status_code: int = 200,
            headers: dict[str, str] | None = None, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"user": p, "csrf": p.csrf_token if p else "", **ctx},
                                      status_code=status_code, headers=headers)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = "") -> HTMLResponse:
    return _render(request, "login.html", None, error=error)


@router.post("/login")
def login_submit(request: Request, username: str = Form(..., max_length=120),
                 password: str = Form(..., max_length=1024),
                 db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> Response:
    address = client_address(request)
    try:
        user = sign_in(db, username, password, address, services.settings)
    except LoginThrottledError as err:
        return _render(request, "login.html", None, status_code=429,
                       headers={"Retry-After": str(err.retry_after_s)}, error=f"{str(err).capitalize()}.")
    if user is None:
        return _render(request, "login.html", None, error="Wrong user name or password.")
    token, _ = create_login(db, user, "cookie", services.settings.session_hours, address)
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=services.settings.secure_cookies,
                    max_age=int(services.settings.session_hours * 3600), path="/")
    return resp


@router.post("/logout")
def logout(p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> Response:
    """Sign out: the login ends on the server (its cookie is refused from now on), then the cookie is deleted."""
    revoke_logins(db, p.user_id, "logout", only=p.login_id)
    append_audit(db, actor=p.username, actor_id=p.user_id, action="logout", resource="user", resource_id=p.user_id,
                 clinic_id=p.clinic_id, detail={"kind": p.kind})
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


# ------------------------------------------------------------------ account
@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, p: Principal = Depends(_page_principal), db: Session = Depends(get_db),
                 message: str = "", error: str = "") -> HTMLResponse:
    """The caller's live logins (end one, or all others) and the password change form."""
    return _render(request, "account.html", p, logins=active_logins(db, p.user_id), current=p.login_id,
                   message=message[:200], error=error[:400])


@router.post("/account/logins/{login_id}/revoke")
def account_revoke_login(login_id: IdPath, p: Principal = Depends(get_writer),
                         db: Session = Depends(get_db)) -> Response:
    n = revoke_logins(db, p.user_id, "ended_by_user", only=login_id)
    if n == 0:
        raise HTTPException(404, f"you have no live login {login_id}")
    append_audit(db, actor=p.username, actor_id=p.user_id, action="revoke_login", resource="user",
                 resource_id=p.user_id, clinic_id=p.clinic_id, detail={"login": login_id})
    return RedirectResponse("/login" if login_id == p.login_id else "/account?message=login+ended", status_code=303)


@router.post("/account/logins/revoke-others")
def account_revoke_others(p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> Response:
    n = revoke_logins(db, p.user_id, "ended_by_user", keep=p.login_id)
    append_audit(db, actor=p.username, actor_id=p.user_id, action="revoke_other_logins", resource="user",
                 resource_id=p.user_id, clinic_id=p.clinic_id, detail={"revoked": n})
    return RedirectResponse(f"/account?message={n}+other+logins+ended", status_code=303)


@router.post("/account/password")
def account_password(request: Request, old_password: str = Form(..., max_length=1024),
                     new_password: str = Form(..., max_length=1024), new_password_again: str = Form(..., max_length=1024),
                     p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                     services: WebServices = Depends(get_services)) -> Response:
    """Change one's password (the current one is required); every other login of the user ends."""
    def again(error: str, status: int) -> HTMLResponse:
        return _render(request, "account.html", p, status_code=status, logins=active_logins(db, p.user_id),
                       current=p.login_id, message="", error=error)

    if new_password != new_password_again:
        return again("The two new passwords differ.", 422)
    try:
        user = sign_in(db, p.username, old_password, client_address(request), services.settings,
                       action="change_password")
    except LoginThrottledError as err:
        return again(f"{str(err).capitalize()}.", 429)
    if user is None or user.id != p.user_id:
        return again("The current password is wrong.", 403)
    problems = password_problems(new_password, user.username)
    if problems:
        return again("Password refused: " + "; ".join(problems) + ".", 422)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = datetime.now(UTC)
    db.commit()
    n = revoke_logins(db, p.user_id, "password_changed", keep=p.login_id)
    append_audit(db, actor=p.username, actor_id=p.user_id, action="change_password", resource="user",
                 resource_id=p.user_id, clinic_id=p.clinic_id, detail={"revoked": n})
    return RedirectResponse(f"/account?message=password+changed;+{n}+other+logins+ended", status_code=303)


# ------------------------------------------------------------------ user administration
@router.get("/admin/users", response_class=HTMLResponse)
def admin_users_page(request: Request, p: Principal = Depends(_page_principal),
                     db: Session = Depends(get_db), message: str = "") -> HTMLResponse:
    if p.role != "admin":
        raise HTTPException(403, "only admins manage accounts")
    users = list(db.execute(select(User).order_by(User.id)).scalars())
    n_logins = {u.id: len(active_logins(db, u.id)) for u in users}
    return _render(request, "admin_users.html", p, users=users, n_logins=n_logins, message=message[:200])


def _admin_target(db: Session, p: Principal, user_id: int) -> User:
    if p.role != "admin":
        raise HTTPException(403, "only admins manage accounts")
    u = db.get(User, user_id)
    if u is None:
        raise HTTPException(404, f"no user {user_id}")
    return u


@router.post("/admin/users/{user_id}/deactivate")
def admin_deactivate(user_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> Response:
    u = _admin_target(db, p, user_id)
    if u.id == p.user_id:
        raise HTTPException(409, "you cannot deactivate your own account; ask another admin")
    u.active = False
    db.commit()
    n = revoke_logins(db, u.id, "user_deactivated")
    append_audit(db, actor=p.username, actor_id=p.user_id, action="deactivate", resource="user", resource_id=u.id,
                 clinic_id=u.clinic_id, detail={"revoked": n})
    return RedirectResponse(f"/admin/users?message={u.username}+deactivated", status_code=303)


@router.post("/admin/users/{user_id}/activate")
def admin_activate(user_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> Response:
    u = _admin_target(db, p, user_id)
    u.active = True
    db.commit()
    append_audit(db, actor=p.username, actor_id=p.user_id, action="activate", resource="user", resource_id=u.id,
                 clinic_id=u.clinic_id)
    return RedirectResponse(f"/admin/users?message={u.username}+activated", status_code=303)


@router.post("/admin/users/{user_id}/revoke-logins")
def admin_revoke_logins(user_id: IdPath, p: Principal = Depends(get_writer),
                        db: Session = Depends(get_db)) -> Response:
    u = _admin_target(db, p, user_id)
    n = revoke_logins(db, u.id, "revoked_by_admin", keep=p.login_id if u.id == p.user_id else None)
    append_audit(db, actor=p.username, actor_id=p.user_id, action="revoke_logins", resource="user",
                 resource_id=u.id, clinic_id=u.clinic_id, detail={"revoked": n})
    return RedirectResponse(f"/admin/users?message={n}+logins+of+{u.username}+ended", status_code=303)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, p: Principal = Depends(_page_principal), db: Session = Depends(get_db)) -> HTMLResponse:
    patients: list[Any] = []
    sessions: dict[int, list[TherapySession]] = {}
    if p.role in ("clinician", "researcher"):
        patients = list(db.execute(select(Patient).where(Patient.clinic_id == p.clinic_id)
                                   .order_by(Patient.id)).scalars())
        for ts in db.execute(select(TherapySession).where(TherapySession.clinic_id == p.clinic_id)
                             .order_by(TherapySession.id.desc())).scalars():
            sessions.setdefault(ts.patient_id, []).append(ts)
        append_audit(db, actor=p.username, actor_id=p.user_id, action="list", resource="patient",
                     clinic_id=p.clinic_id, detail={"count": len(patients), "page": "home"})
    return _render(request, "home.html", p, patients=patients, sessions=sessions)


@router.post("/patients")
def create_patient_form(name: str = Form(""), p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                        services: WebServices = Depends(get_services)) -> Response:
    if p.role != "clinician" or p.clinic_id is None:
        raise HTTPException(403, "only clinicians create patients")
    patient = services.create_patient(db, p.clinic_id, p.user_id, {"name": name} if name else {})
    append_audit(db, actor=p.username, actor_id=p.user_id, action="create", resource="patient",
                 resource_id=patient.id, clinic_id=patient.clinic_id)
    return RedirectResponse(f"/patients/{patient.id}", status_code=303)


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: IdPath, p: Principal = Depends(_page_principal),
                 db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> HTMLResponse:
    patient = patient_for(db, p, patient_id, "read")
    consents = list(db.execute(select(Consent).where(Consent.patient_id == patient.id)).scalars())
    sessions = list(db.execute(select(TherapySession).where(TherapySession.patient_id == patient.id)
                               .order_by(TherapySession.id.desc())).scalars())
    ident = services.identifying(patient) if p.role == "clinician" else None
    lsl_streams = []
    if p.role == "clinician":  # the plan form lists the LSL streams this server receives now
        from attunexr.sensors import discover_lsl_streams

        lsl_streams = discover_lsl_streams(0.3)
    return _render(request, "patient.html", p, patient=patient, identifying=ident, consents=consents,
                   sessions=sessions, lsl_streams=lsl_streams)


@router.post("/patients/{patient_id}/consent")
def consent_form(patient_id: IdPath, scope: str = Form(...), granted: str = Form("yes"), note: str = Form(""),
                 p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> Response:
    if p.role != "clinician":
        raise HTTPException(403, "only clinicians record consent")
    patient = patient_for(db, p, patient_id, "record_consent")
    if scope not in ("treatment", "research", "data_sharing"):
        raise HTTPException(422, "scope must be treatment, research or data_sharing")
    c = Consent(patient_id=patient.id, scope=scope, granted=granted == "yes", note=note, recorded_by=p.user_id)
    db.add(c)
    db.commit()
    append_audit(db, actor=p.username, actor_id=p.user_id, action="create", resource="consent", resource_id=c.id,
                 clinic_id=patient.clinic_id, detail={"scope": scope, "granted": c.granted})
    return RedirectResponse(f"/patients/{patient.id}", status_code=303)


@router.post("/patients/{patient_id}/plan")
def plan_form(patient_id: IdPath, scenario: str = Form(...), mode: str = Form("propose"),
              max_level: int = Form(5), min_dwell_s: float = Form(60.0), source: str = Form("virtual"),
              arousal_ceiling: float = Form(0.9), suds_ceiling: float = Form(85.0),
              mssq: str = Form(""), age: str = Form(""), gender: str = Form(""),
              p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> Response:
    if p.role != "clinician":
        raise HTTPException(403, "only clinicians plan sessions")
    import secrets

    patient = patient_for(db, p, patient_id, "plan_session")
    try:
        plan = SessionPlanIn.model_validate({
            "scenario": scenario, "source": source,
            "controller": {"mode": mode, "max_level": max_level, "min_dwell_s": min_dwell_s},
            "safety": {"arousal_ceiling": arousal_ceiling, "suds_ceiling": suds_ceiling}})
    except ValidationError as err:
        raise HTTPException(422, f"the plan is not valid: {err}") from err
    plan_data = plan.model_dump()
    if mssq.strip():
        from attunexr.web._tolerance import tolerance_for_plan

        plan_data["tolerance"] = tolerance_for_plan(mssq, age, gender)
    ts = TherapySession(patient_id=patient.id, clinic_id=patient.clinic_id, scenario=plan.scenario,
                        plan=plan_data, source=plan.source, vr_token=secrets.token_urlsafe(16),
                        created_by=p.user_id)
    db.add(ts)
    db.commit()
    append_audit(db, actor=p.username, actor_id=p.user_id, action="create", resource="session", resource_id=ts.id,
                 clinic_id=ts.clinic_id, detail={"scenario": ts.scenario})
    return RedirectResponse(f"/patients/{patient.id}", status_code=303)


@router.post("/sessions/{session_id}/start")
async def start_form(session_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                     services: WebServices = Depends(get_services)) -> Response:
    session_for(db, p, session_id, "start_request", control=True)
    try:
        await services.start_session(session_id, p.username, p.user_id)
    except AttunexrError as err:
        raise HTTPException(409, str(err)) from err
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def dashboard(request: Request, session_id: IdPath, p: Principal = Depends(_page_principal),
              db: Session = Depends(get_db)) -> HTMLResponse:
    ts = session_for(db, p, session_id, "open_dashboard")
    levels = ts.plan.get("levels") or scenario_levels(ts.scenario)
    return _render(request, "dashboard.html", p, ts=ts, levels=levels,
                   vr_url=f"/vr/{ts.id}?token={ts.vr_token}" if p.role == "clinician" else None,
                   can_control=p.role == "clinician")


@router.get("/sessions/{session_id}/report", response_class=HTMLResponse)
def report_html(request: Request, session_id: IdPath, p: Principal = Depends(_page_principal),
                db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> HTMLResponse:
    ts = session_for(db, p, session_id, "read_report")
    services.writer.flush()
    data = build_report(db, ts, services)
    return HTMLResponse(render_report_html(data, templates, request))


@router.get("/sessions/{session_id}/report.pdf")
def report_pdf(session_id: IdPath, p: Principal = Depends(_page_principal), db: Session = Depends(get_db),
               services: WebServices = Depends(get_services)) -> Response:
    ts = session_for(db, p, session_id, "read_report_pdf")
    services.writer.flush()
    data = build_report(db, ts, services)
    pdf = render_report_pdf(data)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="attunexr-session-{ts.id}.pdf"'})


@router.get("/vr/{session_id}", response_class=HTMLResponse)
def vr_client(request: Request, session_id: IdPath, token: str = "", db: Session = Depends(get_db)) -> HTMLResponse:
    """The WebXR client; it needs the session's VR token (from the dashboard), not a login."""
    import hmac

    ts = db.get(TherapySession, session_id)
    if ts is None or not token or not hmac.compare_digest(ts.vr_token_hash, token_digest(token)):
        raise HTTPException(404, "no such VR session; open the link shown on the clinician's dashboard")
    return templates.TemplateResponse(request, "vr.html", {"session_id": session_id, "token": token,
                                                           "scenario": ts.scenario})


@router.get("/models/{name}", response_class=HTMLResponse)
def model_card(request: Request, name: str, p: Principal = Depends(_page_principal)) -> HTMLResponse:
    cards = model_cards()
    if name not in cards:
        raise HTTPException(404, f"no model card named {name!r}")
    # rendered from card.json on each request, so the page is always in the current clinician-facing words
    from attunexr.models import render_card_html

    return _render(request, "model_card.html", p, name=name, card_html=render_card_html(cards[name], standalone=False))
