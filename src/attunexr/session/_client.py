"""`VRClient`: the reference Python implementation of the VR-client side of the protocol."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from attunexr.errors import AuthorizationError, ProtocolError
from attunexr.recording import Chunk
from attunexr.session._wire import dumps, encode_binary_samples, encode_json_samples, loads

__all__ = ["VRClient"]

logger = logging.getLogger(__name__)


class VRClient:
    """Connect to a live session as a VR app would: send telemetry, receive estimates and commands.

    Parameters
    ----------
    url
        WebSocket URL of the VR endpoint (e.g. ``ws://127.0.0.1:8000/live/ws/vr``).
    token
        The session token.
    binary
        Send samples as binary frames (compact, exact) instead of JSON.
    auto_ack
        Acknowledge every command as soon as it arrives (``on_command`` can still act on it).
    on_command
        Callback for each command message.
    """

    def __init__(
        self,
        url: str,
        token: str,
        binary: bool = True,
        auto_ack: bool = True,
        on_command: Callable[[dict[str, Any]], None] | None = None,
        subscribe: Iterable[str] = ("estimate", "command", "end"),
        max_size: int = 16 << 20,
        ping_interval: float | None = 20.0,
    ) -> None:
        self.url = url
        self.token = token
        self.binary = binary
        self.auto_ack = auto_ack
        self.on_command = on_command
        self.subscribe = list(subscribe)
        self.max_size = max_size
        self.ping_interval = ping_interval
        self.estimates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.other: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.welcome: dict[str, Any] | None = None
        self.e2e_ms: list[float] = []
        self.samples_sent = 0
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._seq = 0

    async def connect(self, t_now: float | None = None) -> dict[str, Any]:
        """Open the WebSocket and say hello; returns the welcome (raises AuthorizationError if refused)."""
        self._ws = await connect(
            self.url,
            max_size=self.max_size,
            compression=None,
            ping_interval=self.ping_interval,
            ping_timeout=60,
        )
        hello = {
            "v": 1,
            "type": "hello",
            "token": self.token,
            "client": {"name": "attunexr-reference", "version": "1"},
            "t_now": time.monotonic() if t_now is None else t_now,
            "subscribe": self.subscribe,
        }
        await self._ws.send(dumps(hello))
        reply = loads(await self._ws.recv())
        if reply.get("type") != "welcome":
            await self._ws.close()
            if reply.get("code") == "unauthorized":
                raise AuthorizationError(reply.get("message", "unauthorized"))
            raise ProtocolError(f"server refused hello: {reply}")
        self.welcome = dict(reply)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self.welcome

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                msg = loads(raw)
                kind = msg.get("type")
                if kind == "estimate":
                    trig = msg.get("trigger")
                    if isinstance(trig, int | float):
                        self.e2e_ms.append((time.perf_counter() - trig) * 1000.0)
                    self.estimates.put_nowait(msg)
                elif kind == "command":
                    if self.on_command is not None:
                        self.on_command(msg)
                    if self.auto_ack:
                        await self.ack(msg["id"])
                    self.commands.put_nowait(msg)
                elif kind == "error":
                    self.errors.put_nowait(msg)
                else:
                    self.other.put_nowait(msg)
        except Exception as err:  # noqa: BLE001 - connection closed
            logger.debug("VR client reader ended: %s", err)

    async def _send(self, data: str | bytes) -> None:
        if self._ws is None:
            raise ProtocolError("not connected; call connect() first")
        await self._ws.send(data)

    async def send_raw(self, data: str | bytes) -> None:
        """Send a frame as is (to test how the server treats malformed input)."""
        await self._send(data)

    async def send_chunks(
        self, chunks: Iterable[Chunk], binary: bool | None = None, sent_at: float | None = None
    ) -> None:
        """Send chunks of one or several streams in one ``samples`` message."""
        chunks = [c for c in chunks if len(c)]
        if not chunks:
            return
        self._seq += 1
        sent_at = time.perf_counter() if sent_at is None else sent_at
        use_binary = self.binary if binary is None else binary
        if use_binary:
            frame: str | bytes = encode_binary_samples(chunks, self._seq, sent_at)
        else:
            frame = encode_json_samples(chunks, self._seq, sent_at)
        self.samples_sent += sum(len(c) for c in chunks)
        await self._send(frame)

    async def send_event(self, t: float, label: str, value: float | None = None) -> None:
        await self._send(dumps({"v": 1, "type": "event", "t": t, "label": label, "value": value}))

    async def send_cue(self, t: float, category: str, cue_id: str = "") -> None:
        """Send a cue onset (``category`` such as ``trauma``, ``phobic``, ``neutral``; ``cue_id`` names the cue)."""
        await self._send(dumps({"v": 1, "type": "cue", "t": t, "category": category, "id": cue_id}))

    async def send_suds(self, t: float, value: float) -> None:
        """Send a SUDS answer (0-100)."""
        await self.send_event(t, "suds", value)

    async def send_head_pose(
        self,
        t: float,
        position: Iterable[float],
        rotation: Iterable[float],
        acceleration: Iterable[float] | None = None,
        angular_velocity: Iterable[float] | None = None,
    ) -> None:
        """One head pose, optionally with the headset IMU (m/s^2 without gravity, rad/s) of the same instant."""
        msg: dict[str, Any] = {
            "v": 1,
            "type": "head_pose",
            "t": t,
            "position": list(position),
            "rotation": list(rotation),
        }
        if acceleration is not None:
            msg["acceleration"] = list(acceleration)
        if angular_velocity is not None:
            msg["angular_velocity"] = list(angular_velocity)
        await self._send(dumps(msg))

    async def send_gaze(self, t: float, direction: Iterable[float], pupil_mm: float | None = None) -> None:
        msg: dict[str, Any] = {"v": 1, "type": "gaze", "t": t, "direction": list(direction)}
        if pupil_mm is not None:
            msg["pupil_mm"] = pupil_mm
        await self._send(dumps(msg))

    async def ack(self, command_id: str, status: str = "ok", detail: str = "") -> None:
        await self._send(
            dumps({"v": 1, "type": "ack", "command_id": command_id, "status": status, "detail": detail})
        )

    async def ping(self) -> dict[str, Any]:
        await self._send(dumps({"v": 1, "type": "ping", "id": "p"}))
        while True:
            msg = await asyncio.wait_for(self.other.get(), 10)
            if msg.get("type") == "pong":
                return msg

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.send(dumps({"v": 1, "type": "bye"}))
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def __aenter__(self) -> VRClient:
        if self._ws is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
