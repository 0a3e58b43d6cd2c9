"""ASGI (Starlette/FastAPI) endpoints for live sessions: the VR-client WebSocket and a small standalone app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from attunexr.errors import AuthorizationError, ConfigurationError
from attunexr.recording import RecordingMeta
from attunexr.session._manager import SessionManager
from attunexr.session._protocol import ProtocolHandler
from attunexr.session._wire import dumps

__all__ = ["create_live_app", "live_router", "serve_vr_client", "websocket_endpoint"]

logger = logging.getLogger(__name__)


def _manager_of(websocket: WebSocket) -> SessionManager:
    manager = getattr(websocket.app.state, "live_manager", None)
    if manager is None:
        raise ConfigurationError(
            "app.state.live_manager is not set; create a SessionManager and store it there"
        )
    return manager  # type: ignore[no-any-return]


async def serve_vr_client(
    websocket: WebSocket, manager: SessionManager, max_frame_bytes: int = 1 << 20
) -> None:
    """Run the VR-client protocol on an accepted-or-not Starlette WebSocket until it closes."""
    if websocket.client_state.name == "CONNECTING":
        await websocket.accept()
    handler = ProtocolHandler(manager.authorize, max_frame_bytes=max_frame_bytes)
    send_lock = asyncio.Lock()

    async def send(msg: dict[str, Any]) -> None:
        async with send_lock:
            await websocket.send_text(dumps(msg))

    async def pump() -> None:
        assert handler.outbox is not None
        while True:
            msg = await handler.outbox.get()
            if msg is None:
                return
            await send(msg)

    pump_task: asyncio.Task[None] | None = None
    try:
        while not handler.closed:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                break
            if event.get("text") is not None:
                replies = await handler.handle_text(event["text"])
            elif event.get("bytes") is not None:
                replies = await handler.handle_bytes(event["bytes"])
            else:
                continue
            for r in replies:
                await send(r)
            if pump_task is None and handler.outbox is not None:
                pump_task = asyncio.get_running_loop().create_task(pump())
    except WebSocketDisconnect:
        pass
    finally:
        handler.close()
        if pump_task is not None:
            pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump_task
        with contextlib.suppress(Exception):
            await websocket.close()


async def websocket_endpoint(websocket: WebSocket) -> None:
    """Starlette/FastAPI WebSocket endpoint for VR clients; uses ``websocket.app.state.live_manager``."""
    await serve_vr_client(websocket, _manager_of(websocket))


class _OpenSession(BaseModel):
    subject: str = "anonymous"
    dataset: str = ""
    session: str = ""
    site: str = ""
    device: str = ""
    origin: float = 0.0


def live_router(manager: SessionManager, admin_token: str | None = None, prefix: str = "/live") -> APIRouter:
    """Routes: ``POST {prefix}/sessions``, ``GET/DELETE {prefix}/sessions/{id}``, ``WS {prefix}/ws/vr``,
    ``WS {prefix}/ws/sessions/{id}`` (dashboard subscriber). ``admin_token`` guards the REST routes."""
    router = APIRouter(prefix=prefix)

    def _check(authorization: str | None) -> None:
        if admin_token is not None and authorization != f"Bearer {admin_token}":
            raise HTTPException(401, "missing or wrong bearer token")

    @router.post("/sessions")
    async def open_session(body: _OpenSession, authorization: str | None = Header(None)) -> dict[str, Any]:
        _check(authorization)
        meta = RecordingMeta(
            subject=body.subject,
            dataset=body.dataset,
            session=body.session,
            site=body.site,
            device=body.device,
        )
        session, token = await manager.open_session(meta, origin=body.origin)
        return {"session_id": session.session_id, "token": token}

    @router.get("/sessions/{session_id}")
    async def stats(session_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        _check(authorization)
        try:
            return manager.get(session_id).stats()
        except ConfigurationError as err:
            raise HTTPException(404, str(err)) from err

    @router.get("/stats")
    async def all_stats(authorization: str | None = Header(None)) -> dict[str, Any]:
        _check(authorization)
        return {"sessions": [s.stats() for s in manager.sessions.values()]}

    @router.delete("/sessions/{session_id}")
    async def close(session_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        _check(authorization)
        try:
            session = await manager.close_session(session_id)
        except ConfigurationError as err:
            raise HTTPException(404, str(err)) from err
        return session.stats()

    @router.websocket("/ws/vr")
    async def vr(websocket: WebSocket) -> None:
        await serve_vr_client(websocket, manager)

    @router.websocket("/ws/sessions/{session_id}")
    async def watch(websocket: WebSocket, session_id: str, token: str = "") -> None:
        await websocket.accept()
        try:
            session = manager.authorize(token)
            if session.session_id != session_id:
                raise AuthorizationError("token does not belong to this session")
        except AuthorizationError as err:
            await websocket.send_text(
                dumps({"v": 1, "type": "error", "code": "unauthorized", "message": str(err)})
            )
            await websocket.close(code=1008)
            return
        sub = session.subscribe(
            {"estimate", "quality", "event", "command", "ack", "decision", "end"}, name="watch"
        )
        try:
            async for msg in sub:
                await websocket.send_text(dumps(msg))
        except WebSocketDisconnect:
            pass
        finally:
            session.unsubscribe(sub)

    return router


def create_live_app(manager: SessionManager | None = None, admin_token: str | None = None) -> FastAPI:
    """A small standalone FastAPI app serving live sessions (for benchmarks, tests and headless use)."""
    manager = manager or SessionManager()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        await manager.close_all()

    app = FastAPI(title="attunexr live sessions", lifespan=lifespan)
    app.state.live_manager = manager
    app.include_router(live_router(manager, admin_token))
    return app
