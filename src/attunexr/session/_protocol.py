"""The VR-client protocol, independent of the transport: decoded messages in, replies out.

See ``docs/vr-protocol.md`` for the specification and ``attunexr/session/schema/*.json`` for the JSON Schema.
A malformed message gets an ``error`` reply and is otherwise ignored: the session always continues.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from attunexr.errors import AttunexrError, AuthorizationError, ProtocolError
from attunexr.features import Cue
from attunexr.recording import STREAM_KINDS, Chunk, Event
from attunexr.session._live import LiveSession
from attunexr.session._subscription import Subscription
from attunexr.session._wire import decode_binary_frame, loads

__all__ = ["PROTOCOL_VERSION", "ProtocolHandler"]

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
_SIGNAL_KINDS = frozenset(STREAM_KINDS) - {"marker"}
_MAX_STREAM_SAMPLES = 100_000
_MAX_NAME = 64
_MAX_TOKEN = 256
_MAX_SAFE_INT = 2**53 - 1  # the largest integer every JSON parser reads exactly
_FLOAT_MAX = sys.float_info.max
_NUMBER_TYPES = frozenset({int, float})  # exact types: JSON true/false are not numbers
#: Topics a client may subscribe to in ``hello`` (``command`` and ``end`` are always delivered).
CLIENT_TOPICS = frozenset({"estimate", "command", "end", "quality", "event", "ack", "decision", "status"})
#: Channels each stream kind carries (one list per sample for several channels); other kinds have one.
KIND_CHANNELS: dict[str, tuple[int, ...]] = {
    "acc": (3,), "gaze": (3,), "head_pose": (7,), "head_imu": (6,), "pupil": (1, 2)
}


class _Reject(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(code: str, message: str, ref: Any = None) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": "error", "code": code, "message": message, "ref": ref}


def _show(x: Any) -> str:
    """A short, ASCII-only description of a client value for an error message."""
    if type(x) is int and abs(x) > _FLOAT_MAX:
        return f"an integer of about {int(x.bit_length() * math.log10(2)) + 1} digits"  # str() may refuse it
    if isinstance(x, str) and len(x) > 40:
        return f"a string of {len(x)} characters"
    if isinstance(x, list | dict):
        text = ascii(x)
        return (
            text
            if len(text) <= 40
            else f"{'a list' if isinstance(x, list) else 'an object'} ({len(x)} items)"
        )
    return ascii(x)


def _to_float(x: Any, where: str) -> float:
    """A JSON number as a finite float64; anything else (a bool, a string, NaN, a huge integer) is rejected."""
    t = type(x)
    if t is float:
        if math.isfinite(x):
            return x  # type: ignore[no-any-return]
        raise _Reject("not_finite", f"{where} must be a finite number, got {x}; omit missing samples instead")
    if t is int:
        if -_FLOAT_MAX <= x <= _FLOAT_MAX:
            return float(x)
        raise _Reject(
            "bad_message", f"{where} is out of range ({_show(x)}); numbers must lie within the float64 range"
        )
    raise _Reject("bad_message", f"{where} must be a number, got {_show(x)}")


def _num(msg: dict[str, Any], key: str, where: str = "") -> float:
    if key not in msg:
        raise _Reject("bad_message", f"{where}{key!r} is missing; it must be a number")
    return _to_float(msg[key], f"{where}{key!r}")


def _vector(msg: dict[str, Any], key: str, size: int) -> list[float]:
    x = msg.get(key)
    if type(x) is not list or len(x) != size:
        raise _Reject("bad_message", f"{key!r} must be a list of {size} numbers, got {_show(x)}")
    return [_to_float(v, f"{key!r}[{i}]") for i, v in enumerate(x)]


def _text(x: Any, where: str, max_len: int | None = _MAX_NAME, empty: bool = False) -> str:
    """A client string that can be stored and shown: bounded length, valid Unicode (no lone surrogates)."""
    if not isinstance(x, str) or (not x and not empty) or (max_len is not None and len(x) > max_len):
        limit = f" of at most {max_len} characters" if max_len is not None else ""
        raise _Reject(
            "bad_message", f"{where} must be a {'' if empty else 'non-empty '}string{limit}, got {_show(x)}"
        )
    try:
        x.encode("utf-8")
    except UnicodeEncodeError as err:
        raise _Reject(
            "bad_message", f"{where} is not valid Unicode text (a lone surrogate at position {err.start})"
        ) from err
    return x


def _name(x: Any, where: str) -> str:
    return _text(x, where)


def _first_bad(raw: list[Any], where: str, width: int | None) -> NoReturn:
    """Raise the precise problem of a values/t list that failed the fast checks."""
    for i, row in enumerate(raw):
        if width is None:
            _to_float(row, f"{where}[{i}]")
            continue
        if type(row) is not list or len(row) != width:
            raise _Reject(
                "bad_message",
                f"{where}[{i}] must be a list of {width} numbers like {where}[0] (one list per sample), "
                f"got {_show(row)}",
            )
        for j, v in enumerate(row):
            _to_float(v, f"{where}[{i}][{j}]")
    raise _Reject("bad_message", f"{where} must hold numbers only")


def _number_array(raw: Any, where: str, flat_only: bool = False) -> np.ndarray:
    """Strictly convert a JSON list of numbers (or of equal-length lists of numbers) to float64."""
    if type(raw) is not list:
        kind = "a list of numbers" if flat_only else "a list of numbers (or of lists, one per sample)"
        raise _Reject("bad_message", f"{where} must be {kind}, got {_show(raw)}")
    if len(raw) > _MAX_STREAM_SAMPLES:
        raise _Reject(
            "frame_too_large",
            f"{where} holds {len(raw)} samples in one message; send at most {_MAX_STREAM_SAMPLES}",
        )
    width: int | None = None
    if raw and type(raw[0]) is list and not flat_only:
        width = len(raw[0])
        if width == 0:
            raise _Reject(
                "bad_message", f"{where}[0] is an empty list; each sample needs at least one channel"
            )
        ok = all(
            type(r) is list and len(r) == width and all(type(v) in _NUMBER_TYPES for v in r) for r in raw
        )
    else:
        ok = all(type(v) in _NUMBER_TYPES for v in raw)
    if not ok:
        _first_bad(raw, where, width)
    try:
        arr = np.array(raw, dtype=np.float64)
    except OverflowError:
        _first_bad(raw, where, width)
    if not np.all(np.isfinite(arr)):  # 1e999 parses as infinity
        raise _Reject("not_finite", f"{where} contain NaN or infinity; omit missing samples instead")
    return arr


def _ref(msg: Any) -> Any:
    """The ``seq`` to echo in an error, when it is one a client can read back (a safe integer)."""
    seq = msg.get("seq") if isinstance(msg, dict) else None
    return seq if type(seq) is int and abs(seq) <= _MAX_SAFE_INT else None


class ProtocolHandler:
    """One VR-client connection's protocol state machine.

    Every message is validated completely before anything of it is used: a message that breaks the protocol gets
    an ``error`` reply naming the problem and changes nothing (no sample, no event, no sign-in, no stream kind);
    the connection and the session go on.

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
        self._streams: dict[str, tuple[str, int]] = {}  # stream name -> (kind, channels), fixed at first use

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
        except Exception as err:  # noqa: BLE001 - never let one frame end the connection
            return self._internal(err, None)
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
        except Exception as err:  # noqa: BLE001 - never let one frame end the connection
            return self._internal(err, None)
        return await self.handle(header, arrays, received)

    async def handle(
        self, msg: Any, arrays: list[dict[str, Any]] | None = None, received: float | None = None
    ) -> list[dict[str, Any]]:
        """Handle one decoded message; returns the replies to send (errors, welcome, pong)."""
        received = time.perf_counter() if received is None else received
        ref = _ref(msg)
        try:
            return await self._dispatch(msg, arrays, received)
        except _Reject as rej:
            return self._fail(rej.code, rej.message, ref)
        except AuthorizationError as err:
            return self._fail("unauthorized", str(err), ref)
        except AttunexrError as err:
            return self._fail("bad_message", str(err), ref)
        except Exception as err:  # noqa: BLE001 - a server fault must cost this message only, never the link
            return self._internal(err, ref)

    async def _dispatch(
        self, msg: Any, arrays: list[dict[str, Any]] | None, received: float
    ) -> list[dict[str, Any]]:
        if not isinstance(msg, dict):
            raise _Reject("bad_message", f"a message must be a JSON object, got {type(msg).__name__}")
        v = msg.get("v")
        if type(v) not in _NUMBER_TYPES or v != PROTOCOL_VERSION:  # 1 or 1.0 (JSON Schema's const), never true
            raise _Reject("unsupported_version", f'protocol version {_show(v)} is not supported; send "v": 1')
        mtype = msg.get("type")
        if not isinstance(mtype, str):
            raise _Reject("bad_message", f"'type' must be a string, got {_show(mtype)}")
        if self.session is None:
            if mtype != "hello":
                raise _Reject("not_authenticated", "send a hello with the session token first")
            return [self._hello(msg)]
        self.messages += 1
        self._check_common(msg)
        if mtype == "samples":
            await self._samples(msg, arrays, received)
            return []
        if arrays is not None:
            raise _Reject("bad_frame", "binary frames may only carry samples messages")
        if mtype == "head_pose":
            t = _num(msg, "t")
            self._check_t([t])
            pose = _vector(msg, "position", 3) + _vector(msg, "rotation", 4)
            # optional headset IMU of the same sample (Unity deviceAcceleration / deviceAngularVelocity)
            acc = _vector(msg, "acceleration", 3) if "acceleration" in msg else None
            gyro = _vector(msg, "angular_velocity", 3) if "angular_velocity" in msg else None
            claims = {"head_pose": ("head_pose", 7)}
            if acc is not None or gyro is not None:
                claims["head_imu"] = ("head_imu", 6)
            self._claim(claims)
            await self._put(
                Chunk("head_pose", "head_pose", np.array([t]), np.array([pose]), None, received), msg
            )
            if acc is not None or gyro is not None:
                imu = (acc or [math.nan] * 3) + (gyro or [math.nan] * 3)
                await self._put(Chunk("head_imu", "head_imu", np.array([t]), np.array([imu]), None, received), msg)
        elif mtype == "gaze":
            t = _num(msg, "t")
            self._check_t([t])
            d = _vector(msg, "direction", 3)
            pupil = _num(msg, "pupil_mm") if "pupil_mm" in msg else None
            self._claim({"gaze": ("gaze", 3), **({"pupil": ("pupil", 1)} if pupil is not None else {})})
            # validated in full above: a rejected gaze message uses nothing
            await self._put(Chunk("gaze", "gaze", np.array([t]), np.array([d]), None, received), msg)
            if pupil is not None:
                await self._put(
                    Chunk("pupil", "pupil", np.array([t]), np.array([pupil]), None, received), msg
                )
        elif mtype == "event":
            t_event = _num(msg, "t")
            self._check_t([t_event])
            label = _name(msg.get("label"), "'label'")
            value = msg.get("value")
            if value is not None:
                value = _to_float(value, "'value'")
            if label == "suds" and not (value is not None and 0 <= value <= 100):
                raise _Reject("bad_message", "a SUDS answer needs a 'value' between 0 and 100")
            assert self.session is not None
            await self.session.add_event(Event(t_event, label, value), source="vr")
        elif mtype == "cue":
            t_cue = _num(msg, "t")
            self._check_t([t_cue])
            category = _name(msg.get("category"), "'category'")
            cue_id = msg.get("id", "")
            if cue_id != "":
                cue_id = _name(cue_id, "'id'")
            add_cue = getattr(self.session, "add_cue", None)
            if add_cue is None:
                raise _Reject("unknown_type", "this session does not record cues")
            await add_cue(Cue(t_cue, category, cue_id), source="vr")
        elif mtype == "ack":
            cid = _name(msg.get("command_id"), "'command_id'")
            status = msg.get("status", "ok")
            if status not in ("ok", "failed"):
                raise _Reject("bad_message", f"'status' must be 'ok' or 'failed', got {_show(status)}")
            detail = _text(msg.get("detail", ""), "'detail'", max_len=None, empty=True)
            assert self.session is not None
            self.session.acknowledge(cid, status, detail[:500])
        elif mtype == "ping":
            pid = msg.get("id")
            if isinstance(pid, str):
                _text(pid, "'id'", empty=True)
            elif pid is not None:
                try:
                    _to_float(pid, "'id'")
                except _Reject as rej:
                    raise _Reject(
                        "bad_message", f"{rej.message}; 'id' must be a number or a short string"
                    ) from None
            return [{"v": PROTOCOL_VERSION, "type": "pong", "id": pid, "server_time": time.time()}]
        elif mtype == "bye":
            self.closed = True
        elif mtype == "hello":
            raise _Reject("bad_message", "already connected; hello is sent once")
        else:
            raise _Reject("unknown_type", f"unknown message type {_show(mtype)}")
        return []

    def _fail(self, code: str, message: str, ref: Any = None) -> list[dict[str, Any]]:
        self.errors += 1
        logger.info("VR client message rejected (%s): %s", code, message)
        return [_error(code, message, ref)]

    def _internal(self, err: Exception, ref: Any) -> list[dict[str, Any]]:
        logger.error("VR client message could not be processed", exc_info=err)
        return self._fail(
            "internal_error",
            f"the server could not process this message ({type(err).__name__}); the connection continues",
            ref,
        )

    # --- messages -----------------------------------------------------------------------------------
    def _hello(self, msg: dict[str, Any]) -> dict[str, Any]:
        # validate everything first: a refused hello leaves the connection signed out
        token = msg.get("token")
        if not isinstance(token, str) or not token:
            raise _Reject(
                "bad_message", "hello needs a 'token' string (the session token from the clinician app)"
            )
        if len(token) > _MAX_TOKEN or not token.isascii() or not token.isprintable():
            raise _Reject(
                "bad_message",
                f"'token' must be the session token: at most {_MAX_TOKEN} printable ASCII characters",
            )
        t_now = _num(msg, "t_now") if "t_now" in msg else 0.0
        client = msg.get("client", {})
        if not isinstance(client, dict):
            raise _Reject(
                "bad_message", f"'client' must be an object with 'name' and 'version', got {_show(client)}"
            )
        for key in ("name", "version"):
            if key in client:
                _text(client[key], f"'client.{key}'", max_len=None, empty=True)
        topics = msg.get("subscribe", ["estimate", "command", "end"])
        if type(topics) is not list or not all(isinstance(t, str) for t in topics):
            raise _Reject(
                "bad_message", f"'subscribe' must be a list of topic names from {sorted(CLIENT_TOPICS)}"
            )
        unknown = [t for t in topics if t not in CLIENT_TOPICS]
        if unknown:
            raise _Reject(
                "bad_message",
                f"'subscribe' names unknown topics {_show(unknown)}; use some of {sorted(CLIENT_TOPICS)}",
            )
        session = self._authorize(token)
        self.outbox = session.subscribe(set(topics) | {"command", "end"}, maxsize=256, name="vr-client")
        self.session = session
        self._clock = (t_now, time.monotonic())
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

    @staticmethod
    def _check_common(msg: dict[str, Any]) -> None:
        """Optional fields every message may carry: ``seq`` (a safe integer) and ``sent_at`` (a number)."""
        if "seq" in msg:
            seq = msg["seq"]
            integral = type(seq) is int or (type(seq) is float and seq.is_integer())
            if not integral or abs(seq) > _MAX_SAFE_INT:
                raise _Reject(
                    "bad_message", f"'seq' must be an integer below 2**53 in size, got {_show(seq)}"
                )
        if "sent_at" in msg:
            _to_float(msg["sent_at"], "'sent_at'")

    def _claim(self, streams: dict[str, tuple[str, int]]) -> None:
        """Check and then fix each stream's kind and channel count (a stream keeps both for the session)."""
        for name, (kind, channels) in streams.items():
            known = self._streams.get(name)
            if known is not None and known[0] != kind:
                raise _Reject("bad_message", f"stream {name!r} was {known[0]!r}, now claims kind {kind!r}")
            if known is not None and known[1] != channels:
                raise _Reject(
                    "bad_message", f"stream {name!r} had {known[1]} channel(s), now sends {channels}"
                )
        self._streams.update(streams)

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
        if type(streams) is not list or not streams:
            raise _Reject("bad_message", "'streams' must be a non-empty list")
        chunks: list[Chunk] = []
        claims: dict[str, tuple[str, int]] = {}
        for i, s in enumerate(streams):
            where = f"streams[{i}]."
            if not isinstance(s, dict):
                raise _Reject("bad_message", f"streams[{i}] must be an object")
            name = _name(s.get("stream"), where + "stream")
            kind = s.get("kind")
            if not isinstance(kind, str) or kind not in _SIGNAL_KINDS:
                raise _Reject(
                    "bad_message", f"{where}kind {_show(kind)} is not one of {sorted(_SIGNAL_KINDS)}"
                )
            if "rate" not in s:
                raise _Reject(
                    "bad_message", f"{where}rate is missing: a number in Hz, or null for irregular streams"
                )
            rate_raw = s["rate"]
            rate = None if rate_raw is None else _to_float(rate_raw, f"{where}rate")
            if rate is not None and rate <= 0:
                raise _Reject("bad_message", f"{where}rate must be a positive number or null, got {rate}")
            t: np.ndarray | None
            if arrays is not None:
                values = arrays[i]["values"]
                t = arrays[i]["t"]
                if not np.all(np.isfinite(values)):
                    raise _Reject(
                        "not_finite", f"{where}values contain NaN or infinity; omit missing samples instead"
                    )
            else:
                values = _number_array(s.get("values"), f"{where}values")
                t = _number_array(s["t"], f"{where}t", flat_only=True) if "t" in s else None
            if "t0" in s:
                t0 = _num(s, "t0", where)
            n = values.shape[0]
            if n > _MAX_STREAM_SAMPLES:
                raise _Reject(
                    "frame_too_large",
                    f"{where}: {n} samples in one message; send at most {_MAX_STREAM_SAMPLES}",
                )
            channels = 1 if values.ndim == 1 else int(values.shape[1])
            allowed = KIND_CHANNELS.get(kind, (1,))
            if channels not in allowed:
                want = " or ".join(str(c) for c in allowed)
                raise _Reject(
                    "bad_message",
                    f"{where}values: {kind} samples have {want} channel{'s' if allowed != (1,) else ''}, got "
                    f"{channels}"
                    + ("; send one list per sample" if allowed[0] > 1 and channels == 1 else ""),
                )
            if values.ndim == 2 and channels == 1:
                values = values[:, 0]
            previous = claims.get(name, self._streams.get(name))
            if previous is not None and previous[0] != kind:
                raise _Reject("bad_message", f"stream {name!r} was {previous[0]!r}, now claims kind {kind!r}")
            if previous is not None and previous[1] != channels:
                raise _Reject(
                    "bad_message", f"stream {name!r} had {previous[1]} channel(s), now sends {channels}"
                )
            claims[name] = (kind, channels)
            if t is None:
                if rate is None:
                    raise _Reject("bad_message", f"{where}irregular streams (rate null) need explicit 't'")
                if "t0" not in s:
                    raise _Reject("bad_message", f"{where}needs 't0' (time of the first sample) or 't'")
                t = t0 + np.arange(n, dtype=np.float64) / rate
                if not np.all(np.isfinite(t)):
                    raise _Reject("bad_message", f"{where}t0 + i/rate is out of range for {n} samples")
            elif t.shape[0] != n:
                raise _Reject("bad_message", f"{where}{t.shape[0]} timestamps for {n} samples")
            if n:
                if not np.all(np.isfinite(t)):
                    raise _Reject("not_finite", f"{where}timestamps contain NaN or infinity")
                self._check_t(t)
                chunks.append(Chunk(name, kind, t, values, rate, received))
        # the whole message is valid: only now does any of it count
        self._claim(claims)
        for c in chunks:
            await self._put(c, msg)

    async def _put(self, chunk: Chunk, msg: dict[str, Any]) -> None:
        assert self.session is not None
        sent_at = msg.get("sent_at")  # validated by _check_common
        if sent_at is not None:
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
