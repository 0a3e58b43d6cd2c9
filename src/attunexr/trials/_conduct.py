"""Running a trial in the store: studies, registration (locks the protocol), amendments as new versions, enrolment
with study consent, concealed randomization, visits with window deviations, outcomes with range checks (form or
CSV), withdrawal and loss with reasons, adverse events, cost inputs, fidelity from session logs.

Roles: ``coordinator`` runs the trial (the only role that randomizes and sees allocations); ``assessor`` is the
blinded outcome assessor: it enters outcomes and lists due visits, and nothing it can call returns an arm;
``researcher`` reads reports of a registered study. Everything is audited in the hash-chained log; a reveal is
audited with the slot index only. The arm is stored only encrypted (slot ciphertext and participant ``arm_enc``).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attunexr.clinical import check_instrument_total, score_phq9, score_phqa
from attunexr.errors import AuthorizationError, ConfigurationError, DataFormatError
from attunexr.privacy import MASTER_KEY_ENV, decrypt, encrypt, generate_master_key_file, load_master_key
from attunexr.safety import ADVERSE_EVENT_TYPES
from attunexr.store import (
    Patient,
    SessionEvent,
    TherapySession,
    TrialAdverseEvent,
    TrialAllocationSlot,
    TrialParticipant,
    TrialStudy,
    TrialVisit,
    append_audit,
)
from attunexr.trials._data import AdverseEventRecord, ParticipantRecord, TrialData, VisitRecord
from attunexr.trials._protocol import Protocol, default_protocol, protocol_from_dict
from attunexr.trials._randomization import (
    SealedSlot,
    generate_sealed_sequence,
    reveal_slot,
    seed_fingerprint,
    stratum_key,
)

__all__ = ["Actor", "TrialService", "load_allocation_key"]

logger = logging.getLogger(__name__)

_SEVERITY = ("mild", "moderate", "severe")
_RELATEDNESS = ("unrelated", "unlikely", "possible", "probable", "definite")
_LOCKED_FIELDS = ("arms", "sites", "stratification", "block_sizes")


def load_allocation_key(data_dir: Path) -> bytes:
    """The 32-byte allocation key derived from the master key (env, or ``data_dir/master.key``)."""
    if os.environ.get(MASTER_KEY_ENV):
        master = load_master_key()
    else:
        path = Path(data_dir) / "master.key"
        if not path.exists():
            generate_master_key_file(path)
        master = load_master_key(path)
    return master.derive("trials/allocation")


@dataclass(frozen=True)
class Actor:
    """Who acts: user id and name, role and clinic."""

    user_id: int
    username: str
    role: str
    clinic_id: int | None


class TrialService:
    """Trial conduct on a database session; every method checks the role and the clinic and audits.

    Parameters
    ----------
    key
        The allocation key (:func:`load_allocation_key`).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    # helpers ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _need(actor: Actor, *roles: str) -> None:
        if actor.role not in roles:
            raise AuthorizationError(f"this needs the role {' or '.join(roles)}; you are {actor.role}")

    @staticmethod
    def _audit(db: Session, actor: Actor, action: str, resource: str, rid: object, detail: dict[str, Any]) -> None:
        append_audit(db, actor=actor.username, actor_id=actor.user_id, action=action, resource=resource,
                     resource_id=str(rid), clinic_id=actor.clinic_id, detail=detail)

    def study(self, db: Session, actor: Actor, study_id: int) -> TrialStudy:
        """The study if the caller is a trial role of its clinic (else a not-found error that leaks nothing)."""
        st = db.get(TrialStudy, study_id)
        if (st is None or actor.role not in ("coordinator", "assessor", "researcher")
                or st.clinic_id != actor.clinic_id):
            raise LookupError(f"no trial {study_id} in your clinic")
        return st

    def protocol(self, st: TrialStudy) -> Protocol:
        return protocol_from_dict(st.protocol, source=f"trial {st.id}")

    def participant(self, db: Session, actor: Actor, study_id: int, participant_id: int) -> TrialParticipant:
        st = self.study(db, actor, study_id)
        p = db.get(TrialParticipant, participant_id)
        if p is None or p.study_id != st.id:
            raise LookupError(f"no participant {participant_id} in trial {study_id}")
        return p

    def _arm(self, p: TrialParticipant) -> str | None:
        if p.arm_enc is None:
            return None
        return decrypt(self._key, p.arm_enc, f"trial-arm|{p.study_id}|{p.id}".encode()).decode()

    # studies ---------------------------------------------------------------------------------------------------
    def create_study(self, db: Session, actor: Actor, protocol: Protocol | None = None) -> TrialStudy:
        self._need(actor, "coordinator")
        if actor.clinic_id is None:
            raise ConfigurationError("a trial belongs to a clinic; your account has none")
        prot = protocol or default_protocol()
        st = TrialStudy(clinic_id=actor.clinic_id, protocol_id=prot.id, version=prot.version,
                        protocol=prot.to_json_dict(), versions=[], status="draft", created_by=actor.user_id)
        db.add(st)
        db.commit()
        self._audit(db, actor, "trial.create", "trial", st.id, {"protocol": prot.id, "version": prot.version})
        return st

    def edit_draft(self, db: Session, actor: Actor, study_id: int, data: dict[str, Any]) -> TrialStudy:
        """Replace the protocol of a draft study; a registered protocol is refused (amend it instead)."""
        self._need(actor, "coordinator")
        st = self.study(db, actor, study_id)
        if st.status != "draft":
            self._audit(db, actor, "denied:trial.edit", "trial", st.id, {"reason": "registered protocol is locked"})
            raise ConfigurationError(f"trial {st.id} protocol v{st.version} is registered and locked; "
                                     "submit an amendment (a new version) instead of editing it")
        prot = protocol_from_dict(data, source="protocol")
        st.protocol, st.protocol_id, st.version = prot.to_json_dict(), prot.id, prot.version
        db.commit()
        self._audit(db, actor, "trial.edit", "trial", st.id, {"version": prot.version})
        return st

    def register(self, db: Session, actor: Actor, study_id: int, seed: int | None = None) -> TrialStudy:
        """Lock the protocol and seal the allocation sequence (the seed is not stored, only its fingerprint)."""
        self._need(actor, "coordinator")
        st = self.study(db, actor, study_id)
        if st.status != "draft":
            raise ConfigurationError(f"trial {st.id} is already registered")
        prot = self.protocol(st)
        seed_v = int.from_bytes(os.urandom(8), "big") if seed is None else int(seed)
        for s in generate_sealed_sequence(prot, seed_v, self._key):
            db.add(TrialAllocationSlot(study_id=st.id, stratum=s.stratum, idx=s.index, block=s.block,
                                       ciphertext=s.ciphertext))
        st.status, st.sequence_version = "registered", prot.version
        st.seed_fingerprint = seed_fingerprint(seed_v)
        st.registered_at = datetime.now(UTC)
        db.commit()
        self._audit(db, actor, "trial.register", "trial", st.id,
                    {"version": prot.version, "seed_sha256": st.seed_fingerprint})
        return st

    def amend(self, db: Session, actor: Actor, study_id: int, data: dict[str, Any], note: str) -> TrialStudy:
        """A new protocol version of a registered study; the earlier version is kept, the change audited."""
        self._need(actor, "coordinator")
        st = self.study(db, actor, study_id)
        if st.status != "registered":
            raise ConfigurationError(f"trial {st.id} is a draft: edit it directly, amendments are for registered "
                                     "protocols")
        if not note.strip():
            raise ConfigurationError("an amendment needs a note saying what changed and why")
        old = self.protocol(st)
        new = protocol_from_dict(data, source="amendment")
        if new.id != old.id or new.version != old.version + 1:
            raise ConfigurationError(f"an amendment of {old.id} v{old.version} must be {old.id} version "
                                     f"{old.version + 1}, got {new.id} v{new.version}")
        changed = [f for f in _LOCKED_FIELDS if getattr(new, f) != getattr(old, f)]
        if changed:
            raise ConfigurationError(f"an amendment cannot change {changed}: the sealed allocation sequence depends "
                                     "on them; start a new trial")
        new = new.model_copy(update={"amendment_note": note})
        st.versions = [*st.versions, st.protocol]
        st.protocol, st.version = new.to_json_dict(), new.version
        db.commit()
        self._audit(db, actor, "trial.amend", "trial", st.id, {"from": old.version, "to": new.version,
                                                               "note": note[:200]})
        return st

    # participants ----------------------------------------------------------------------------------------------
    def enrol(self, db: Session, actor: Actor, study_id: int, patient_id: int, site: str, strata: dict[str, str],
              study_consent: bool, treatment_consent: bool,
              characteristics: dict[str, Any] | None = None) -> TrialParticipant:
        """Enrol a patient of the clinic (study consent required; a second enrolment is refused)."""
        self._need(actor, "coordinator")
        st = self.study(db, actor, study_id)
        if st.status != "registered":
            raise ConfigurationError(f"trial {st.id} is not registered yet: register the protocol before enrolling")
        prot = self.protocol(st)
        pat = db.get(Patient, patient_id)
        if pat is None or pat.clinic_id != st.clinic_id:
            raise LookupError(f"no patient {patient_id} in your clinic")
        if not study_consent:
            raise ConfigurationError("study consent is required for enrolment (treatment consent is recorded "
                                     "separately)")
        dup = db.execute(select(TrialParticipant).where(TrialParticipant.study_id == st.id,
                                                        TrialParticipant.patient_id == patient_id)).scalar_one_or_none()
        if dup is not None:
            self._audit(db, actor, "denied:trial.enrol", "trial", st.id, {"reason": "duplicate",
                                                                          "participant": dup.code})
            raise ConfigurationError(f"patient {pat.pseudonym} is already enrolled in trial {st.id} as {dup.code}")
        stratum = stratum_key(prot, site, strata)
        n = len(db.execute(select(TrialParticipant.id).where(TrialParticipant.study_id == st.id)).all())
        p = TrialParticipant(study_id=st.id, patient_id=patient_id, code=f"{prot.id[:8].upper()}-{n + 1:04d}",
                             site=site, strata=dict(strata), stratum=stratum, study_consent=True,
                             treatment_consent=bool(treatment_consent), characteristics=characteristics or {},
                             status="enrolled", enrolled_by=actor.user_id)
        db.add(p)
        db.commit()
        self._audit(db, actor, "trial.enrol", "trial_participant", p.id,
                    {"trial": st.id, "code": p.code, "site": site, "treatment_consent": p.treatment_consent})
        return p

    def randomize(self, db: Session, actor: Actor, study_id: int, participant_id: int) -> str:
        """Reveal the next sealed allocation of the participant's stratum (coordinator only, once)."""
        self._need(actor, "coordinator")
        p = self.participant(db, actor, study_id, participant_id)
        st = self.study(db, actor, study_id)
        if p.status != "enrolled" or p.arm_enc is not None:
            raise ConfigurationError(f"participant {p.code} is {p.status}: only an enrolled, not yet randomized "
                                     "participant can be randomized")
        slot = db.execute(select(TrialAllocationSlot).where(
            TrialAllocationSlot.study_id == st.id, TrialAllocationSlot.stratum == p.stratum,
            TrialAllocationSlot.participant_id.is_(None)).order_by(TrialAllocationSlot.idx).limit(1)
        ).scalar_one_or_none()
        if slot is None:
            raise ConfigurationError(f"the allocation sequence of stratum {p.stratum} is used up")
        prot = self.protocol(st).model_copy(update={"version": st.sequence_version})
        arm = reveal_slot(prot, SealedSlot(slot.stratum, slot.idx, slot.block, slot.ciphertext), self._key)
        slot.participant_id, slot.revealed_at = p.id, datetime.now(UTC)
        p.arm_enc = encrypt(self._key, arm.encode(), f"trial-arm|{p.study_id}|{p.id}".encode())
        p.status, p.randomized_at = "randomized", datetime.now(UTC)
        db.commit()
        self._audit(db, actor, "trial.randomize", "trial_participant", p.id,
                    {"trial": st.id, "code": p.code, "stratum": p.stratum, "slot": slot.idx})
        return arm

    def end_participation(self, db: Session, actor: Actor, study_id: int, participant_id: int, kind: str,
                          reason: str) -> TrialParticipant:
        """Withdrawal, loss to follow-up (status) or discontinuation of the intervention (still followed up)."""
        self._need(actor, "coordinator")
        if kind not in ("withdrawn", "lost", "discontinued"):
            raise ConfigurationError(f"kind must be withdrawn, lost or discontinued, got {kind!r}")
        if not reason.strip():
            raise ConfigurationError("give the reason (CONSORT reports it)")
        p = self.participant(db, actor, study_id, participant_id)
        if kind == "discontinued":
            p.discontinued = reason[:200]
        else:
            p.status, p.end_reason = kind, reason[:200]
        db.commit()
        self._audit(db, actor, f"trial.{kind}", "trial_participant", p.id, {"reason": reason[:200]})
        return p

    # visits and outcomes ---------------------------------------------------------------------------------------
    def record_visit(self, db: Session, actor: Actor, study_id: int, participant_id: int, visit: str, day: int,
                     scores: dict[str, float], items: dict[str, list[float | None]] | None = None
                     ) -> tuple[TrialVisit, list[str]]:
        """Store a visit's scores after range checks (all or nothing); outside its window it is a deviation.

        ``items`` may carry item answers of PHQ-9 / PHQ-A: item 9 > 0 raises a safety alert to the responsible
        clinician (audited), always. Returns the visit and the alert messages.
        """
        self._need(actor, "coordinator", "assessor")
        p = self.participant(db, actor, study_id, participant_id)
        st = self.study(db, actor, study_id)
        prot = self.protocol(st)
        v = prot.visit(visit)
        if p.status == "enrolled" and v.kind not in ("screening", "baseline"):
            raise ConfigurationError(f"participant {p.code} is not randomized; only screening and baseline visits "
                                     "can be recorded")
        clean: dict[str, float] = {}
        for inst, val in scores.items():
            clean[inst] = check_instrument_total(inst, val)
        alerts: list[str] = []
        for inst, answers in (items or {}).items():
            if inst not in ("phq9", "phqa"):
                raise ConfigurationError(f"item answers are accepted for phq9 and phqa, not {inst!r}")
            res = score_phq9([int(a) for a in answers]) if inst == "phq9" else score_phqa(answers)  # type: ignore[arg-type]
            clean[inst] = float(res.total)
            if res.flags:
                alerts.append(f"{inst.upper()} item 9 answered {answers[8]} by participant {p.code}: the responsible "
                              "clinician must do a risk assessment now")
        if not clean:
            raise ConfigurationError("no scores given")
        if not isinstance(day, int) or isinstance(day, bool):
            raise ConfigurationError(f"day must be a whole number, got {day!r}")
        exists = db.execute(select(TrialVisit).where(TrialVisit.participant_id == p.id,
                                                     TrialVisit.visit == visit)).scalar_one_or_none()
        if exists is not None:
            raise ConfigurationError(f"visit {visit} of {p.code} is already recorded")
        deviation = ""
        if abs(day - v.day) > v.window_days:
            deviation = f"visit {visit} on day {day}, outside day {v.day} +/- {v.window_days}"
        row = TrialVisit(participant_id=p.id, visit=visit, day=day, scores=clean, deviation=deviation,
                         entered_by=actor.user_id)
        db.add(row)
        db.commit()
        self._audit(db, actor, "trial.visit", "trial_participant", p.id,
                    {"visit": visit, "instruments": sorted(clean), "deviation": bool(deviation)})
        if alerts:
            pat = db.get(Patient, p.patient_id)
            for a in alerts:
                self._audit(db, actor, "safety.alert", "patient", p.patient_id,
                            {"message": a, "notify_user_id": pat.created_by if pat else None, "severity": "critical"})
                logger.warning(a)
        return row, alerts

    def import_outcomes_csv(self, db: Session, actor: Actor, study_id: int, text: str) -> int:
        """CSV with columns ``participant,visit,day,instrument,score``: every row is checked first; any bad row and
        nothing is stored. Returns the number of visits stored."""
        self._need(actor, "coordinator", "assessor")
        st = self.study(db, actor, study_id)
        prot = self.protocol(st)
        reader = csv.DictReader(io.StringIO(text))
        need = {"participant", "visit", "day", "instrument", "score"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise DataFormatError("outcomes.csv", f"columns must include {sorted(need)}")
        codes = {p.code: p for p in db.execute(select(TrialParticipant).where(
            TrialParticipant.study_id == st.id)).scalars()}
        grouped: dict[tuple[int, str], tuple[int, dict[str, float]]] = {}
        for line, row in enumerate(reader, start=2):
            try:
                p = codes[row["participant"].strip()]
            except KeyError as err:
                raise DataFormatError("outcomes.csv", f"line {line}: unknown participant {row['participant']!r}") from err
            try:
                prot.visit(row["visit"].strip())
                day = int(row["day"])
                score = float(row["score"])
                check_instrument_total(row["instrument"].strip(), score)
            except (ValueError, ConfigurationError) as err:
                raise DataFormatError("outcomes.csv", f"line {line}: {err}") from err
            key = (p.id, row["visit"].strip())
            d0, sc = grouped.get(key, (day, {}))
            sc[row["instrument"].strip()] = score
            grouped[key] = (d0, sc)
        done = 0
        existing = {(v.participant_id, v.visit) for v in db.execute(select(TrialVisit).join(
            TrialParticipant, TrialParticipant.id == TrialVisit.participant_id).where(
            TrialParticipant.study_id == st.id)).scalars()}
        dup = [k for k in grouped if k in existing]
        if dup:
            raise DataFormatError("outcomes.csv", f"{len(dup)} visits are already recorded (e.g. participant id "
                                                  f"{dup[0][0]}, visit {dup[0][1]}); nothing imported")
        for (pid, visit), (day, sc) in grouped.items():
            v = prot.visit(visit)
            dev = f"visit {visit} on day {day}, outside day {v.day} +/- {v.window_days}" \
                if abs(day - v.day) > v.window_days else ""
            db.add(TrialVisit(participant_id=pid, visit=visit, day=day, scores=sc, deviation=dev,
                              entered_by=actor.user_id))
            done += 1
        db.commit()
        self._audit(db, actor, "trial.import_outcomes", "trial", st.id, {"visits": done})
        return done

    def add_adverse_event(self, db: Session, actor: Actor, study_id: int, participant_id: int, type: str,
                          severity: str, serious: bool, relatedness: str, expected: bool, description: str = "",
                          session_id: int | None = None) -> TrialAdverseEvent:
        """An adverse event with the registry's vocabulary (type, severity, seriousness, relatedness, expectedness)."""
        self._need(actor, "coordinator")
        p = self.participant(db, actor, study_id, participant_id)
        if type not in ADVERSE_EVENT_TYPES:
            raise ConfigurationError(f"adverse event type must be one of {list(ADVERSE_EVENT_TYPES)}")
        if severity not in _SEVERITY or relatedness not in _RELATEDNESS:
            raise ConfigurationError(f"severity must be one of {list(_SEVERITY)}, relatedness one of "
                                     f"{list(_RELATEDNESS)}")
        ae = TrialAdverseEvent(participant_id=p.id, session_id=session_id, type=type, severity=severity,
                               serious=bool(serious), relatedness=relatedness, expected=bool(expected),
                               description=description, recorded_by=actor.user_id)
        db.add(ae)
        db.commit()
        self._audit(db, actor, "trial.adverse_event", "trial_participant", p.id,
                    {"type": type, "serious": bool(serious)})
        return ae

    def set_cost(self, db: Session, actor: Actor, study_id: int, participant_id: int,
                 cost: dict[str, float]) -> TrialParticipant:
        """Cost inputs of a participant (e.g. staff, equipment, licence), non-negative numbers."""
        self._need(actor, "coordinator")
        p = self.participant(db, actor, study_id, participant_id)
        for k, v in cost.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise ConfigurationError(f"cost {k!r} must be a non-negative number, got {v!r}")
        p.cost = {**p.cost, **{k: float(v) for k, v in cost.items()}}
        db.commit()
        self._audit(db, actor, "trial.cost", "trial_participant", p.id, {"items": sorted(cost)})
        return p

    # views -----------------------------------------------------------------------------------------------------
    def participants_view(self, db: Session, actor: Actor, study_id: int) -> list[dict[str, Any]]:
        """Participants as the caller may see them: the arm only for the coordinator, never for anyone else."""
        st = self.study(db, actor, study_id)
        rows = list(db.execute(select(TrialParticipant).where(TrialParticipant.study_id == st.id)
                               .order_by(TrialParticipant.id)).scalars())
        out = []
        for p in rows:
            d: dict[str, Any] = {"id": p.id, "code": p.code, "site": p.site, "status": p.status,
                                 "study_consent": p.study_consent, "treatment_consent": p.treatment_consent}
            if actor.role == "coordinator":
                d["arm"] = self._arm(p)
                d["discontinued"] = p.discontinued
                d["end_reason"] = p.end_reason
            out.append(d)
        self._audit(db, actor, "trial.list_participants", "trial", st.id, {"count": len(out), "role": actor.role})
        return out

    def visits_due(self, db: Session, actor: Actor, study_id: int, now: datetime | None = None
                   ) -> list[dict[str, Any]]:
        """Visits due or overdue for randomized participants still in follow-up (no arm in the answer)."""
        self._need(actor, "coordinator", "assessor")
        st = self.study(db, actor, study_id)
        prot = self.protocol(st)
        t = now or datetime.now(UTC)
        out = []
        for p in db.execute(select(TrialParticipant).where(TrialParticipant.study_id == st.id,
                                                           TrialParticipant.status == "randomized")).scalars():
            assert p.randomized_at is not None
            r = p.randomized_at if p.randomized_at.tzinfo else p.randomized_at.replace(tzinfo=UTC)
            day = (t - r).days
            done = {v.visit for v in db.execute(select(TrialVisit).where(TrialVisit.participant_id == p.id)).scalars()}
            for v in prot.visits:
                if v.day <= 0 or v.id in done:
                    continue
                if day >= v.day - v.window_days:
                    out.append({"participant_id": p.id, "code": p.code, "visit": v.id, "visit_name": v.name,
                                "due_day": v.day, "window_days": v.window_days, "today_day": day,
                                "status": "overdue" if day > v.day + v.window_days else "due"})
        return out

    def trial_data(self, db: Session, actor: Actor, study_id: int) -> TrialData:
        """The conduct record for the analysis and the report (coordinator or researcher; never the assessor)."""
        self._need(actor, "coordinator", "researcher")
        st = self.study(db, actor, study_id)
        prot = self.protocol(st)
        base = prot.baseline_visit().id
        parts: list[ParticipantRecord] = []
        for p in db.execute(select(TrialParticipant).where(TrialParticipant.study_id == st.id)
                            .order_by(TrialParticipant.id)).scalars():
            arm = self._arm(p)
            if arm is None:
                continue  # enrolled, not yet randomized: not in the flow after allocation
            visits = list(db.execute(select(TrialVisit).where(TrialVisit.participant_id == p.id)).scalars())
            baseline = next((dict(v.scores) for v in visits if v.visit == base), {})
            aes = [AdverseEventRecord(a.type, a.severity, a.serious, a.relatedness, a.expected, a.session_id)
                   for a in db.execute(select(TrialAdverseEvent).where(TrialAdverseEvent.participant_id == p.id))
                   .scalars()]
            rec = ParticipantRecord(
                id=p.code, site=p.site, strata=dict(p.strata), stratum=p.stratum, arm=arm, baseline=baseline,
                characteristics=dict(p.characteristics),
                visits=[VisitRecord(v.visit, v.day, dict(v.scores), v.deviation) for v in visits],
                sessions_planned=prot.arm(arm).planned_sessions, discontinued=p.discontinued,
                lost=p.end_reason if p.status in ("lost", "withdrawn") else "",
                adverse_events=aes, cost=dict(p.cost))
            self._fidelity(db, p, rec)
            parts.append(rec)
        self._audit(db, actor, "trial.read_data", "trial", st.id, {"participants": len(parts), "role": actor.role})
        return TrialData(prot, parts, seed_fingerprint=st.seed_fingerprint)

    @staticmethod
    def _fidelity(db: Session, p: TrialParticipant, rec: ParticipantRecord) -> None:
        """Sessions delivered, minutes per level, AI proposals approved/rejected, from the session logs."""
        if p.randomized_at is None:
            return
        sessions = list(db.execute(select(TherapySession).where(TherapySession.patient_id == p.patient_id,
                                                                TherapySession.status.in_(("finished", "stopped"))))
                        .scalars())

        def aware(t: datetime) -> datetime:
            return t if t.tzinfo else t.replace(tzinfo=UTC)

        since = aware(p.randomized_at)
        sessions = [ts for ts in sessions if aware(ts.created_at) >= since]  # treatment within the trial only
        rec.sessions_attended = len(sessions)
        minutes: dict[int, float] = {}
        for ts in sessions:
            events = list(db.execute(select(SessionEvent).where(SessionEvent.session_id == ts.id)
                                     .order_by(SessionEvent.t)).scalars())
            last_t, last_level = None, None
            for e in events:
                payload = e.payload if isinstance(e.payload, dict) else {}
                if e.kind == "level" and "level" in payload:
                    if last_t is not None and last_level is not None:
                        minutes[last_level] = minutes.get(last_level, 0.0) + (e.t - last_t) / 60.0
                    last_t, last_level = e.t, int(payload["level"])
                elif e.kind == "decision":
                    if payload.get("decision") == "approved":
                        rec.proposals_approved += 1
                    elif payload.get("decision") == "rejected":
                        rec.proposals_rejected += 1
                elif e.kind == "end" and last_t is not None and last_level is not None:
                    minutes[last_level] = minutes.get(last_level, 0.0) + (e.t - last_t) / 60.0
                    last_t = None
            # a level change made by a person that is not the approval of an AI proposal
            rec.clinician_overrides += sum(
                1 for e in events if e.kind == "level" and e.actor not in ("system", "controller", "safety")
                and isinstance(e.payload, dict) and not str(e.payload.get("reason", "")).startswith("approved"))
        if minutes:
            rec.minutes_at_level = [round(minutes.get(i, 0.0), 2) for i in range(max(minutes) + 1)]
