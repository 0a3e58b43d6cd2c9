"""Encoding of VR-protocol frames: compact JSON text frames and binary sample frames.

Binary sample frame (little-endian)::

    b"AXB1" | uint32 header_len | header (UTF-8 JSON: a ``samples`` message whose stream entries carry
    ``n``, ``channels``, ``dtype`` ("f4"|"f8") and ``t0`` or ``"timestamps": "payload"`` instead of arrays)
    | payload: for each stream in order, [n float64 timestamps if "timestamps" == "payload"]
      then n * channels values of ``dtype`` (row-major).
"""

from __future__ import annotations

import json
import math
import struct
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from attunexr.errors import ProtocolError
from attunexr.recording import Chunk

__all__ = [
    "BINARY_MAGIC",
    "decode_binary_frame",
    "dumps",
    "encode_binary_samples",
    "encode_json_samples",
    "loads",
]

BINARY_MAGIC = b"AXB1"
_U32 = struct.Struct("<I")


def _reject_constant(name: str) -> float:
    raise ProtocolError(f"non-finite number {name} is not allowed; omit missing samples instead")


def loads(text: str | bytes) -> Any:
    """Parse JSON, rejecting NaN and Infinity (which JSON does not define) and bytes that are not UTF-8."""
    try:
        if isinstance(text, bytes | bytearray):
            # strict UTF-8: json.loads(bytes) would let encoded surrogates (b"\xed\xa0\x80") through
            text = bytes(text).decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant)
    except ProtocolError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        raise ProtocolError(f"not valid JSON: {err}") from err


def dumps(message: dict[str, Any]) -> str:
    """Compact JSON (no spaces); refuses NaN/Infinity."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def _regular(chunk: Chunk) -> bool:
    if not chunk.rate or len(chunk) < 2:
        return bool(chunk.rate)
    expected = chunk.timestamps[0] + np.arange(len(chunk)) / chunk.rate
    return bool(np.allclose(chunk.timestamps, expected, rtol=0, atol=1e-9))


def encode_json_samples(chunks: Iterable[Chunk], seq: int | None = None, sent_at: float | None = None) -> str:
    """A JSON ``samples`` message for chunks (regular streams send ``t0`` + ``rate`` instead of every time)."""
    streams = []
    for c in chunks:
        entry: dict[str, Any] = {
            "stream": c.stream,
            "kind": c.kind,
            "rate": c.rate,
            "values": c.values.tolist(),
        }
        if _regular(c):
            entry["t0"] = float(c.timestamps[0])
        else:
            entry["t"] = c.timestamps.tolist()
        streams.append(entry)
    msg: dict[str, Any] = {"v": 1, "type": "samples", "streams": streams}
    if seq is not None:
        msg["seq"] = seq
    if sent_at is not None:
        msg["sent_at"] = sent_at
    return dumps(msg)


def encode_binary_samples(
    chunks: Iterable[Chunk], seq: int | None = None, sent_at: float | None = None, dtype: str = "f8"
) -> bytes:
    """A binary ``samples`` frame (see module docstring)."""
    if dtype not in ("f4", "f8"):
        raise ProtocolError(f"dtype must be 'f4' or 'f8', got {dtype!r}")
    streams = []
    parts: list[bytes] = []
    for c in chunks:
        vals = c.values if c.values.ndim == 2 else c.values[:, None]
        entry: dict[str, Any] = {
            "stream": c.stream,
            "kind": c.kind,
            "rate": c.rate,
            "n": len(c),
            "channels": int(vals.shape[1]),
            "dtype": dtype,
        }
        if _regular(c):
            entry["t0"] = float(c.timestamps[0])
        else:
            entry["timestamps"] = "payload"
            parts.append(np.ascontiguousarray(c.timestamps, dtype="<f8").tobytes())
        parts.append(np.ascontiguousarray(vals, dtype="<" + dtype).tobytes())
        streams.append(entry)
    header: dict[str, Any] = {"v": 1, "type": "samples", "streams": streams}
    if seq is not None:
        header["seq"] = seq
    if sent_at is not None:
        header["sent_at"] = sent_at
    hb = dumps(header).encode()
    return BINARY_MAGIC + _U32.pack(len(hb)) + hb + b"".join(parts)


def decode_binary_frame(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Split a binary frame into its header and, per stream, ``{"t": array|None, "values": array}``."""
    if len(data) < 8 or data[:4] != BINARY_MAGIC:
        raise ProtocolError("binary frame does not start with b'AXB1'; see docs/vr-protocol.md")
    (hlen,) = _U32.unpack_from(data, 4)
    if 8 + hlen > len(data):
        raise ProtocolError(
            f"binary frame header of {hlen} bytes runs past the end of the {len(data)}-byte frame"
        )
    header = loads(data[8 : 8 + hlen])
    if not isinstance(header, dict) or not isinstance(header.get("streams"), list):
        raise ProtocolError("binary frame header must be a samples message with a 'streams' list")
    pos = 8 + hlen
    arrays: list[dict[str, Any]] = []
    for i, s in enumerate(header["streams"]):
        if not isinstance(s, dict):
            raise ProtocolError(f"streams[{i}] must be an object")
        n, ch, dt = s.get("n"), s.get("channels", 1), s.get("dtype", "f8")
        if type(n) is not int or n < 0 or type(ch) is not int or ch < 1:
            raise ProtocolError(
                f"streams[{i}]: 'n' and 'channels' must be non-negative integers (channels >= 1)"
            )
        if not isinstance(dt, str) or dt not in ("f4", "f8"):
            raise ProtocolError(f"streams[{i}]: dtype must be 'f4' or 'f8', got {ascii(dt)[:40]}")
        t = None
        if s.get("timestamps") == "payload":
            end = pos + 8 * n
            if end > len(data):
                raise ProtocolError(f"streams[{i}]: payload too short for {n} timestamps")
            t = np.frombuffer(data, dtype="<f8", count=n, offset=pos)
            pos = end
        size = 4 if dt == "f4" else 8
        end = pos + size * n * ch
        if end > len(data):
            raise ProtocolError(f"streams[{i}]: payload too short for {n} x {ch} values")
        v = np.frombuffer(data, dtype="<" + dt, count=n * ch, offset=pos).astype(np.float64)
        pos = end
        arrays.append({"t": t, "values": v.reshape(n, ch) if ch > 1 else v})
    if pos != len(data):
        raise ProtocolError(f"binary frame has {len(data) - pos} unexpected trailing bytes")
    return header, arrays


def is_finite_number(x: Any) -> bool:
    """``True`` for a JSON number that is a finite float64 (not a bool, NaN, infinity or an integer beyond range)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return False
    if isinstance(x, int):
        return -sys.float_info.max <= x <= sys.float_info.max
    return math.isfinite(x)
