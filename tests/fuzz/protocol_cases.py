"""Mutations of valid VR-protocol messages, each with what the server must answer.

A case starts from a valid message (made from a real recording by the reference encoders), applies one mutation
and says what is required of the answer: ``must_fail`` (an error reply), ``must_pass`` (no error), or
``schema_decides`` (an error whenever the published JSON Schema rejects the message); ``codes`` bounds the error
code and ``names`` lists words of which the error message must contain one (the field that was broken).
"""

from __future__ import annotations

import copy
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

MARK = "@@FUZZ@@"
MAX_FRAME = 1 << 20


@dataclass(frozen=True)
class Template:
    name: str
    msg: dict[str, Any]
    payload: bytes | None = None  # binary samples frames: the payload after the header


@dataclass
class Case:
    frame: str | bytes
    mutation: str
    template: str
    path: tuple[Any, ...] = ()
    obj: Any = None  # the message as the server parses it, when it is JSON without NaN
    schema: str | None = None  # "client" or "binary": which published schema describes obj
    must_fail: bool = False
    must_pass: bool = False
    schema_decides: bool = False
    codes: frozenset[str] | None = None
    names: frozenset[str] = field(default_factory=frozenset)

    def samples(self) -> int:
        """Samples this message carries if it is accepted."""
        m = self.obj
        if not isinstance(m, dict):
            return 0
        if m.get("type") == "samples":
            key = "n" if isinstance(self.frame, bytes) else "values"
            return sum((s[key] if key == "n" else len(s["values"])) for s in m["streams"])
        if m.get("type") == "head_pose":
            return 1
        if m.get("type") == "gaze":
            return 1 + ("pupil_mm" in m)
        return 0


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out: list[tuple[tuple[Any, ...], Any]] = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        out.append((prefix + (k,), v))
        out.extend(paths(v, prefix + (k,)))
    return out


def set_at(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def names_of(path: tuple[Any, ...]) -> frozenset[str]:
    """Words an error about the value at ``path`` must use (a key on the path, or the stream it is in)."""
    words = {k for k in path if isinstance(k, str)}
    if len(path) >= 2 and path[0] == "streams" and isinstance(path[1], int):
        words.add(f"streams[{path[1]}]")
    return frozenset(words)


def pack(header: dict[str, Any] | bytes, payload: bytes) -> bytes:
    hb = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return b"AXB1" + struct.pack("<I", len(hb)) + hb + payload


def _text(msg: Any, raw: str | None = None) -> str:
    text = json.dumps(msg, separators=(",", ":"))
    return text if raw is None else text.replace(json.dumps(MARK), raw, 1)


def _frame(t: Template, msg: Any, raw: str | None = None) -> str | bytes:
    if t.payload is None:
        return _text(msg, raw)
    return pack(_text(msg, raw).encode("utf-8", "surrogatepass"), t.payload)


_WRONG = [None, True, False, "", "x", "12.5", 0, -1, 1.5, [], [1, 2], {}, {"a": 1}, [[1]]]
_GARBAGE = st.text(min_size=1, max_size=12)


_PATHS: dict[int, tuple[Template, str, tuple[tuple[tuple[Any, ...], Any], ...]]] = {}


def _fresh(t: Template) -> tuple[Any, tuple[tuple[tuple[Any, ...], Any], ...]]:
    """A private copy of the template's message and its (unchanging) paths."""
    cached = _PATHS.get(id(t))
    if cached is None or cached[0] is not t:  # the cache holds the template, so its id is not reused meanwhile
        cached = _PATHS[id(t)] = (t, json.dumps(t.msg), tuple(paths(t.msg)))
    return json.loads(cached[1]), cached[2]


def _pick(draw: st.DrawFn, seq: Any) -> Any:
    """One element of a sequence (drawn as an index, so Hypothesis caches the strategy)."""
    return seq[draw(st.integers(0, len(seq) - 1))]


def _numeric(v: Any) -> bool:
    return type(v) in (int, float)


@st.composite
def mutated(draw: st.DrawFn, templates: list[Template]) -> Case:
    """One mutation of one valid message."""
    t = draw(st.sampled_from(tuple(templates)))
    msg, all_paths = _fresh(t)
    binary = t.payload is not None
    schema = "binary" if binary else "client"
    # cheap mutations are drawn four times as often as those that make megabyte frames
    kinds = 4 * ["identity", "huge_int", "non_finite", "wrong_type", "delete", "extra_field", "surrogate",
                 "type_swap", "far_time", "big_in_range"] + ["deep_nesting", "huge_string", "deep_nesting"]
    kinds += 4 * ["bin_truncate", "bin_flip", "bin_utf8", "bin_hlen", "bin_nan"] if binary else \
        4 * ["text_truncate", "text_garbage", "channels"] + ["too_many_samples"]
    kind = draw(st.sampled_from(tuple(kinds)))
    base = dict(mutation=kind, template=t.name, schema=schema)

    if kind == "identity":
        return Case(_frame(t, msg), obj=msg, must_pass=True, **base)
    if kind == "huge_int":
        nums = [p for p, v in all_paths if _numeric(v)]
        path = _pick(draw, nums)
        digits = draw(st.integers(310, 4000))
        value = draw(st.sampled_from((1, -1))) * 10 ** (digits - 1) + draw(st.integers(0, 9))
        set_at(msg, path, value)
        codes = frozenset({"unsupported_version"}) if path == ("v",) else \
            frozenset({"bad_frame"}) if path[-1] in ("n", "channels") else frozenset({"bad_message"})
        return Case(_frame(t, msg), obj=msg, path=path, must_fail=True, codes=codes,
                    names=frozenset() if path == ("v",) else names_of(path), **base)
    if kind == "non_finite":
        nums = [p for p, v in all_paths if _numeric(v)]
        path = _pick(draw, nums)
        literal = draw(st.sampled_from(("NaN", "Infinity", "-Infinity", "1e999", "-1e999")))
        set_at(msg, path, MARK)
        if literal.endswith("e999"):  # valid JSON that overflows to infinity: the field is named
            obj = copy.deepcopy(msg)
            set_at(obj, path, float(literal))
            return Case(_frame(t, msg, literal), obj=obj, path=path, must_fail=True,
                        names=frozenset() if path == ("v",) else names_of(path), **base)
        return Case(_frame(t, msg, literal), path=path, must_fail=True,
                    codes=frozenset({"not_finite", "bad_frame"} if binary else {"not_finite"}), **base)
    if kind == "wrong_type":
        path, old = _pick(draw, all_paths)
        new = draw(st.sampled_from(tuple(w for w in _WRONG if type(w) is not type(old) or w != old)))
        set_at(msg, path, copy.deepcopy(new))
        return Case(_frame(t, msg), obj=msg, path=path, schema_decides=True, names=names_of(path), **base)
    if kind == "delete":
        dict_paths = [p for p, _ in all_paths if isinstance(p[-1], str)]
        path = _pick(draw, dict_paths)
        parent = msg
        for k in path[:-1]:
            parent = parent[k]
        del parent[path[-1]]
        return Case(_frame(t, msg), obj=msg, path=path, schema_decides=True, names=names_of(path), **base)
    if kind == "extra_field":
        holders = [()] + [p for p, v in all_paths if isinstance(v, dict)]
        path = _pick(draw, holders)
        target = msg
        for k in path:
            target = target[k]
        key = "x_" + draw(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10))
        value = draw(st.one_of(st.integers(-(10**500), 10**500), st.text(max_size=50), st.none(),
                               st.lists(st.integers(), max_size=5), st.booleans()))
        target[key] = value
        # unknown fields are ignored (forward compatible): the message still counts
        return Case(_frame(t, msg), obj=msg, path=path + (key,), must_pass=True, **base)
    if kind == "deep_nesting":
        path, _ = _pick(draw, all_paths)
        depth = draw(st.one_of(st.integers(2, 200), st.integers(5_000, 200_000)))
        set_at(msg, path, MARK)
        raw = "[" * depth + "]" * depth
        if depth >= 5_000:  # deeper than any parser should follow: not JSON the server will read
            over = len(raw) > MAX_FRAME
            codes = {"frame_too_large"} if over else ({"bad_frame"} if binary else {"bad_json"})
            return Case(_frame(t, msg, raw), path=path, must_fail=True, codes=frozenset(codes), **base)
        nested: Any = []
        for _ in range(depth - 1):
            nested = [nested]
        obj = copy.deepcopy(msg)
        set_at(obj, path, nested)
        return Case(_frame(t, msg, raw), obj=obj, path=path, schema_decides=True, names=names_of(path), **base)
    if kind == "huge_string":
        strs = [p for p, v in all_paths if isinstance(v, str)]
        path = _pick(draw, strs)
        size = draw(st.sampled_from((65, 65, 257, 257, 5_000, 5_000, 300_000, MAX_FRAME + 10)))
        char = draw(st.sampled_from(("x", "é", "\u2603")))
        set_at(msg, path, MARK)
        frame = _frame(t, msg, '"' + char * size + '"')  # raw UTF-8 in the frame, as clients send it
        if len(frame) > MAX_FRAME:
            return Case(frame, path=path, must_fail=True, codes=frozenset({"frame_too_large"}), **base)
        set_at(msg, path, char * size)
        return Case(frame, obj=msg, path=path, schema_decides=True, names=names_of(path), **base)
    if kind == "surrogate":
        strs = [p for p, v in all_paths if isinstance(v, str)]
        path = _pick(draw, strs)
        old = msg
        for k in path:
            old = old[k]
        pos = draw(st.integers(0, len(old)))
        lone = draw(st.sampled_from(("\ud800", "\udfff", "\udbff")))
        set_at(msg, path, old[:pos] + lone + old[pos:])
        # a lone surrogate is a valid JSON escape but no Unicode text: it must never be stored
        return Case(_frame(t, msg), obj=msg, path=path, must_fail=True,
                    names=frozenset() if path in (("type",), ("v",)) else names_of(path), **base)
    if kind == "type_swap":
        original = msg["type"]
        msg["type"] = draw(st.sampled_from(("samples", "head_pose", "gaze", "event", "ack", "ping", "hello",
                                            "teleport", "SAMPLES", "")))
        if msg["type"] == original:
            return Case(_frame(t, msg), obj=msg, must_pass=True, **{**base, "mutation": "identity"})
        if binary and msg["type"] != "samples":
            return Case(_frame(t, msg), obj=msg, path=("type",), must_fail=True, **base)
        pure = msg["type"] in ("hello", "teleport", "SAMPLES", "")
        return Case(_frame(t, msg), obj=msg, path=("type",), must_fail=pure, schema_decides=not pure, **base)
    if kind in ("far_time", "big_in_range"):
        time_keys = ("t", "t0", "t_now", "sent_at")
        cands = [p for p, v in all_paths if _numeric(v) and (p[-1] in time_keys or (len(p) > 1 and p[-2] == "t"))]
        if kind == "big_in_range":
            cands = [p for p, v in all_paths if _numeric(v) and p[-1] not in ("v", "seq", "n", "channels")]
        if not cands:
            return Case(_frame(t, msg), obj=msg, must_pass=True, **{**base, "mutation": "identity"})
        path = _pick(draw, cands)
        shift = draw(st.sampled_from((-1e6, -3600.0, 3600.0, 1e9, -1e300, 1e300)))
        set_at(msg, path, shift if kind == "big_in_range" else msg_value(msg, path) + shift)
        if kind == "far_time" and (path[-1] in ("t", "t0") or (len(path) > 1 and path[-2] == "t")):
            return Case(_frame(t, msg), obj=msg, path=path, must_fail=True,
                        codes=frozenset({"bad_timestamp", "bad_message"}), **base)
        return Case(_frame(t, msg), obj=msg, path=path, schema_decides=True, names=names_of(path), **base)
    if kind == "channels":
        samples_paths = [p for p, v in all_paths if p[-1] == "values" and isinstance(v, list) and v]
        if not samples_paths:
            return Case(_frame(t, msg), obj=msg, must_pass=True, **{**base, "mutation": "identity"})
        path = _pick(draw, samples_paths)
        values = msg_value(msg, path)
        width = len(values[0]) if isinstance(values[0], list) else 1
        new_width = draw(st.sampled_from(tuple(w for w in (1, 2, 3, 4, 6, 7, 8) if w != width)))
        every_row = draw(st.booleans())
        rows = [(list(r) if isinstance(r, list) else [r]) for r in values]
        for i, r in enumerate(rows):
            if every_row or i == len(rows) - 1:
                rows[i] = (r * 8)[:new_width]
        kind_of = msg_value(msg, path[:-1] + ("kind",))
        set_at(msg, path, rows if new_width > 1 or not every_row else [r[0] for r in rows])
        allowed = {"head_pose": (7,), "gaze": (3,), "acc": (3,), "pupil": (1, 2)}.get(kind_of, (1,))
        ok = (every_row or len(rows) == 1) and new_width in allowed
        return Case(_frame(t, msg), obj=msg, path=path, must_fail=not ok, schema_decides=ok,
                    codes=frozenset({"bad_message"}), names=names_of(path), **base)
    if kind == "too_many_samples":
        samples_paths = [p for p, v in all_paths if p[-1] == "values" and isinstance(v, list) and v]
        if not samples_paths:
            return Case(_frame(t, msg), obj=msg, must_pass=True, **{**base, "mutation": "identity"})
        path = _pick(draw, samples_paths)
        values = msg_value(msg, path)
        set_at(msg, path, MARK)
        row = json.dumps(values[0], separators=(",", ":"))
        frame = _frame(t, msg, "[" + ",".join([row] * 100_001) + "]")
        return Case(frame, path=path, must_fail=True, codes=frozenset({"frame_too_large"}), **base)
    if kind == "text_truncate":
        text = _text(msg)
        cut = draw(st.integers(0, len(text) - 1))
        return Case(text[:cut], must_fail=True, codes=frozenset({"bad_json"}), **base)
    if kind == "text_garbage":
        text = _text(msg)
        pos = draw(st.integers(0, len(text)))
        return Case(text[:pos] + draw(_GARBAGE) + text[pos:], **base)
    # binary frames
    frame = _frame(t, msg)
    assert isinstance(frame, bytes) and t.payload is not None
    hlen = len(frame) - 8 - len(t.payload)
    if kind == "bin_truncate":
        cut = draw(st.integers(0, len(frame) - 1))
        return Case(frame[:cut], must_fail=True, codes=frozenset({"bad_frame"}), **base)
    if kind == "bin_flip":
        data = bytearray(frame)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        return Case(bytes(data), **base)
    if kind == "bin_utf8":
        header = frame[8 : 8 + hlen]
        pos = draw(st.integers(0, len(header)))
        bad = draw(st.sampled_from((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\xbc", b"\x80")))
        return Case(pack(header[:pos] + bad + header[pos:], t.payload), must_fail=True,
                    codes=frozenset({"bad_frame"}), **base)
    if kind == "bin_hlen":
        new = draw(st.integers(0, 2**32 - 1).filter(lambda n: n != hlen))
        return Case(frame[:4] + struct.pack("<I", new) + frame[8:], must_fail=True,
                    codes=frozenset({"bad_frame", "bad_json", "not_finite"}), **base)
    # bin_nan: a non-finite sample in the payload (values, or timestamps when they travel in the payload)
    data = bytearray(frame)
    body = 8 + hlen
    f8 = all(s.get("dtype", "f8") == "f8" for s in msg["streams"])
    size = 8 if f8 else 4
    slot = draw(st.integers(0, (len(data) - body) // size - 1))
    special = draw(st.sampled_from((float("nan"), float("inf"), float("-inf"))))
    struct.pack_into("<d" if f8 else "<f", data, body + slot * size, special)
    return Case(bytes(data), must_fail=True, codes=frozenset({"not_finite"}), **base)


def msg_value(msg: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        msg = msg[k]
    return msg
