"""What the routes share: the database, the field cipher, the running sessions and the demo set-up."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from attunexr.errors import ConfigurationError, SafetyError
from attunexr.privacy import sign_checkpoint
from attunexr.store import (
    AuditEntry,
    Clinic,
    Consent,
    Database,
    FieldCipher,
    Patient,
    SessionEvent,
    TherapySession,
    User,
    append_audit,
    audit_checkpoint,
    check_password_policy,
    hash_password,
    limit_password_hashing,
    load_store_key,
    secure_data_dir,
)
from attunexr.web._auth import revoke_logins
from attunexr.web._live import LiveRegistry, LiveSessionRunner
from attunexr.web._live_bridge import build_session
from attunexr.web._schemas import SessionPlanIn
from attunexr.web._settings import Settings

__all__ = ["DemoAccount", "WebServices", "new_pseudonym"]

logger = logging.getLogger(__name__)

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_pseudonym() -> str:
    """A random pseudonym such as ``P-7KQ2M9XD`` (no link to any identifying field)."""
    return "P-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))


class EventWriter:
    """Writes session timeline events from every live session in one background thread, batching them into few
    transactions, so that the event loop serving dashboards never waits for the database."""

    def __init__(self, db: Database, max_delay_s: float = 0.2) -> None:
        self.db = db
        self.max_delay_s = max_delay_s
        self._queue: queue.Queue[tuple[int, list[tuple[str, float, str, dict[str, Any]]]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="attunexr-event-writer", daemon=True)
        self._thread.start()

    def put(self, session_id: int, batch: list[tuple[str, float, str, dict[str, Any]]]) -> None:
        self._queue.put((session_id, batch))

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            items = [item]
            deadline = time.monotonic() + self.max_delay_s
            while time.monotonic() < deadline:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # handled after this batch
                    self._queue.task_done()
                    break
                items.append(nxt)
            try:
                with self.db.begin() as db:
                    db.add_all(SessionEvent(session_id=sid, kind=k, t=t, actor=a, payload=p)
                               for sid, batch in items for k, t, a, p in batch)
                    db.commit()
            except Exception:  # noqa: BLE001 - keep writing later events; the encrypted session log has them too
                logger.exception("could not store %d event batches", len(items))
            finally:
                for _ in items:
                    self._queue.task_done()

    def flush(self) -> None:
        """Wait until every event handed over so far is stored."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


class DemoAccount:
    def __init__(self, username: str, password: str, session_id: int, patient_id: int) -> None:
        self.username, self.password, self.session_id, self.patient_id = username, password, session_id, patient_id


class WebServices:
    """Shared state of one app instance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secure_data_dir(Path(settings.data_dir))  # 0700, umask 0077: the database, logs and reports stay private
        limit_password_hashing(settings.max_parallel_password_checks)
        self.db = Database(settings.resolved_database_url(), data_dir=Path(settings.data_dir))
        self.db.upgrade()
        self.cipher = FieldCipher(load_store_key(Path(settings.data_dir)))
        self.live = LiveRegistry()
        self.writer = EventWriter(self.db)
        self._watchers: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------- models
    def model_names(self) -> list[str]:
        """Models a session plan may name: the registry's and those in the operator's ``models_dir``."""
        from attunexr.models import available_models

        return available_models(self.settings.models_dir)

    # ------------------------------------------------------------- patients
    def create_patient(self, db: Any, clinic_id: int, created_by: int, identifying: dict[str, str]) -> Patient:
        pseudonym = new_pseudonym()
        patient = Patient(clinic_id=clinic_id, pseudonym=pseudonym, created_by=created_by,
                          identifying_enc=self.cipher.encrypt(identifying, bound_to=pseudonym))
        db.add(patient)
        db.commit()
        return patient

    def identifying(self, patient: Patient) -> dict[str, str]:
        return self.cipher.decrypt(patient.identifying_enc, bound_to=patient.pseudonym)

    # ------------------------------------------------------------- sessions
    def _recorder(self, session_id: int) -> Any:
        def record(batch: list[tuple[str, float, str, dict[str, Any]]]) -> None:
            self.writer.put(session_id, batch)

        return record

    async def start_session(self, session_id: int, actor: str, actor_id: int) -> LiveSessionRunner:
        """Start a planned session (treatment consent required); returns the running session."""
        existing = self.live.get(session_id)
        if existing is not None:
            return existing
        with self.db.begin() as db:
            ts = db.get(TherapySession, session_id)
            if ts is None:
                raise ConfigurationError(f"no session {session_id}")
            if ts.status != "planned":
                raise SafetyError(f"session {session_id} is {ts.status}; plan a new session to run again")
            consent = db.execute(select(Consent).where(Consent.patient_id == ts.patient_id,
                                                       Consent.scope == "treatment")
                                 .order_by(Consent.id.desc()).limit(1)).scalar_one_or_none()
            if consent is None or not consent.granted:
                raise SafetyError("the patient has not given treatment consent; record consent before starting")
            plan = dict(ts.plan)
            pseudonym = ts.patient.pseudonym
            if plan.get("seed") is None:
                plan["seed"] = session_id
            clinic_id = ts.clinic_id
        setup = await asyncio.to_thread(build_session, plan, data_dir=self.settings.dataset_dir,
                                        models_dir=self.settings.models_dir)
        # live signals from a client arrive in real time: such a session runs at 1x whatever the settings say
        source = str(plan.get("source", "virtual"))
        if source == "client":
            speed = 1.0  # the VR client's clock rules
        elif source.startswith("lsl:"):
            speed = float(plan.get("speed") or 1.0)  # sensors run in real time unless a plan replays faster
        else:
            speed = float(plan.get("speed") or self.settings.speed)
        log = self._session_log(session_id, pseudonym)
        runner = LiveSessionRunner(session_id, setup, self._recorder(session_id), speed=speed,
                                   recorder=log)
        self.live.add(runner)
        with self.db.begin() as db:
            ts = db.get(TherapySession, session_id)
            assert ts is not None
            ts.status = "running"
            ts.started_at = datetime.now(UTC)
            ts.summary = {"engine": setup.info,
                          "session_log": str(log.path.relative_to(Path(self.settings.data_dir).resolve()))
                          if log is not None else None}
            db.commit()
            append_audit(db, actor=actor, actor_id=actor_id, action="start", resource="session",
                         resource_id=session_id, clinic_id=clinic_id, detail={"engine": setup.info})
        await runner.start()
        task = asyncio.create_task(self._watch(runner, clinic_id))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return runner

    def _session_log(self, session_id: int, pseudonym: str) -> Any:
        """The session's encrypted append-only log (:class:`attunexr.session.SessionRecorder`)."""
        from attunexr.privacy import MASTER_KEY_ENV, load_master_key
        from attunexr.recording import RecordingMeta
        from attunexr.session import SessionRecorder

        folder = (Path(self.settings.data_dir) / "sessions").resolve()
        path = folder / f"session-{session_id:06d}-{secrets.token_hex(4)}.axlog"
        key_file = Path(self.settings.data_dir) / "master.key"
        master = load_master_key() if os.environ.get(MASTER_KEY_ENV) else load_master_key(key_file)
        recorder = SessionRecorder(path, master, RecordingMeta(subject=pseudonym, session=str(session_id),
                                                               dataset="attunexr-live"))
        self._copy_audit_checkpoint(recorder)
        recorder.before_close.append(self._copy_audit_checkpoint)  # and the head as the log closes
        recorder.start()
        return recorder

    def _copy_audit_checkpoint(self, recorder: Any) -> None:
        """Put a signed checkpoint of the audit chain's head into the session log (evidence outside the database)."""
        if self.db.checkpoints is None:
            return
        with self.db.begin() as db:
            head = db.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
        if head is not None:
            recorder.append_record("audit_checkpoint", sign_checkpoint(self.db.checkpoints.key,
                                                                       audit_checkpoint(head[0], head[1])))

    async def _watch(self, runner: LiveSessionRunner, clinic_id: int) -> None:
        await runner.finished.wait()
        await asyncio.to_thread(self.writer.flush)
        if runner.recorder is not None and not runner.recorder.closed:
            try:
                await runner.recorder.close()
            except Exception:  # noqa: BLE001 - closing must not prevent recording the end of the session
                logger.exception("session %s: closing the session log failed", runner.session_id)
        with self.db.begin() as db:
            ts = db.get(TherapySession, runner.session_id)
            if ts is not None:
                ts.status = runner.state
                ts.ended_at = datetime.now(UTC)
                ts.summary = {**(ts.summary or {}), "duration_s": runner.t, "final_level": runner.level}
                db.commit()
            append_audit(db, actor="system", action="end", resource="session", resource_id=runner.session_id,
                         clinic_id=clinic_id, detail={"state": runner.state, "duration_s": runner.t})

    async def shutdown(self) -> None:
        """Stop every live session, close its log and record its end (Ctrl-C of ``attunexr demo``)."""
        await self.live.stop_all("system")
        if self._watchers:
            await asyncio.wait(list(self._watchers), timeout=10)
        await asyncio.to_thread(self.writer.close)
        self.db.dispose()

    # ------------------------------------------------------------- accounts
    def ensure_admin(self, password: str, username: str = "admin") -> None:
        """Create or reset the admin account ``username`` (role admin, no clinic, active); the password must pass
        the policy. Resetting ends every login of that account."""
        if not re.fullmatch(r"[A-Za-z0-9_.@-]{2,120}", username):
            raise ConfigurationError(f"admin name {username!r}: use 2-120 letters, digits, '_', '.', '@' or '-'")
        check_password_policy(password, username)
        with self.db.begin() as db:
            user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
            if user is None:
                user = User(username=username, password_hash=hash_password(password), role="admin", clinic_id=None,
                            password_changed_at=datetime.now(UTC))
                db.add(user)
            else:
                if user.role != "admin":
                    raise ConfigurationError(f"user {username!r} exists with the role {user.role}; pick another name")
                user.password_hash = hash_password(password)
                user.password_changed_at = datetime.now(UTC)
                user.active = True
            db.commit()
            revoke_logins(db, user.id, "password_changed")
            append_audit(db, actor="system", action="ensure_admin", resource="user", resource_id=user.id)

    # ------------------------------------------------------------- demo
    def ensure_demo(self, password: str | None, source: str = "virtual",
                    scenario: str = "heights", speed: float | None = None) -> DemoAccount:
        """Create (or reuse) the demo clinic, clinician ``clinician``, a patient with consent and a planned session.

        The clinician's password is set to ``password`` (or a random one, returned) on every call; a given password
        must pass the policy.
        """
        if password is not None:
            check_password_policy(password, "clinician")
        password = password or secrets.token_urlsafe(15)
        with self.db.begin() as db:
            clinic = db.execute(select(Clinic).where(Clinic.name == "Demo clinic")).scalar_one_or_none()
            if clinic is None:
                clinic = Clinic(name="Demo clinic")
                db.add(clinic)
                db.commit()
            user = db.execute(select(User).where(User.username == "clinician")).scalar_one_or_none()
            if user is None:
                user = User(username="clinician", password_hash=hash_password(password), role="clinician",
                            clinic_id=clinic.id)
                db.add(user)
            else:
                user.password_hash = hash_password(password)
            db.commit()
            patient = db.execute(select(Patient).where(Patient.clinic_id == clinic.id).order_by(Patient.id)
                                 .limit(1)).scalar_one_or_none()
            if patient is None:
                patient = self.create_patient(db, clinic.id, user.id,
                                              {"name": "Demo Patient", "note": "fictitious demo record"})
                db.add(Consent(patient_id=patient.id, scope="treatment", granted=True,
                               note="demo consent", recorded_by=user.id))
                db.commit()
                append_audit(db, actor="system", action="create", resource="patient", resource_id=patient.id,
                             clinic_id=clinic.id, detail={"demo": True})
            plan = SessionPlanIn.model_validate({
                "scenario": scenario, "source": source, "speed": speed,
                "controller": {"mode": "propose", "min_dwell_s": 45, "max_level": 6}}).model_dump()
            ts = TherapySession(patient_id=patient.id, clinic_id=clinic.id, scenario=scenario, plan=plan,
                                source=source, vr_token=secrets.token_urlsafe(16), created_by=user.id)
            db.add(ts)
            db.commit()
            append_audit(db, actor="system", action="plan", resource="session", resource_id=ts.id,
                         clinic_id=clinic.id, detail={"demo": True, "scenario": scenario})
            return DemoAccount("clinician", password, ts.id, patient.id)

