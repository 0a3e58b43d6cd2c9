"""Trial pages: the trial list (create from the template), the study page (register, enrol, randomize, enter
outcomes, due visits) and the study report with the CONSORT flow diagram.

The blinded assessor's pages never render an arm: the participants table shows the arm column only to the
coordinator, and the report and flow diagram are for coordinators and researchers only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from attunexr.errors import AttunexrError
from attunexr.store import Patient, TrialStudy, append_audit
from attunexr.trials import TrialService, build_report, report_body_html
from attunexr.web._auth import Principal
from attunexr.web._deps import IdPath, get_db, get_writer
from attunexr.web._pages import _page_principal, _render
from attunexr.web._trials_api import actor_of, render_flow_svg, trial_service

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
TRIAL_ROLES = ("coordinator", "assessor", "researcher")


def _back(study_id: int | None, msg: str = "", error: str = "") -> RedirectResponse:
    url = "/trials" if study_id is None else f"/trials/{study_id}"
    q = f"?msg={quote(msg)}" if msg else f"?error={quote(error)}" if error else ""
    return RedirectResponse(url + q, status_code=303)


def _study(svc: TrialService, db: Session, p: Principal, study_id: int) -> TrialStudy:
    try:
        return svc.study(db, actor_of(p), study_id)
    except LookupError as err:
        raise HTTPException(404, f"no trial {study_id} in your clinic") from err


@router.get("/trials", response_class=HTMLResponse)
def trials_page(request: Request, msg: str = "", error: str = "", p: Principal = Depends(_page_principal),
                db: Session = Depends(get_db)) -> HTMLResponse:
    if p.role not in TRIAL_ROLES:
        raise HTTPException(403, "trials are for coordinators, assessors and researchers")
    studies = list(db.execute(select(TrialStudy).where(TrialStudy.clinic_id == p.clinic_id)
                              .order_by(TrialStudy.id)).scalars())
    return _render(request, "trial_list.html", p, studies=studies, msg=msg, error=error)


@router.post("/trials")
def trials_create(p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                  svc: TrialService = Depends(trial_service)) -> Response:
    try:
        st = svc.create_study(db, actor_of(p))
    except AttunexrError as err:
        return _back(None, error=str(err))
    return _back(st.id, msg="Study created from the three-arm template (draft). Register it to lock the protocol.")


@router.get("/trials/{study_id}", response_class=HTMLResponse)
def study_page(request: Request, study_id: IdPath, msg: str = "", error: str = "",
               p: Principal = Depends(_page_principal), db: Session = Depends(get_db),
               svc: TrialService = Depends(trial_service)) -> HTMLResponse:
    st = _study(svc, db, p, study_id)
    prot = svc.protocol(st)
    participants = svc.participants_view(db, actor_of(p), study_id) if p.role in ("coordinator", "assessor") else []
    due = svc.visits_due(db, actor_of(p), study_id) if p.role in ("coordinator", "assessor") else []
    patients: list[Any] = []
    if p.role == "coordinator":
        enrolled = {x["code"] for x in participants}
        patients = list(db.execute(select(Patient).where(Patient.clinic_id == p.clinic_id)
                                   .order_by(Patient.id)).scalars())
        append_audit(db, actor=p.username, actor_id=p.user_id, action="list", resource="patient",
                     clinic_id=p.clinic_id, detail={"count": len(patients), "page": "trial", "enrolled": len(enrolled)})
    instruments = sorted({i for v in prot.visits for i in v.instruments})
    return _render(request, "trial_study.html", p, study=st, protocol=prot, participants=participants, due=due,
                   patients=patients, instruments=instruments, msg=msg, error=error)


@router.post("/trials/{study_id}/register")
def study_register(study_id: IdPath, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                   svc: TrialService = Depends(trial_service)) -> Response:
    try:
        svc.register(db, actor_of(p), study_id)
    except LookupError as err:
        raise HTTPException(404, str(err)) from err
    except AttunexrError as err:
        return _back(study_id, error=str(err))
    return _back(study_id, msg="Protocol registered and locked; the allocation sequence is sealed.")


@router.post("/trials/{study_id}/enrol")
async def study_enrol(request: Request, study_id: IdPath, p: Principal = Depends(get_writer),
                      db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> Response:
    form = await request.form()
    try:
        st = svc.study(db, actor_of(p), study_id)
        prot = svc.protocol(st)
        strata = {f.id: str(form.get(f"stratum_{f.id}", "")) for f in prot.stratification}
        pid = int(str(form.get("patient_id", "0")))
        tp = svc.enrol(db, actor_of(p), study_id, pid, str(form.get("site", "")), strata,
                       form.get("study_consent") == "yes", form.get("treatment_consent") == "yes")
    except LookupError as err:
        raise HTTPException(404, str(err)) from err
    except (AttunexrError, ValueError) as err:
        return _back(study_id, error=str(err))
    return _back(study_id, msg=f"Enrolled {tp.code}.")


@router.post("/trials/{study_id}/participants/{participant_id}/randomize")
def study_randomize(study_id: IdPath, participant_id: IdPath, p: Principal = Depends(get_writer),
                    db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> Response:
    try:
        arm = svc.randomize(db, actor_of(p), study_id, participant_id)
        name = svc.protocol(svc.study(db, actor_of(p), study_id)).arm(arm).name
    except LookupError as err:
        raise HTTPException(404, str(err)) from err
    except AttunexrError as err:
        return _back(study_id, error=str(err))
    return _back(study_id, msg=f"Randomized: {name}.")


@router.post("/trials/{study_id}/visits")
async def study_visit(request: Request, study_id: IdPath, p: Principal = Depends(get_writer),
                      db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> Response:
    form = await request.form()
    try:
        pid = int(str(form.get("participant_id", "0")))
        day = int(str(form.get("day", "")))
        score = float(str(form.get("score", "")))
        row, alerts = svc.record_visit(db, actor_of(p), study_id, pid, str(form.get("visit", "")), day,
                                       {str(form.get("instrument", "")): score})
    except LookupError as err:
        raise HTTPException(404, str(err)) from err
    except ValueError as err:
        return _back(study_id, error=f"{err}" if str(err) else "day and score must be numbers")
    except AttunexrError as err:
        return _back(study_id, error=str(err))
    text = f"Outcome recorded ({row.visit}, day {row.day})."
    if row.deviation:
        text += f" Protocol deviation recorded: {row.deviation}."
    return _back(study_id, msg=text + "".join(f" SAFETY ALERT: {a}" for a in alerts))


@router.post("/trials/{study_id}/outcomes")
async def study_outcomes_csv(request: Request, study_id: IdPath, p: Principal = Depends(get_writer),
                             db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> Response:
    form = await request.form()
    upload = form.get("csv")
    if upload is None or isinstance(upload, str):
        return _back(study_id, error="choose a CSV file (participant,visit,day,instrument,score)")
    text = (await upload.read()).decode("utf-8", "replace")
    try:
        n = svc.import_outcomes_csv(db, actor_of(p), study_id, text)
    except LookupError as err:
        raise HTTPException(404, str(err)) from err
    except AttunexrError as err:
        return _back(study_id, error=f"nothing imported: {err}")
    return _back(study_id, msg=f"Imported {n} visits from the CSV file.")


@router.get("/trials/{study_id}/report", response_class=HTMLResponse)
def study_report(request: Request, study_id: IdPath, p: Principal = Depends(_page_principal),
                 db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> HTMLResponse:
    if p.role not in ("coordinator", "researcher"):
        raise HTTPException(403, "the study report shows arms; it is for coordinators and researchers")
    st = _study(svc, db, p, study_id)
    data = svc.trial_data(db, actor_of(p), study_id)
    rep = build_report(data, imputations=10)
    body = Markup(report_body_html(rep, f"/trials/{study_id}/flow.svg"))  # noqa: S704 - built with html.escape
    return _render(request, "trial_report.html", p, study=st, body=body)


@router.get("/trials/{study_id}/flow.svg")
def study_flow(study_id: IdPath, p: Principal = Depends(_page_principal), db: Session = Depends(get_db),
               svc: TrialService = Depends(trial_service)) -> Response:
    if p.role not in ("coordinator", "researcher"):
        raise HTTPException(403, "the flow diagram shows arms; it is for coordinators and researchers")
    _study(svc, db, p, study_id)
    return Response(render_flow_svg(svc.trial_data(db, actor_of(p), study_id)), media_type="image/svg+xml")
