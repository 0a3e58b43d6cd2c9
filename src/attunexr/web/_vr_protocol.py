"""The published VR-client protocol (``docs/vr-protocol.md``) on the web app's live sessions.

The connection itself is handled by :func:`attunexr.session.serve_vr_client` and its
:class:`~attunexr.session.ProtocolHandler` (validation of every message, clock checks, binary frames, errors);
this module adapts a :class:`~attunexr.web._live.LiveSessionRunner` to the session interface that handler drives,
so that any client written against the protocol (Unity, Unreal, the WebXR page, :class:`attunexr.session.VRClient`)
joins a clinician's session with the session's VR token.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from sqlalchemy import select

from attunexr.errors import AuthorizationError
from attunexr.features import Cue
from attunexr.recording import Chunk, Event
from attunexr.session import Subscription
from attunexr.store import TherapySession, append_audit, token_digest

__all__ = ["RunnerVRSession", "WebVRManager"]

logger = logging.getLogger(__name__)


class RunnerVRSession:
    """What :class:`attunexr.session.ProtocolHandler` needs of a session, backed by a live runner."""

    def __init__(self, runner: Any, mssq: float | None = None) -> None:
        from attunexr.web._sickness import tracker_for

        self.runner = runner
        self.sickness = tracker_for(runner, mssq)  # head-motion sickness forecast for the dashboard
        self.session_id = str(runner.session_id)
        self.window = runner.live.window
        self.hop = runner.live.hop

    def subscribe(self, topics: set[str], maxsize: int = 256, name: str = "vr-client") -> Subscription:
        return self.runner.subscribe_vr(topics, maxsize, name)  # type: ignore[no-any-return]

    def unsubscribe(self, sub: Subscription) -> None:
        self.runner.remove_vr_outbox(sub)

    async def put(self, chunk: Chunk) -> None:
        await self.runner.client_chunk(chunk)
        if self.sickness is not None:
            self.sickness.push(chunk)

    async def add_event(self, event: Event, source: str = "vr") -> None:
        if event.label == "fms" and event.value is not None and self.sickness is not None:
            self.sickness.on_fms(event.onset, float(event.value))
        if event.label == "suds" and event.value is not None:
            self.runner.record_suds(float(event.value), "patient")
        else:
            self.runner.vr_event(event.label, event.value)

    async def add_cue(self, cue: Cue, source: str = "vr") -> None:
        await self.runner.vr_cue(cue)

    def acknowledge(self, command_id: str, status: str, detail: str = "") -> None:
        self.runner.vr_ack(command_id, status, detail)


class WebVRManager:
    """Authorizes a VR client's ``hello`` token for one session id (the token shown on the dashboard)."""

    def __init__(self, services: Any, session_id: int) -> None:
        self.services = services
        self.session_id = session_id

    def authorize(self, token: str) -> RunnerVRSession:
        with self.services.db.begin() as db:
            ts = db.execute(select(TherapySession).where(TherapySession.id == self.session_id)).scalar_one_or_none()
            ok = ts is not None and hmac.compare_digest(ts.vr_token_hash, token_digest(token))
            mssq = ((ts.plan or {}).get("tolerance") or {}).get("inputs", {}).get("mssq") if ok and ts else None
            append_audit(db, actor="vr-client", action="vr_connect" if ok else "denied:vr_connect",
                         resource="session", resource_id=self.session_id,
                         clinic_id=ts.clinic_id if ok and ts is not None else None)
        if not ok:
            raise AuthorizationError("wrong session token: open the VR link shown on the clinician's dashboard")
        runner = self.services.live.get(self.session_id)
        if runner is None:
            raise AuthorizationError(f"session {self.session_id} is not running; the clinician starts it first")
        return RunnerVRSession(runner, mssq)
