"""The live session as the web app sees it: an object driven through a small interface.

:class:`LiveSessionRunner` owns one running session and keeps its clinical control. The signal pipeline is one
:class:`attunexr.session.LiveSession` per session: it orders and buffers the chunks (gaps become quality), runs
:class:`attunexr.features.FeatureStream` and the detector, records chunks and estimates in the encrypted session
log and publishes estimates (and the runner's own messages) to its subscribers, whose bounded mailboxes drop the
oldest message for a slow reader. The session's signals come from the :mod:`attunexr.sensors` source its plan chose
(virtual patient, replay, VR client, LSL, BLE), attached to the LiveSession the same way for all of them. Once per
second of session time, when the LiveSession has processed the signals up to the end of that second (or when the
source stays silent), the runner reads the LiveSession's :class:`~attunexr.session.VitalsTracker` (vital signs and
signal quality), runs the safety monitors and the exposure controller, and publishes dashboard updates on the
``dashboard`` topic; it records the timeline in the store. A clinician drives it with :meth:`approve`, :meth:`reject`, :meth:`set_level`, :meth:`pause`,
:meth:`resume`, :meth:`stop` and :meth:`add_note`; VR clients speak the published protocol through
:mod:`attunexr.web._vr_protocol` (commands out, acknowledgements, SUDS events and head pose in).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from attunexr.errors import ProtocolError, SafetyError
from attunexr.exposure import Decision
from attunexr.features import Cue
from attunexr.recording import Chunk, RecordingMeta
from attunexr.sensors import ClientSource, ExposureDriven, ReplaySource, SteppedSource
from attunexr.session import Command, LiveSession, SessionUpdate, Subscription
from attunexr.web._adapters import EstimateView
from attunexr.web._live_bridge import SessionSetup

__all__ = ["DASHBOARD_TOPIC", "LiveRegistry", "LiveSessionRunner"]

logger = logging.getLogger(__name__)

RecordFn = Callable[[list[tuple[str, float, str, dict[str, Any]]]], None]
#: The LiveSession topic that carries the dashboard's updates (the runner's own message format).
DASHBOARD_TOPIC = "dashboard"


@dataclass
class _History:
    n: int = 900
    t: deque[float] = field(default_factory=lambda: deque(maxlen=900))
    hr: deque[float | None] = field(default_factory=lambda: deque(maxlen=900))
    eda: deque[float | None] = field(default_factory=lambda: deque(maxlen=900))
    level: deque[int] = field(default_factory=lambda: deque(maxlen=900))
    est_t: deque[float] = field(default_factory=lambda: deque(maxlen=300))
    arousal: deque[float | None] = field(default_factory=lambda: deque(maxlen=300))
    lower: deque[float | None] = field(default_factory=lambda: deque(maxlen=300))
    upper: deque[float | None] = field(default_factory=lambda: deque(maxlen=300))


class LiveSessionRunner:
    """One live session: source → :class:`attunexr.session.LiveSession` → controller/safety → dashboard and store.

    Parameters
    ----------
    session_id
        Store id of the therapy session.
    setup
        The session's parts chosen from its plan (:func:`attunexr.web._live_bridge.build_session`).
    record
        Called with batches of ``(kind, t, actor, payload)`` events to store (once per second of session time).
    speed
        Session seconds per wall-clock second (1.0 = real time; demos and tests may run faster).
    recorder
        The encrypted session log (:class:`attunexr.session.SessionRecorder`), given to the LiveSession.
    """

    def __init__(self, session_id: int, setup: SessionSetup, record: RecordFn, *, speed: float = 1.0,
                 recorder: Any | None = None) -> None:
        self.session_id = session_id
        self.setup = setup
        self.source = setup.source
        self._record = record
        self.recorder = recorder  # attunexr.session.SessionRecorder: encrypted append-only log of everything
        analyzer = setup.analyzer
        sid = str(session_id)
        self.live = LiveSession(
            sid, meta=RecordingMeta(subject="", session=sid, dataset="attunexr-live"),
            window=analyzer.window, hop=analyzer.hop, features=analyzer.feature_stream("", sid),
            detector=analyzer, recorder=recorder, hooks=[self._on_live_update],
            extra_topics=(DASHBOARD_TOPIC,))
        self.t = 0.0  # session seconds run so far
        if isinstance(self.source, ClientSource) and self.source.session_clock is None:
            self.source.session_clock = lambda: self.t  # the client's first chunk lands at the session's now
        self._source_task: asyncio.Task[None] | None = None
        self._live_estimates: list[EstimateView] = []  # from the LiveSession, taken up once per second
        self._closing: asyncio.Task[None] | None = None
        self._speed = 1.0
        self.speed = float(speed)
        self.state = "ready"
        self.min_level = 0
        self.max_level = setup.max_level
        self.level = setup.start_level
        self.level_since = 0.0
        self.paused_by: str | None = None
        self._deciding: str | None = None  # the clinician whose approval/rejection the controller is deciding on
        setup.controller.listener = self._on_proposal  # the controller's proposals, as it makes and resolves them
        self.alerts: list[dict[str, Any]] = []
        self.suds: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.last_estimate: EstimateView | None = None
        self.quality: dict[str, str] = {}
        self.vitals: dict[str, float | None] = {"hr": None, "eda": None}
        self.history = _History()
        self._vr_outboxes: set[Subscription] = set()  # LiveSession mailboxes of connected VR clients
        self._pending: list[tuple[str, float, str, dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._acks: dict[str, float] = {}
        self.vr_clients = 0
        self.head_pose: dict[str, Any] | None = None
        self._virtual_suds_due: float | None = None
        self._next_suds = setup.suds_every_s
        self._new_suds: float | None = None
        self.finished = asyncio.Event()

    @property
    def speed(self) -> float:
        """Session seconds per wall-clock second of a simulated or replayed source (live sensors run in real time)."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        self._speed = float(value)
        if isinstance(self.source, SteppedSource | ReplaySource):
            self.source.speed = self._speed

    def clamp_level(self, level: int) -> int:
        """``level`` within the plan's levels (``0`` .. the plan's highest level)."""
        return max(self.min_level, min(int(level), self.max_level))

    # ---------------------------------------------------------------- subscriptions
    def subscribe(self, maxsize: int = 512) -> Subscription:
        """A new LiveSession mailbox for every dashboard update (dashboards, benchmarks); ``get()`` returns ``None``
        once the session's pipeline has ended."""
        return self.live.subscribe({DASHBOARD_TOPIC}, maxsize=maxsize, name="dashboard")

    def unsubscribe(self, sub: Subscription) -> None:
        self.live.unsubscribe(sub)

    def subscribe_vr(self, topics: set[str], maxsize: int = 256, name: str = "vr-client") -> Subscription:
        """A VR client's LiveSession mailbox (estimates, quality ... from the pipeline; commands from the runner)."""
        sub = self.live.subscribe(topics, maxsize=maxsize, name=name)
        self.add_vr_outbox(sub)
        return sub

    def add_vr_outbox(self, outbox: Subscription) -> None:
        """A VR client joined: bring it to the current state with commands, then keep it informed."""
        self._vr_outboxes.add(outbox)
        self.vr_clients = len(self._vr_outboxes)
        self._publish({"type": "vr_client", "connected": self.vr_clients})
        params = {"level": self.level, "name": self.setup.level_name(self.level),
                  "params": self.setup.level_params(self.level), "scenario": self.setup.scenario,
                  "reason": "join"}
        outbox.offer("command", self._vr_command("set_level", params).to_message())
        if self.state == "paused":
            outbox.offer("command", self._vr_command("pause", {"reason": "join"}).to_message())
        elif self.state in ("stopped", "finished"):
            outbox.offer("command", self._vr_command("end", {"reason": "join"}).to_message())

    def remove_vr_outbox(self, outbox: Subscription) -> None:
        self._vr_outboxes.discard(outbox)
        self.live.unsubscribe(outbox)
        self.vr_clients = len(self._vr_outboxes)
        self._publish({"type": "vr_client", "connected": self.vr_clients})

    def _publish(self, update: dict[str, Any]) -> None:
        update.setdefault("session", self.session_id)
        update.setdefault("t", round(self.t, 3))
        update["sent_at"] = time.time()
        self.live.publish(DASHBOARD_TOPIC, update)

    def _vr_command(self, command: str, params: dict[str, Any]) -> Command:
        """The VR-client protocol's command (:class:`attunexr.session.Command`: the session's one encoding and
        version). ``set_level`` carries the level's scenario parameters, its name and the scenario in ``params``."""
        scene: dict[str, Any] = {}
        if command == "set_level":
            scene = {**params.get("params", {}), "name": params.get("name", ""),
                     "scenario": params.get("scenario", "")}
        cmd = Command(command, level=params.get("level") if command == "set_level" else None, params=scene,
                      reason=str(params.get("reason", "")))
        self._acks[cmd.id] = time.time()
        return cmd

    def _command(self, command: str, **params: Any) -> Command:
        """Send a protocol command to every VR client (never dropped) and show it on the dashboard."""
        cmd = self._vr_command(command, params)
        # the session's encoding, published like LiveSession.send_command does (clinician actions arrive on the
        # API's worker threads, where no event loop runs to wait for acknowledgements); logged with the timeline
        self.live.publish("command", cmd.to_message())
        self._publish({"type": "command", "command": command, "command_id": cmd.id, **params})
        self._event("command", "system", {"command": command, "id": cmd.id, **params})
        return cmd

    def _event(self, kind: str, actor: str, payload: dict[str, Any], *, log: bool = True) -> None:
        """Store a timeline event; with ``log`` also in the encrypted session log (estimates are logged by the
        LiveSession)."""
        self._pending.append((kind, self.t, actor, payload))
        if log and self.recorder is not None and not self.recorder.closed:
            self.recorder.append_record(kind, {"actor": actor, **payload}, t=self.t)

    def _flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            try:
                self._record(batch)
            except Exception:  # noqa: BLE001 - a store hiccup must not stop a live session; it is logged
                logger.exception("session %s: could not store %d events", self.session_id, len(batch))

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start streaming (idempotent): open the source (a missing sensor fails the start with its reason), start
        the LiveSession and attach the source to it."""
        if self._task is not None:
            return
        self.state = "running"
        self._event("level", "system", {"level": self.level, "name": self.setup.level_name(self.level),
                                        "reason": "session start"})
        self._event("info", "system", self.setup.info)
        self._command("set_level", level=self.level, name=self.setup.level_name(self.level),
                      params=self.setup.level_params(self.level), scenario=self.setup.scenario)
        if isinstance(self.source, ExposureDriven):
            self.source.set_level(self.level)
        await self.source.start()
        await self.live.start()
        self._source_task = self.live.attach(self.source)
        self._task = asyncio.create_task(self._run(), name=f"live-session-{self.session_id}")

    async def _await_second(self) -> bool:
        """Wait until the LiveSession has processed the signals up to the end of the current second; a silent
        source lets the clock go on at the session's speed (its streams then show as lost). ``False`` when the
        source has ended and everything it sent is processed."""
        end = self.t + 1.0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(1.5 / self._speed, 0.25)
        waited = False
        while self.live.vitals.clock < end and self.state in ("running", "paused"):
            src = self._source_task
            if src is not None and src.done() and self.live.backlog == 0:
                return False
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self.live.wait_progress(remaining)
            waited = True
        if not waited:
            await asyncio.sleep(0)  # signals ahead of the clock (a burst): let the event loop breathe
        return True

    async def _run(self) -> None:
        try:
            while self.state in ("running", "paused"):
                if not await self._await_second():
                    self._finish("finished", "system", "source ended")
                    break
                if self.state not in ("running", "paused"):
                    break
                self._second()
                self.t += 1.0
                if self.setup.session_length_s and self.t >= self.setup.session_length_s:
                    self._finish("finished", "system", "planned session length reached")
                    break
                self._flush()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the session must end visibly, never hang
            logger.exception("session %s failed", self.session_id)
            self._raise_alert({"monitor": "runtime", "severity": "high", "action": "end",
                               "message": f"session pipeline failed: {err}"})
            self._finish("stopped", "system", f"pipeline error: {err}")
        finally:
            self._flush()

    def _second(self) -> None:
        """One second of session time: vitals and quality (the LiveSession's tracker), the estimates the
        LiveSession made meanwhile, safety checks, SUDS prompts and the exposure controller."""
        vit = self.live.vitals.read(self.t + 1.0)
        estimates, self._live_estimates = self._live_estimates, []
        if estimates:
            self.last_estimate = estimates[-1]
        suds, self._new_suds = self._new_suds, None
        alerts = self.setup.safety.check(self.t, vit, self.last_estimate, suds)
        for a in alerts:
            if a.raw is not None:
                self.setup.controller.on_alert(a.raw)
        self.vitals = {"hr": vit.hr, "eda": vit.eda}
        self.quality = dict(vit.quality)
        h = self.history
        h.t.append(self.t)
        h.hr.append(vit.hr)
        h.eda.append(vit.eda)
        h.level.append(self.level)
        self._publish({"type": "vitals", "hr": vit.hr, "eda": vit.eda, "quality": self.quality, "level": self.level,
                       "state": self.state})
        self._event("vitals", "system", {"hr": vit.hr, "eda": vit.eda, "quality": self.quality,
                                         "level": self.level})
        for est in estimates:
            h.est_t.append(self.t)
            h.arousal.append(None if est.abstained else est.probability)
            h.lower.append(None if est.abstained else est.lower)
            h.upper.append(None if est.abstained else est.upper)
            msg = est.to_message()
            self._publish({"type": "estimate", **msg})
            self._event("estimate", est.model or "model", msg, log=False)
        for alert in alerts:
            self._raise_alert(alert.to_message())
        if self._next_suds is not None and self.t >= self._next_suds:
            self._next_suds += self.setup.suds_every_s or 0
            self.prompt_suds("schedule (scheduled)")
        patient = self.setup.patient
        if self._virtual_suds_due is not None and self.t >= self._virtual_suds_due and patient is not None:
            self._virtual_suds_due = None
            answer = patient.answer_suds(self.t)
            if answer is None:
                self._event("suds_unanswered", "patient", {})
            else:
                self.record_suds(answer, "patient (virtual)")
        if self.state == "running":
            actions = self.setup.controller.control(self.t, self.level, self.level_since, self.last_estimate,
                                                    vit.signals_ok, self.suds)
            for action in actions:
                if "to_level" in action:
                    action["to_level"] = self.clamp_level(action["to_level"])
                if action.get("to_level") != self.level or action["type"] == "alert":
                    self._controller_action(action)

    def _on_live_update(self, update: SessionUpdate) -> None:
        """LiveSession hook: keep each estimate (dashboard format) for the next second's clinical control; put
        each scored cue response in the timeline (the LiveSession has logged it)."""
        if update.kind == "cue_response" and update.cue_response is not None:
            r = update.cue_response
            payload = {"onset": r.cue.onset, "category": r.cue.category, "id": r.cue.cue_id, "index": r.index,
                       **{k: (round(v, 6) if math.isfinite(v) else None) for k, v in r.measures().items()},
                       "quality": dict(r.quality)}
            self._event("cue_response", "system", payload, log=False)
            self._publish({"type": "cue_response", **payload})
            return
        if update.kind != "estimate" or update.estimate is None or self.state in ("stopped", "finished"):
            return
        self._live_estimates.append(self.setup.analyzer.to_dashboard(update.estimate, update.row or {}))

    def _on_proposal(self, d: Decision) -> None:
        """The controller made a proposal or changed its status (expired, withdrawn, approved, refused,
        rejected): show it on the dashboard and put it in the timeline, as the controller decided it."""
        view = self.setup.controller.view(d, self._deciding)
        if view.status == "pending":
            msg = view.to_message()
            self._publish({"type": "proposal", **msg})
            self._event("proposal", "controller", msg)
            return
        actor = self._deciding or "system"
        self._publish({"type": "proposal_status", "id": view.id, "status": view.status, "by": view.decided_by,
                       "bound": view.bound, "message": view.message})
        payload: dict[str, Any] = {"proposal": view.id, "decision": view.status, "to_level": view.to_level}
        if view.bound is not None:
            payload["bound"] = view.bound
        if view.message:
            payload["message"] = view.message
        reason = next((r.split(":", 1)[1] for r in d.reasons if r.startswith("clinician:")), "")
        if reason:
            payload["reason"] = reason
        self._event("decision", actor, payload)

    def _controller_action(self, action: dict[str, Any]) -> None:
        kind = action["type"]
        if kind == "auto":
            self._change_level(int(action["to_level"]), "controller (auto)", action.get("reason", ""),
                               action.get("evidence", {}))
        elif kind == "alert":
            self._raise_alert(action)
        elif kind == "hold":
            self._publish({"type": "hold", **action})
            self._event("hold", "controller", action)
        elif kind == "stop":
            self._finish("finished", "controller", action.get("reason", "session end"))

    def _raise_alert(self, alert: dict[str, Any]) -> None:
        alert = {**alert, "t": self.t}
        self.alerts.append(alert)
        self._publish({"type": "alert", **alert})
        self._event("alert", alert.get("monitor", "safety"), alert)
        action = alert.get("action", "alert")
        if action == "de_escalate" and self.level > self.min_level:
            self._change_level(self.level - 1, "safety", alert.get("message", ""), {"alert": alert})
        elif action == "pause" and self.state == "running":
            self._pause("safety")
        elif action == "end" and self.state in ("running", "paused"):
            self._finish("stopped", "safety", alert.get("message", ""))

    def _change_level(self, level: int, actor: str, reason: str, evidence: dict[str, Any]) -> None:
        level = self.clamp_level(level)
        if level == self.level:
            return
        old = self.level
        unseen = self.setup.controller.on_level(level, self.t, actor)  # it may refuse (bounds): nothing changes
        self.level, self.level_since = level, self.t
        if isinstance(self.source, ExposureDriven):
            self.source.set_level(level)
        payload = {"level": level, "from": old, "name": self.setup.level_name(level), "reason": reason,
                   "evidence": evidence}
        if unseen and level > old:
            payload["warning"] = "; ".join(unseen)
        self._publish({"type": "level", **payload, "by": actor})
        self._event("level", actor, payload)
        self._command("set_level", level=level, name=self.setup.level_name(level),
                      params=self.setup.level_params(level), scenario=self.setup.scenario)

    # ---------------------------------------------------------------- clinician actions
    def _pending_proposal(self, proposal_id: str) -> Decision:
        prop = self.setup.controller.find(proposal_id)
        if prop is None:
            raise ProtocolError(f"session {self.session_id} has no proposal {proposal_id!r}")
        if prop.status != "proposed":
            status = self.setup.controller.view(prop).status
            raise SafetyError(f"proposal {proposal_id} is already {status}; only pending proposals count")
        return prop

    def approve(self, proposal_id: str, actor: str) -> dict[str, Any]:
        """Approve a pending proposal. The controller checks the bounds again now and decides; the result is its
        decision as it is, either approved and applied, or refused with the bound that refused it (and the
        dashboard, the timeline and the report say the same)."""
        prop = self._pending_proposal(proposal_id)
        if self.state != "running":
            raise SafetyError(f"session is {self.state}; resume it before approving a level change")
        self._deciding = actor
        try:
            self.setup.controller.approve(proposal_id, actor, self.t)
            view = self.setup.controller.view(prop, actor)
        finally:
            self._deciding = None
        if view.status == "approved":
            self._change_level(view.to_level, actor, f"approved proposal: {view.reason}", view.evidence)
        self._flush()
        return view.to_message()

    def set_bounds(self, changes: dict[str, Any], actor: str) -> dict[str, Any]:
        """The clinician changes the session's bounds while it runs (e.g. a lower highest level)."""
        bounds = self.setup.controller.set_bounds(changes, actor, self.t)
        self._publish({"type": "bounds", "bounds": bounds, "by": actor})
        self._event("bounds", actor, {"changes": changes, "bounds": bounds})
        self._flush()
        return bounds

    def reject(self, proposal_id: str, actor: str, reason: str = "") -> dict[str, Any]:
        """Reject a pending proposal; the level stays."""
        prop = self._pending_proposal(proposal_id)
        self._deciding = actor
        try:
            self.setup.controller.reject(proposal_id, actor, self.t, reason)
        finally:
            self._deciding = None
        self._flush()
        return self.setup.controller.view(prop, actor).to_message()

    def set_level(self, level: int, actor: str, reason: str = "clinician choice") -> None:
        """Set the level directly (clinician), clamped to the plan's bounds."""
        if self.state != "running":
            raise SafetyError(f"session is {self.state}; resume it before changing the level")
        self._change_level(level, actor, reason, {})
        self._flush()

    def _pause(self, actor: str) -> None:
        self.state = "paused"
        self.paused_by = actor
        self.setup.controller.on_pause(self.t, actor)
        if isinstance(self.source, ExposureDriven):
            self.source.set_paused(True)
        self._publish({"type": "state", "state": "paused", "by": actor})
        self._event("pause", actor, {})
        self._command("pause")

    def pause(self, actor: str) -> None:
        """Pause: the VR client shows its safe scene; no level change happens until resume. Always allowed."""
        if self.state == "running":
            self._pause(actor)
            self._flush()

    def resume(self, actor: str) -> None:
        if self.state == "paused":
            self.setup.controller.on_resume(self.t, actor)
            if isinstance(self.source, ExposureDriven):
                self.source.set_paused(False)
            self.state = "running"
            self.level_since = self.t
            self._publish({"type": "state", "state": "running", "by": actor})
            self._event("resume", actor, {})
            self._command("resume")
            self._flush()

    def _finish(self, state: str, actor: str, reason: str) -> None:
        if self.state in ("stopped", "finished"):
            return
        self.state = state
        self.setup.controller.on_stop(self.t, actor)
        self._publish({"type": "state", "state": state, "by": actor, "reason": reason})
        self._event("end", actor, {"state": state, "reason": reason})
        self._command("end", reason=reason)
        self._flush()
        try:
            self._closing = asyncio.get_running_loop().create_task(self._close_pipeline())
        except RuntimeError:  # no event loop (driven synchronously): nothing is running that could be closed
            self.finished.set()

    async def _close_pipeline(self) -> None:
        """End the LiveSession (the protocol's ``end`` message, mailboxes and session log closed), then signal."""
        with contextlib.suppress(Exception):
            await self.source.stop()
        try:
            await self.live.stop()
        except Exception:  # noqa: BLE001 - the session is over either way; the failure is logged
            logger.exception("session %s: closing the live pipeline failed", self.session_id)
        finally:
            self._flush()  # cue responses scored when the pipeline closed
            self.finished.set()

    async def stop(self, actor: str, reason: str = "stopped by clinician") -> None:
        """Stop now from any state; the VR client ends the scene. Always allowed."""
        self._finish("stopped", actor, reason)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._closing is not None:
            await asyncio.shield(self._closing)

    def add_note(self, text: str, actor: str) -> dict[str, Any]:
        note = {"text": text, "by": actor, "t": self.t}
        self.notes.append(note)
        self._publish({"type": "note", **note})
        self._event("note", actor, {"text": text})
        self._flush()
        return note

    def prompt_suds(self, actor: str) -> None:
        """Ask the patient for a SUDS rating in VR (a virtual patient answers a few seconds later)."""
        self._command("prompt_suds", reason=f"asked by {actor}")
        if self.setup.patient is not None and self._virtual_suds_due is None:
            self._virtual_suds_due = self.t + 5.0

    # ---------------------------------------------------------------- VR client (attunexr.session protocol)
    def vr_ack(self, command_id: str, status: str, detail: str = "") -> None:
        """A VR client acknowledged a command (it took effect, or failed with a reason)."""
        if self.live.state == "running":
            self.live.acknowledge(command_id, status, detail)  # logged, and the session's waiters released
        sent = self._acks.pop(command_id, None)
        latency = None if sent is None else (time.time() - sent) * 1e3
        self._publish({"type": "vr_ack", "command_id": command_id, "status": status, "latency_ms": latency})
        if status != "ok":
            self._raise_alert({"monitor": "vr_client", "severity": "warning", "action": "alert",
                               "message": f"VR client could not apply command {command_id}: {detail}"})

    def vr_event(self, label: str, value: float | None) -> None:
        """A free-text event from the VR client (``scene_loaded``, ``panic_button`` …), stored in the timeline."""
        self._event("vr_event", "patient", {"label": label, "value": value})
        self._publish({"type": "vr_event", "label": label, "value": value})
        if label == "panic_button" and self.state == "running":
            self._pause("patient (panic button)")

    async def vr_cue(self, cue: Cue) -> None:
        """A cue shown to the patient (``cue`` message): recorded, and its response scored once its epoch arrived."""
        await self.live.add_cue(cue, source="vr")
        self._event("cue", "patient", {"onset": cue.onset, "category": cue.category, "id": cue.cue_id}, log=False)
        self._publish({"type": "cue", "onset": cue.onset, "category": cue.category, "id": cue.cue_id})

    async def client_chunk(self, chunk: Chunk) -> None:
        """Telemetry from the VR client: head pose is kept for the dashboard; with a ``client`` source every sample
        enters the pipeline (waiting while the session catches up), otherwise samples are only stored in the
        session log."""
        if chunk.kind == "head_pose" and len(chunk) and chunk.values.ndim == 2 and chunk.values.shape[1] >= 7:
            vals = [float(v) for v in chunk.values[-1, :7]]  # x y z qx qy qz qw (the protocol checks the shape)
            self.head_pose = {"position": vals[:3], "orientation": vals[3:7]}
        if isinstance(self.source, ClientSource):  # the session's signals come from the client (and are logged)
            await self.source.put(chunk)
        elif self.recorder is not None and not self.recorder.closed:
            self.recorder.append_chunk(chunk)  # stored, not analysed

    def record_suds(self, value: float, actor: str) -> dict[str, Any]:
        entry = {"value": value, "t": self.t, "level": self.level, "by": actor}
        self.suds.append(entry)
        self._new_suds = value
        self.setup.controller.on_suds(self.t, value)
        self._publish({"type": "suds", **entry})
        self._event("suds", actor, entry)
        self._flush()
        return entry

    # ---------------------------------------------------------------- views
    def snapshot(self) -> dict[str, Any]:
        """Everything a newly opened dashboard needs to draw the current state."""
        h = self.history
        return {
            "type": "snapshot",
            "session": self.session_id,
            "state": self.state,
            "t": self.t,
            "scenario": self.setup.scenario,
            "level": self.level,
            "level_name": self.setup.level_name(self.level),
            "levels": [self.setup.level_name(i) for i in range(len(self.setup.levels))],
            "vitals": self.vitals,
            "quality": self.quality,
            "estimate": self.last_estimate.to_message() if self.last_estimate is not None else None,
            "proposals": [self.setup.controller.view(p).to_message()
                          for p in (self.setup.controller.pending,) if p is not None],
            "alerts": self.alerts[-20:],
            "suds": self.suds[-50:],
            "notes": self.notes[-50:],
            "series": {"t": list(h.t), "hr": list(h.hr), "eda": list(h.eda), "level": list(h.level)},
            "estimates": {"t": list(h.est_t), "p": list(h.arousal), "lo": list(h.lower), "hi": list(h.upper)},
            "info": self.setup.info,
            "speed": self.speed,
            "head_pose": self.head_pose,
        }


class LiveRegistry:
    """The running sessions of one app, by store id."""

    def __init__(self) -> None:
        self.runners: dict[int, LiveSessionRunner] = {}

    def get(self, session_id: int) -> LiveSessionRunner | None:
        return self.runners.get(session_id)

    def add(self, runner: LiveSessionRunner) -> None:
        self.runners[runner.session_id] = runner

    async def stop_all(self, actor: str = "system") -> None:
        for runner in list(self.runners.values()):
            await runner.stop(actor, "server shutting down")
