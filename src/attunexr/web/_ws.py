"""WebSockets: the dashboard feed (``/ws/sessions/{id}``) and the VR client (``/ws/vr/{id}?token=…``).

Dashboard sockets authenticate like the REST API (cookie or bearer header) and must come from the app's own origin
(cross-site WebSocket hijacking is refused). VR clients speak the published VR-client protocol and present the
session's VR token (shown to the clinician on the dashboard) in their ``hello``, so that a headset browser can join
without a clinician login.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from attunexr.session import Subscription
from attunexr.store import TherapySession, append_audit
from attunexr.web._auth import SuppliedToken, principal_from_token, token_from
from attunexr.web._live import LiveSessionRunner
from attunexr.web._services import WebServices

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter()
MAX_FRAME = 1 << 20
#: How often an open dashboard feed checks that its login still holds (sign-out, revocation, expiry, deactivation).
LOGIN_RECHECK_S = 5.0


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # non-browser clients send no Origin
        return True
    host = ws.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


async def _pump(ws: WebSocket, runner: LiveSessionRunner, subs: list[Subscription]) -> None:
    while True:
        update = await subs[0].get()
        if update is None:
            # the session's pipeline ended and closed its mailboxes; updates after the end (notes, SUDS) still come
            runner.unsubscribe(subs[0])
            subs[0] = runner.subscribe()
            continue
        await ws.send_text(json.dumps(update, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


async def _watch_login(ws: WebSocket, services: WebServices, supplied: SuppliedToken | None, pump: asyncio.Task[None],
                       every: float) -> None:
    """Close the feed (code 4401) once its login has ended: a signed-out clinician stops receiving live data."""

    def alive() -> bool:
        with services.db.begin() as db:
            return principal_from_token(db, supplied) is not None

    while True:
        await asyncio.sleep(every)
        if not await asyncio.to_thread(alive):
            pump.cancel()
            with contextlib.suppress(Exception):
                await ws.close(code=4401, reason="login ended")
            return


async def _wait_runner(services: WebServices, session_id: int, timeout: float = 10.0) -> LiveSessionRunner | None:
    for _ in range(int(timeout / 0.1)):
        runner = services.live.get(session_id)
        if runner is not None:
            return runner
        await asyncio.sleep(0.1)
    return None


@router.websocket("/ws/sessions/{session_id}")
async def dashboard_socket(ws: WebSocket, session_id: int) -> None:
    services: WebServices = ws.app.state.services
    supplied = token_from(ws)
    with services.db.begin() as db:
        p = principal_from_token(db, supplied)
        ts = db.get(TherapySession, session_id)
        allowed = (p is not None and _same_origin(ws) and ts is not None
                   and p.role in ("clinician", "researcher") and ts.clinic_id == p.clinic_id)
        append_audit(db, actor=p.username if p else "anonymous", actor_id=p.user_id if p else None,
                     action="watch_live" if allowed else "denied:watch_live", resource="session",
                     resource_id=session_id, clinic_id=ts.clinic_id if (ts and allowed) else None)
    if not allowed:
        await ws.close(code=4403)
        return
    await ws.accept()
    runner = await _wait_runner(services, session_id)
    if runner is None:
        await ws.send_text(json.dumps({"type": "error", "message": "session is not running"}))
        await ws.close(code=4409)
        return
    subs = [runner.subscribe()]
    await ws.send_text(json.dumps(runner.snapshot(), default=_json_default))
    pump = asyncio.create_task(_pump(ws, runner, subs))
    watch = asyncio.create_task(_watch_login(ws, services, supplied, pump, LOGIN_RECHECK_S))
    try:
        while True:
            await ws.receive_text()  # the dashboard sends nothing but pings; actions go through the REST API
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: receiving after the login watcher closed the feed
        pass
    finally:
        pump.cancel()
        watch.cancel()
        runner.unsubscribe(subs[0])
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


@router.websocket("/ws/vr/{session_id}")
async def vr_socket(ws: WebSocket, session_id: int) -> None:
    """The VR-client protocol (docs/vr-protocol.md): ``hello`` with the session's VR token, then telemetry in and
    commands out, handled by :func:`attunexr.session.serve_vr_client`."""
    from attunexr.session import serve_vr_client
    from attunexr.web._vr_protocol import WebVRManager

    services: WebServices = ws.app.state.services
    # WebVRManager offers the one method the handler uses of a SessionManager: authorize(token)
    await serve_vr_client(ws, WebVRManager(services, session_id),  # type: ignore[arg-type]
                          max_frame_bytes=MAX_FRAME)
