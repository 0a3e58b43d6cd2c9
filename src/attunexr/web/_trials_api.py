"""Trial REST API (``/api/trials``): studies, registration and amendments, enrolment, concealed randomization,
visits and outcomes (JSON or CSV), withdrawal, adverse events, cost, reports and exports.

Roles: ``coordinator`` (everything of its clinic's trials, the only role that sees allocations), ``assessor``
(blinded: enters outcomes and sees due visits; no response it can get contains an arm), ``researcher`` (reads the
aggregate report of its clinic's trials). Other roles and other clinics get 403/404. Nothing returns the next
allocation: sealed slots are never serialized.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from attunexr.store import TrialStudy
from attunexr.trials import (
    Actor,
    TrialService,
    build_report,
    consort_flow,
    load_allocation_key,
    research_bundle,
)
from attunexr.web._auth import Principal
from attunexr.web._deps import IdPath, get_db, get_principal, get_writer
from attunexr.web._schemas import ERROR_RESPONSES

__all__ = ["router", "trial_service"]

router = APIRouter(prefix="/api/trials", tags=["trials"], responses=ERROR_RESPONSES)
TRIAL_ROLES = ("coordinator", "assessor", "researcher")


def trial_service(request: Request) -> TrialService:
    """The app's trial service (allocation key derived from the master key on first use)."""
    svc: TrialService | None = getattr(request.app.state, "trials", None)
    if svc is None:
        svc = TrialService(load_allocation_key(request.app.state.settings.data_dir))
        request.app.state.trials = svc
    return svc


def actor_of(p: Principal) -> Actor:
    return Actor(p.user_id, p.username, p.role, p.clinic_id)


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except LookupError as err:
        raise HTTPException(404, str(err).strip("'\"")) from err


def _need(p: Principal, *roles: str) -> None:
    if p.role not in roles:
        raise HTTPException(403, f"this needs the role {' or '.join(roles)}; you are {p.role}")


def _study_out(st: TrialStudy) -> dict[str, Any]:
    return {"id": st.id, "protocol_id": st.protocol_id, "version": st.version, "status": st.status,
            "title": st.protocol.get("title", ""), "seed_sha256": st.seed_fingerprint,
            "amendments": len(st.versions or [])}


class StudyIn(BaseModel):
    protocol: dict[str, Any] | None = None


class ProtocolIn(BaseModel):
    protocol: dict[str, Any]


class AmendmentIn(BaseModel):
    protocol: dict[str, Any]
    note: str = Field(min_length=1, max_length=500)


class RegisterIn(BaseModel):
    seed: int | None = None


class EnrolIn(BaseModel):
    patient_id: int
    site: str
    strata: dict[str, str] = Field(default_factory=dict)
    study_consent: bool
    treatment_consent: bool = False
    characteristics: dict[str, Any] = Field(default_factory=dict)


class VisitIn(BaseModel):
    visit: str
    day: int
    scores: dict[str, float] = Field(default_factory=dict)
    items: dict[str, list[int | None]] = Field(default_factory=dict)


class EndIn(BaseModel):
    kind: Literal["withdrawn", "lost", "discontinued"]
    reason: str = Field(min_length=1, max_length=200)


class AdverseEventIn(BaseModel):
    type: str
    severity: str
    serious: bool
    relatedness: str
    expected: bool
    description: str = ""
    session_id: int | None = None


class CostIn(BaseModel):
    cost: dict[str, float]


@router.get("")
def list_trials(p: Principal = Depends(get_principal), db: Session = Depends(get_db)) -> list[dict[str, Any]]:
    _need(p, *TRIAL_ROLES)
    rows = db.execute(select(TrialStudy).where(TrialStudy.clinic_id == p.clinic_id).order_by(TrialStudy.id)).scalars()
    return [_study_out(st) for st in rows]


@router.post("", status_code=201)
def create_trial(body: StudyIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
                 svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    from attunexr.trials import protocol_from_dict

    prot = protocol_from_dict(body.protocol, source="protocol") if body.protocol else None
    return _study_out(svc.create_study(db, actor_of(p), prot))


@router.get("/{study_id}")
def get_trial(study_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
              svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    st = _call(svc.study, db, actor_of(p), study_id)
    protocol = dict(st.protocol)
    if p.role == "assessor":  # blinded: the assessor works from visits and instruments, never from arms
        protocol = {k: v for k, v in protocol.items() if k not in ("arms", "analysis", "ai_component", "title",
                                                                   "design", "description")}
    return {**_study_out(st), "title": "" if p.role == "assessor" else st.protocol.get("title", ""),
            "protocol": protocol}


@router.put("/{study_id}/protocol")
def edit_protocol(study_id: IdPath, body: ProtocolIn, p: Principal = Depends(get_writer),
                  db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> JSONResponse:
    try:
        st = _call(svc.edit_draft, db, actor_of(p), study_id, body.protocol)
    except Exception as err:
        if "locked" in str(err):
            return JSONResponse({"detail": str(err)}, status_code=409)
        raise
    return JSONResponse(_study_out(st))


@router.post("/{study_id}/register")
def register(study_id: IdPath, body: RegisterIn | None = Body(None), p: Principal = Depends(get_writer),
             db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    return _study_out(_call(svc.register, db, actor_of(p), study_id, body.seed if body else None))


@router.post("/{study_id}/amendments", status_code=201)
def amend(study_id: IdPath, body: AmendmentIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
          svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    return _study_out(_call(svc.amend, db, actor_of(p), study_id, body.protocol, body.note))


@router.get("/{study_id}/participants")
def participants(study_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
                 svc: TrialService = Depends(trial_service)) -> list[dict[str, Any]]:
    _need(p, "coordinator", "assessor")
    out: list[dict[str, Any]] = _call(svc.participants_view, db, actor_of(p), study_id)
    return out


@router.post("/{study_id}/participants", status_code=201)
def enrol(study_id: IdPath, body: EnrolIn, p: Principal = Depends(get_writer), db: Session = Depends(get_db),
          svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    tp = _call(svc.enrol, db, actor_of(p), study_id, body.patient_id, body.site, body.strata, body.study_consent,
               body.treatment_consent, body.characteristics)
    return {"id": tp.id, "code": tp.code, "status": tp.status, "site": tp.site}


@router.post("/{study_id}/participants/{participant_id}/randomize")
def randomize(study_id: IdPath, participant_id: IdPath, p: Principal = Depends(get_writer),
              db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    arm = _call(svc.randomize, db, actor_of(p), study_id, participant_id)
    return {"participant_id": participant_id, "arm": arm}


@router.post("/{study_id}/participants/{participant_id}/visits", status_code=201)
def record_visit(study_id: IdPath, participant_id: IdPath, body: VisitIn, p: Principal = Depends(get_writer),
                 db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    row, alerts = _call(svc.record_visit, db, actor_of(p), study_id, participant_id, body.visit, body.day,
                        body.scores, body.items or None)
    return {"id": row.id, "visit": row.visit, "day": row.day, "scores": row.scores, "deviation": row.deviation,
            "safety_alerts": alerts}


@router.post("/{study_id}/outcomes.csv", status_code=201)
async def import_outcomes(study_id: IdPath, request: Request, p: Principal = Depends(get_writer),
                          db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)
                          ) -> dict[str, Any]:
    text = (await request.body()).decode("utf-8", "replace")
    return {"visits": _call(svc.import_outcomes_csv, db, actor_of(p), study_id, text)}


@router.post("/{study_id}/participants/{participant_id}/end")
def end(study_id: IdPath, participant_id: IdPath, body: EndIn, p: Principal = Depends(get_writer),
        db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    tp = _call(svc.end_participation, db, actor_of(p), study_id, participant_id, body.kind, body.reason)
    return {"id": tp.id, "status": tp.status}


@router.post("/{study_id}/participants/{participant_id}/adverse-events", status_code=201)
def adverse_event(study_id: IdPath, participant_id: IdPath, body: AdverseEventIn, p: Principal = Depends(get_writer),
                  db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    ae = _call(svc.add_adverse_event, db, actor_of(p), study_id, participant_id, body.type, body.severity,
               body.serious, body.relatedness, body.expected, body.description, body.session_id)
    return {"id": ae.id, "type": ae.type}


@router.put("/{study_id}/participants/{participant_id}/cost")
def cost(study_id: IdPath, participant_id: IdPath, body: CostIn, p: Principal = Depends(get_writer),
         db: Session = Depends(get_db), svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    tp = _call(svc.set_cost, db, actor_of(p), study_id, participant_id, body.cost)
    return {"id": tp.id, "cost": tp.cost}


@router.get("/{study_id}/visits-due")
def visits_due(study_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
               svc: TrialService = Depends(trial_service)) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = _call(svc.visits_due, db, actor_of(p), study_id)
    return out


@router.get("/{study_id}/report")
def report(study_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
           svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    _need(p, "coordinator", "researcher")
    data = _call(svc.trial_data, db, actor_of(p), study_id)
    out: dict[str, Any] = build_report(data, imputations=10).to_json_dict()
    return out


@router.get("/{study_id}/flow.svg")
def flow_svg(study_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
             svc: TrialService = Depends(trial_service)) -> Response:
    _need(p, "coordinator", "researcher")
    return Response(render_flow_svg(_call(svc.trial_data, db, actor_of(p), study_id)), media_type="image/svg+xml")


def render_flow_svg(data: Any) -> bytes:
    import tempfile
    from pathlib import Path

    from attunexr.trials import write_flow_diagram

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_flow_diagram(consort_flow(data), Path(tmp) / "flow.svg")
        return paths[0].read_bytes()


@router.get("/{study_id}/dataset.csv")
def dataset(study_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
            svc: TrialService = Depends(trial_service)) -> Response:
    _need(p, "coordinator", "researcher")
    import tempfile
    from pathlib import Path

    from attunexr.trials import export_dataset

    data = _call(svc.trial_data, db, actor_of(p), study_id)
    with tempfile.TemporaryDirectory() as tmp:
        text = export_dataset(data, Path(tmp)).read_text()
    return Response(text, media_type="text/csv")


@router.get("/{study_id}/fhir")
def fhir(study_id: IdPath, p: Principal = Depends(get_principal), db: Session = Depends(get_db),
         svc: TrialService = Depends(trial_service)) -> dict[str, Any]:
    _need(p, "coordinator")
    return research_bundle(_call(svc.trial_data, db, actor_of(p), study_id), include_arms=True)
