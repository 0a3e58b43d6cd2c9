"""The VR-client protocol, independent of the transport: decoded messages in, replies out.

See ``docs/vr-protocol.md`` for the specification and ``attunexr/session/schema/*.json`` for the JSON Schema.
A malformed message gets an ``error`` reply and is otherwise ignored: the session always continues.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from attunexr.errors import AttunexrError, AuthorizationError, ProtocolError
from attunexr.recording import STREAM_KINDS, Chunk, Event
from attunexr.session._live import LiveSession
from attunexr.session._subscription import Subscription
from attunexr.session._wire import decode_binary_frame, is_finite_number, loads

__all__ = ["PROTOCOL_VERSION", "ProtocolHandler"]

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
_SIGNAL_KINDS = frozenset(STREAM_KINDS) - {"marker"}
_MAX_STREAM_SAMPLES = 100_000
_MAX_NAME = 64


class _Reject(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(code: str, message: str, ref: Any = None) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": "error", "code": code, "message": message, "ref": ref}


def _num(msg: dict[str, Any], key: str, where: str = "") -> float:
    x = msg.get(key)
    if not is_finite_number(x):
        raise _Reject(
            "bad_message", f"{where}{key!r} must be a finite number, got {type(x).__name__} {x!r}"[:300]
        )
    return float(x)  # type: ignore[arg-type]


def _vector(msg: dict[str, Any], key: str, size: int) -> list[float]:
    x = msg.get(key)
    if not isinstance(x, list) or len(x) != size or not all(is_finite_number(v) for v in x):
        raise _Reject("bad_message", f"{key!r} must be a list of {size} finite numbers")
    return [float(v) for v in x]


def _name(x: Any, where: str) -> str:
    if not isinstance(x, str) or not x or len(x) > _MAX_NAME:
        raise _Reject("bad_message", f"{where} must be a non-empty string of at most {_MAX_NAME} characters")
    return x


class ProtocolHandler:
    """One VR-client connection's protocol state machine.

    Parameters
    ----------
    authorize
        ``token -> LiveSession``; raises :class:`AuthorizationError` for an unknown token (e.g.
        :meth:`SessionManager.authorize`).
    max_frame_bytes
        Larger frames are rejected with ``frame_too_large``.
    max_past, max_future
        Sample times more than ``max_past`` seconds before or ``max_future`` seconds after the client's current
        time (announced in ``hello`` as ``t_now`` and advanced by the server's monotonic clock) are rejected.
    """

    def __init__(
        self,
        authorize: Callable[[str], LiveSession],
        max_frame_bytes: int = 1 << 20,
        max_past: float = 600.0,
        max_future: float = 10.0,
    ) -> None:
        self._authorize = authorize
        self.max_frame_bytes = max_frame_bytes
        self.max_past = max_past
        self.max_future = max_future
        self.session: LiveSession | None = None
        self.outbox: Subscription | None = None
        self.errors = 0
        self.messages = 0
        self.closed = False
        self._clock: tuple[float, float] | None = None  # (client t_now at hello, server monotonic at hello)
        self._kinds: dict[str, str] = {}

    # --- entry points -------------------------------------------------------------------------------
    async def handle_text(self, text: str) -> list[dict[str, Any]]:
        received = time.perf_counter()
        if len(text) > self.max_frame_bytes:
            return self._fail(
                "frame_too_large", f"text frame of {len(text)} bytes exceeds {self.max_frame_bytes}"
            )
        try:
            msg = loads(text)
        except ProtocolError as err:
            code = "not_finite" if "non-finite" in str(err) else "bad_json"
            return self._fail(code, str(err))
        return await self.handle(msg, None, received)

    async def handle_bytes(self, data: bytes) -> list[dict[str, Any]]:
        received = time.perf_counter()
        if len(data) > self.max_frame_bytes:
            return self._fail(
                "frame_too_large", f"binary frame of {len(data)} bytes exceeds {self.max_frame_bytes}"
            )
        try:
            header, arrays = decode_binary_frame(data)
        except ProtocolError as err:
            code = "not_finite" if "non-finite" in str(err) else "bad_frame"
            return self._fail(code, str(err))
        return await self.handle(header, arrays, received)

    async def handle(
        self, msg: Any, arrays: list[dict[str, Any]] | None = None, received: float | None = None
    ) -> list[dict[str, Any]]:
        """Handle one decoded message; returns the replies to send (errors, welcome, pong)."""
        received = time.perf_counter() if received is None else received
        ref = msg.get("seq") if isinstance(msg, dict) else None
        try:
            if not isinstance(msg, dict):
                raise _Reject("bad_message", f"a message must be a JSON object, got {type(msg).__name__}")
            if msg.get("v") != PROTOCOL_VERSION:
                raise _Reject(
                    "unsupported_version", f'protocol version {msg.get("v")!r} is not supported; send "v": 1'
                )
            mtype = msg.get("type")
            if not isinstance(mtype, str):
                raise _Reject("bad_message", "'type' must be a string")
            if self.session is None:
                if mtype != "hello":
                    raise _Reject("not_authenticated", "send a hello with the session token first")
                return [self._hello(msg)]
            self.messages += 1
            if mtype == "samples":
                await self._samples(msg, arrays, received)
                return []
            if arrays is not None:
                raise _Reject("bad_frame", "binary frames may only carry samples messages")
            if mtype == "head_pose":
                t = [_num(msg, "t")]
                self._check_t(t)
                pose = _vector(msg, "position", 3) + _vector(msg, "rotation", 4)
                await self._put(
                    Chunk("head_pose", "head_pose", np.array(t), np.array([pose]), None, received), msg
                )
                # optional headset IMU of the same sample (Unity deviceAcceleration / deviceAngularVelocity)
                acc = _vector(msg, "acceleration", 3) if "acceleration" in msg else None
                gyro = _vector(msg, "angular_velocity", 3) if "angular_velocity" in msg else None
                if acc is not None or gyro is not None:
                    imu = (acc or [math.nan] * 3) + (gyro or [math.nan] * 3)
                    await self._put(
                        Chunk("head_imu", "head_imu", np.array(t), np.array([imu]), None, received), msg
                    )
            elif mtype == "gaze":
                t = [_num(msg, "t")]
                self._check_t(t)
                d = _vector(msg, "direction", 3)
                await self._put(Chunk("gaze", "gaze", np.array(t), np.array([d]), None, received), msg)
                if "pupil_mm" in msg:
                    p = _num(msg, "pupil_mm")
                    await self._put(Chunk("pupil", "pupil", np.array(t), np.array([p]), None, received), msg)
            elif mtype == "event":
                t_event = _num(msg, "t")
                self._check_t([t_event])
                label = _name(msg.get("label"), "'label'")
                value = msg.get("value")
                if value is not None and not is_finite_number(value):
                    raise _Reject("bad_message", "'value' must be a finite number or null")
                if label == "suds" and not (value is not None and 0 <= value <= 100):
                    raise _Reject("bad_message", "a SUDS answer needs a value between 0 and 100")
                await self.session.add_event(
                    Event(t_event, label, None if value is None else float(value)), source="vr"
                )
            elif mtype == "ack":
                cid = _name(msg.get("command_id"), "'command_id'")
                status = msg.get("status", "ok")
                if status not in ("ok", "failed"):
                    raise _Reject("bad_message", "'status' must be 'ok' or 'failed'")
                detail = msg.get("detail", "")
                if not isinstance(detail, str):
                    raise _Reject("bad_message", "'detail' must be a string")
                self.session.acknowledge(cid, status, detail[:500])
            elif mtype == "ping":
                return [
                    {"v": PROTOCOL_VERSION, "type": "pong", "id": msg.get("id"), "server_time": time.time()}
                ]
            elif mtype == "bye":
                self.closed = True
            elif mtype == "hello":
                raise _Reject("bad_message", "already connected; hello is sent once")
            else:
                raise _Reject("unknown_type", f"unknown message type {mtype!r}")
            return []
        except _Reject as rej:
            return self._fail(rej.code, rej.message, ref)
        except AuthorizationError as err:
            return self._fail("unauthorized", str(err), ref)
        except AttunexrError as err:
            return self._fail("bad_message", str(err), ref)

    def _fail(self, code: str, message: str, ref: Any = None) -> list[dict[str, Any]]:
        self.errors += 1
        logger.info("VR client message rejected (%s): %s", code, message)
        return [_error(code, message, ref)]

    # --- messages -----------------------------------------------------------------------------------
    def _hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        token = msg.get("token")
        if not isinstance(token, str) or not token:
            raise _Reject(
                "bad_message", "hello needs a 'token' string (the session token from the clinician app)"
            )
        t_now = _num(msg, "t_now") if "t_now" in msg else 0.0
        session = self._authorize(token)
        self.session = session
        self._clock = (t_now, time.monotonic())
        topics = msg.get("subscribe", ["estimate", "command", "end"])
        if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
            raise _Reject("bad_message", "'subscribe' must be a list of topic names")
        allowed = {"estimate", "command", "end", "quality", "event", "ack", "decision", "status"}
        self.outbox = session.subscribe(
            set(topics) & allowed | {"command", "end"}, maxsize=256, name="vr-client"
        )
        return {
            "v": PROTOCOL_VERSION,
            "type": "welcome",
            "session_id": session.session_id,
            "protocol": PROTOCOL_VERSION,
            "max_frame_bytes": self.max_frame_bytes,
            "server_time": time.time(),
            "window": session.window,
            "hop": session.hop,
        }

    def client_now(self) -> float:
        """The client's current time on its own clock, as announced at hello and advanced since."""
        assert self._clock is not None
        return self._clock[0] + (time.monotonic() - self._clock[1])

    def _check_t(self, ts: list[float] | np.ndarray) -> list[float] | np.ndarray:
        arr = np.asarray(ts, dtype=np.float64)
        if arr.size == 0:
            return ts
        if not np.all(np.isfinite(arr)):
            raise _Reject("not_finite", "timestamps must be finite numbers")
        now = self.client_now()
        lo, hi = float(arr.min()), float(arr.max())
        if hi > now + self.max_future:
            raise _Reject(
                "bad_timestamp",
                f"timestamp {hi:.3f} s is {hi - now:.1f} s in the future (client now {now:.3f})",
            )
        if lo < now - self.max_past:
            raise _Reject(
                "bad_timestamp",
                f"timestamp {lo:.3f} s is {now - lo:.1f} s in the past (limit {self.max_past:g} s)",
            )
        return ts

    async def _samples(
        self, msg: dict[str, Any], arrays: list[dict[str, Any]] | None, received: float
    ) -> None:
        streams = msg.get("streams")
        if not isinstance(streams, list) or not streams:
            raise _Reject("bad_message", "'streams' must be a non-empty list")
        chunks: list[Chunk] = []
        for i, s in enumerate(streams):
            where = f"streams[{i}]."
            if not isinstance(s, dict):
                raise _Reject("bad_message", f"streams[{i}] must be an object")
            name = _name(s.get("stream"), where + "stream")
            kind = s.get("kind")
            if kind not in _SIGNAL_KINDS:
                raise _Reject("bad_message", f"{where}kind {kind!r} is not one of {sorted(_SIGNAL_KINDS)}")
            if self._kinds.setdefault(name, kind) != kind:
                raise _Reject(
                    "bad_message", f"stream {name!r} was {self._kinds[name]!r}, now claims kind {kind!r}"
                )
            rate = s.get("rate")
            if rate is not None and not (is_finite_number(rate) and rate > 0):
                raise _Reject("bad_message", f"{where}rate must be a positive number or null")
            if arrays is not None:
                values = arrays[i]["values"]
                t = arrays[i]["t"]
            else:
                raw = s.get("values")
                if not isinstance(raw, list):
                    raise _Reject(
                        "bad_message", f"{where}values must be a list of numbers (or of lists for channels)"
                    )
                try:
                    values = np.asarray(raw, dtype=np.float64)
                except (TypeError, ValueError) as err:
                    raise _Reject("bad_message", f"{where}values must be numbers: {err}"[:300]) from err
                if values.ndim not in (1, 2) or (values.ndim == 2 and values.shape[1] < 1):
                    raise _Reject(
                        "bad_message",
                        f"{where}values must be a list of numbers or a list of equal-length lists",
                    )
                t_raw = s.get("t")
                t = None
                if t_raw is not None:
                    if not isinstance(t_raw, list):
                        raise _Reject("bad_message", f"{where}t must be a list of numbers")
                    try:
                        t = np.asarray(t_raw, dtype=np.float64)
                    except (TypeError, ValueError) as err:
                        raise _Reject("bad_message", f"{where}t must be numbers") from err
                    if t.ndim != 1:
                        raise _Reject("bad_message", f"{where}t must be a flat list of numbers")
            n = values.shape[0]
            if n > _MAX_STREAM_SAMPLES:
                raise _Reject(
                    "frame_too_large",
                    f"{where}: {n} samples in one message; send at most {_MAX_STREAM_SAMPLES}",
                )
            if not np.all(np.isfinite(values)):
                raise _Reject(
                    "not_finite", f"{where}values contain NaN or infinity; omit missing samples instead"
                )
            if t is None:
                if rate is None:
                    raise _Reject("bad_message", f"{where}irregular streams (rate null) need explicit 't'")
                if "t0" not in s:
                    raise _Reject("bad_message", f"{where}needs 't0' (time of the first sample) or 't'")
                t0 = _num(s, "t0", where)
                t = t0 + np.arange(n, dtype=np.float64) / rate
            elif t.shape[0] != n:
                raise _Reject("bad_message", f"{where}{t.shape[0]} timestamps for {n} samples")
            if n:
                if not np.all(np.isfinite(t)):
                    raise _Reject("not_finite", f"{where}timestamps contain NaN or infinity")
                self._check_t(t)
                chunks.append(
                    Chunk(name, kind, t, values, float(rate) if rate is not None else None, received)
                )
        sent_at = msg.get("sent_at")
        for c in chunks:
            await self._put(c, msg, sent_at)

    async def _put(self, chunk: Chunk, msg: dict[str, Any], sent_at: Any = None) -> None:
        assert self.session is not None
        if sent_at is None:
            sent_at = msg.get("sent_at")
        if is_finite_number(sent_at):
            chunk.sent_at = float(sent_at)  # type: ignore[attr-defined]
        await self.session.put(chunk)

    def close(self) -> None:
        """The connection ended: stop feeding the client's mailbox (the session keeps running)."""
        if self.session is not None and self.outbox is not None:
            self.session.unsubscribe(self.outbox)
        self.closed = True

    @property
    def is_authenticated(self) -> bool:
        return self.session is not None
