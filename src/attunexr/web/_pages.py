"""Server-rendered pages: login, patients, session planning, live dashboard, report, VR client, model cards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from attunexr.errors import AttunexrError
from attunexr.store import Consent, Patient, TherapySession, append_audit
from attunexr.web._auth import COOKIE, Principal, authenticate, create_login, patient_for, session_for
from attunexr.web._deps import get_db, get_services, get_writer, optional_principal
from attunexr.web._live_bridge import scenario_levels
from attunexr.web._report import build_report, model_cards, render_report_html, render_report_pdf
from attunexr.web._schemas import SessionPlanIn
from attunexr.web._services import WebServices

__all__ = ["router", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
router = APIRouter(include_in_schema=False)


class _LoginRedirect(Exception):
    pass


def _page_principal(p: Principal | None = Depends(optional_principal)) -> Principal:
    if p is None:
        raise _LoginRedirect()
    return p


def _render(request: Request, template: str, p: Principal | None, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"user": p, "csrf": p.csrf_token if p else "", **ctx})


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = "") -> HTMLResponse:
    return _render(request, "login.html", None, error=error)


@router.post("/login")
def login_submit(request: Request, username: str = Form(...), password: str = Form(...),
                 db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> Response:
    user = authenticate(db, username, password)
    if user is None:
        append_audit(db, actor=username[:120], action="login_failed", resource="user")
        return _render(request, "login.html", None, error="Wrong user name or password.")
    token, _ = create_login(db, user, "cookie", services.settings.session_hours)
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=services.settings.secure_cookies,
                    max_age=int(services.settings.session_hours * 3600), path="/")
    return resp


@router.post("/logout")
def logout(p: Principal = Depends(get_writer)) -> Response:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


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
def patient_page(request: Request, patient_id: int, p: Principal = Depends(_page_principal),
                 db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> HTMLResponse:
    patient = patient_for(db, p, patient_id, "read")
    consents = list(db.execute(select(Consent).where(Consent.patient_id == patient.id)).scalars())
    sessions = list(db.execute(select(TherapySession).where(TherapySession.patient_id == patient.id)
                               .order_by(TherapySession.id.desc())).scalars())
    ident = services.identifying(patient) if p.role == "clinician" else None
    return _render(request, "patient.html", p, patient=patient, identifying=ident, consents=consents,
                   sessions=sessions)


@router.post("/patients/{patient_id}/consent")
def consent_form(patient_id: int, scope: str = Form(...), granted: str = Form("yes"), note: str = Form(""),
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
def plan_form(patient_id: int, scenario: str = Form(...), mode: str = Form("propose"),
              max_level: int = Form(5), min_dwell_s: float = Form(60.0), source: str = Form("virtual"),
              arousal_ceiling: float = Form(0.9), suds_ceiling: float = Form(85.0),
              mssq: str = Form(""), age: str = Form(""), gender: str = Form(""),
              p: Principal = Depends(get_writer), db: Session = Depends(get_db)) -> Response:
    if p.role != "clinician":
        raise HTTPException(403, "only clinicians plan sessions")
    import secrets

    patient = patient_for(db, p, patient_id, "plan_session")
    plan = SessionPlanIn.model_validate({
        "scenario": scenario, "source": source,
        "controller": {"mode": mode, "max_level": max_level, "min_dwell_s": min_dwell_s},
        "safety": {"arousal_ceiling": arousal_ceiling, "suds_ceiling": suds_ceiling}})
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
async def start_form(session_id: int, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                     services: WebServices = Depends(get_services)) -> Response:
    session_for(db, p, session_id, "start_request", control=True)
    try:
        await services.start_session(session_id, p.username, p.user_id)
    except AttunexrError as err:
        raise HTTPException(409, str(err)) from err
    return RedirectResponse(f"/sessions/{session_id}", status_code=303)


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def dashboard(request: Request, session_id: int, p: Principal = Depends(_page_principal),
              db: Session = Depends(get_db)) -> HTMLResponse:
    ts = session_for(db, p, session_id, "open_dashboard")
    levels = ts.plan.get("levels") or scenario_levels(ts.scenario)
    return _render(request, "dashboard.html", p, ts=ts, levels=levels,
                   vr_url=f"/vr/{ts.id}?token={ts.vr_token}" if p.role == "clinician" else None,
                   can_control=p.role == "clinician")


@router.get("/sessions/{session_id}/report", response_class=HTMLResponse)
def report_html(request: Request, session_id: int, p: Principal = Depends(_page_principal),
                db: Session = Depends(get_db), services: WebServices = Depends(get_services)) -> HTMLResponse:
    ts = session_for(db, p, session_id, "read_report")
    services.writer.flush()
    data = build_report(db, ts, services)
    return HTMLResponse(render_report_html(data, templates, request))


@router.get("/sessions/{session_id}/report.pdf")
def report_pdf(session_id: int, p: Principal = Depends(_page_principal), db: Session = Depends(get_db),
               services: WebServices = Depends(get_services)) -> Response:
    ts = session_for(db, p, session_id, "read_report_pdf")
    services.writer.flush()
    data = build_report(db, ts, services)
    pdf = render_report_pdf(data)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="attunexr-session-{ts.id}.pdf"'})


@router.get("/vr/{session_id}", response_class=HTMLResponse)
def vr_client(request: Request, session_id: int, token: str = "", db: Session = Depends(get_db)) -> HTMLResponse:
    """The WebXR client; it needs the session's VR token (from the dashboard), not a login."""
    import hmac

    ts = db.get(TherapySession, session_id)
    if ts is None or not token or not hmac.compare_digest(ts.vr_token, token):
        raise HTTPException(404, "no such VR session; open the link shown on the clinician's dashboard")
    return templates.TemplateResponse(request, "vr.html", {"session_id": session_id, "token": token,
                                                           "scenario": ts.scenario})


@router.get("/models/{name}", response_class=HTMLResponse)
def model_card(request: Request, name: str, p: Principal = Depends(_page_principal)) -> HTMLResponse:
    cards = model_cards()
    if name not in cards:
        raise HTTPException(404, f"no model card named {name!r}")
    try:  # the card as its authors rendered it, shipped beside the model
        from attunexr.models import REGISTRY_DIR

        html = REGISTRY_DIR / name / "card.html"
        if html.is_file():
            return HTMLResponse(html.read_text(encoding="utf-8"))
    except ImportError:
        pass
    return _render(request, "model_card.html", p, name=name, card=cards[name])
