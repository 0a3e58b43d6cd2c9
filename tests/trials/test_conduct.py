"""Trial conduct in the store without the web layer: roles, enrolment, visits due and overdue, CSV import, loss and
withdrawal in the CONSORT flow, and fidelity and dose read from the session logs."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from attunexr.errors import AuthorizationError, ConfigurationError, DataFormatError
from attunexr.store import (
    Clinic,
    Database,
    Patient,
    SessionEvent,
    TherapySession,
    TrialParticipant,
    User,
    sqlite_url,
)
from attunexr.trials import Actor, TrialService, consort_flow


@pytest.fixture()
def world(tmp_path: Path) -> Any:
    db = Database(sqlite_url(tmp_path / "t.db"))
    db.upgrade()
    s = db.session()
    clinic = Clinic(name="C")
    s.add(clinic)
    s.commit()
    users = {r: User(username=r, password_hash="x", role=r, clinic_id=clinic.id)
             for r in ("coordinator", "assessor", "researcher", "clinician")}
    s.add_all(users.values())
    s.commit()
    patients = [Patient(clinic_id=clinic.id, pseudonym=f"P-{i}", identifying_enc=b"x",
                        created_by=users["clinician"].id) for i in range(4)]
    s.add_all(patients)
    s.commit()
    actors = {r: Actor(u.id, u.username, u.role, clinic.id) for r, u in users.items()}
    svc = TrialService(os.urandom(32))
    yield s, svc, actors, patients
    s.close()
    db.dispose()


def _trial(s: Session, svc: TrialService, a: dict[str, Actor], patients: list[Patient]) -> tuple[int, list[int]]:
    st = svc.create_study(s, a["coordinator"])
    svc.register(s, a["coordinator"], st.id, seed=7)
    parts = []
    for p in patients[:3]:
        tp = svc.enrol(s, a["coordinator"], st.id, p.id, "site_2", {"severity": "moderate"}, True, True)
        svc.randomize(s, a["coordinator"], st.id, tp.id)
        svc.record_visit(s, a["coordinator"], st.id, tp.id, "baseline", 0, {"aq_anxiety": 70})
        parts.append(tp.id)
    return st.id, parts


def test_roles_are_enforced_and_assessor_cannot_read_trial_data(world: Any) -> None:
    s, svc, a, patients = world
    with pytest.raises(AuthorizationError):
        svc.create_study(s, a["clinician"])
    sid, parts = _trial(s, svc, a, patients)
    with pytest.raises(AuthorizationError):
        svc.randomize(s, a["assessor"], sid, parts[0])
    with pytest.raises(AuthorizationError):
        svc.trial_data(s, a["assessor"], sid)
    assert all("arm" not in row for row in svc.participants_view(s, a["assessor"], sid))
    assert all(row["arm"] for row in svc.participants_view(s, a["coordinator"], sid))
    with pytest.raises(ConfigurationError, match="not registered"):
        draft = svc.create_study(s, a["coordinator"])
        svc.enrol(s, a["coordinator"], draft.id, patients[3].id, "site_1", {"severity": "moderate"}, True, False)


def test_visits_due_overdue_csv_import_and_flow(world: Any) -> None:
    s, svc, a, patients = world
    sid, parts = _trial(s, svc, a, patients)
    tp = s.get(TrialParticipant, parts[0])
    tp.randomized_at = datetime.now(UTC) - timedelta(days=58)
    s.commit()
    due = {(d["participant_id"], d["visit"]): d["status"] for d in svc.visits_due(s, a["assessor"], sid)}
    assert due[(parts[0], "mid_treatment")] == "overdue" and due[(parts[0], "post")] == "overdue"
    assert due[(parts[0], "fu_1m")] == "due" and (parts[0], "fu_3m") not in due and (parts[1], "post") not in due
    codes = [r["code"] for r in svc.participants_view(s, a["coordinator"], sid)]
    bad = f"participant,visit,day,instrument,score\n{codes[0]},post,35,aq_anxiety,40\n{codes[1]},post,36,aq_anxiety,500\n"
    with pytest.raises(DataFormatError, match="line 3"):
        svc.import_outcomes_csv(s, a["assessor"], sid, bad)
    assert svc.import_outcomes_csv(s, a["assessor"], sid, bad.replace(",500", ",55")) == 2
    svc.end_participation(s, a["coordinator"], sid, parts[2], "withdrawn", "withdrew consent")
    svc.end_participation(s, a["coordinator"], sid, parts[1], "discontinued", "cybersickness")
    flow = consort_flow(svc.trial_data(s, a["researcher"], sid))
    assert flow.check() == [] and flow.randomized == 3 and sum(flow.analysed.values()) == 2
    arm2 = svc.trial_data(s, a["coordinator"], sid).participants[2].arm
    assert flow.lost[arm2] == {"withdrew consent": 1}
    assert flow.excluded_from_analysis[arm2] == {"no post-baseline score (withdrew consent)": 1}


def test_fidelity_and_dose_come_from_session_logs(world: Any) -> None:
    s, svc, a, patients = world
    sid, parts = _trial(s, svc, a, patients)
    tp = s.get(TrialParticipant, parts[0])
    ts = TherapySession(patient_id=tp.patient_id, clinic_id=a["coordinator"].clinic_id, scenario="heights", plan={},
                        status="finished", vr_token="t", created_by=a["coordinator"].user_id)
    s.add(ts)
    s.commit()
    events = [(0.0, "level", "system", {"level": 0}), (60.0, "proposal", "controller", {"id": "d1"}),
              (61.0, "decision", "clin", {"proposal": "d1", "decision": "approved"}),
              (61.0, "level", "clin", {"level": 1, "reason": "approved proposal: calm"}),
              (181.0, "level", "clin", {"level": 2, "reason": "clinician choice"}),
              (200.0, "decision", "clin", {"proposal": "d2", "decision": "rejected"}),
              (301.0, "end", "clin", {"state": "finished"})]
    s.add_all(SessionEvent(session_id=ts.id, t=t, kind=k, actor=who, payload=pl) for t, k, who, pl in events)
    s.commit()
    rec = next(p for p in svc.trial_data(s, a["coordinator"], sid).participants if p.id == tp.code)
    assert rec.sessions_attended == 1
    assert rec.minutes_at_level == pytest.approx([61 / 60, 2.0, 2.0], abs=0.01)
    assert (rec.proposals_approved, rec.proposals_rejected, rec.clinician_overrides) == (1, 1, 1)
