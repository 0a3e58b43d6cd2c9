"""The encrypted session log: round trip, chaining, tampering, crash recovery, no plaintext at rest, export."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest

from attunexr.errors import ConfigurationError, DataFormatError, IntegrityError
from attunexr.privacy import MasterKey, generate_data_key
from attunexr.recording import Chunk, Recording, RecordingMeta
from attunexr.session import SessionLog, SessionRecorder
from attunexr.session import _logformat as fmt


def _write_log(path, key, rec: Recording, seconds: float = 30.0, close: bool = True) -> SessionRecorder:
    meta = RecordingMeta(
        subject="Jane-Doe-4711", dataset="stress-predict", session="visit-1", start_time=rec.meta.start_time
    )
    r = SessionRecorder(path, key, meta=meta)
    for n, chunk in enumerate(rec.crop(rec.t_start, rec.t_start + seconds).iter_chunks(1.0), start=1):
        r.append_chunk(chunk)
        if n % 5 == 0:
            r.flush_sync()
    r.append_record("estimate", {"t_end": 60.0, "probability": 0.42})
    r.append_record("event", {"onset": 12.5, "label": "suds", "value": 55.0}, t=12.5)
    if close:
        r.close_sync()
    else:
        r.flush_sync()
    return r


def _segments(raw: bytes) -> list[tuple[int, int]]:
    (hlen,) = struct.unpack_from("<I", raw, len(fmt.MAGIC))
    pos = len(fmt.MAGIC) + 4 + hlen
    out = []
    while pos < len(raw):
        _, _, blen, _ = fmt.SEG_HEAD.unpack_from(raw, pos)
        out.append((pos, fmt.SEG_HEAD.size + blen))
        pos += fmt.SEG_HEAD.size + blen
    return out


def test_roundtrip_and_export(tmp_path, master_key, s02) -> None:
    path = tmp_path / "s.axr"
    _write_log(path, master_key, s02)
    log = SessionLog.open(path, master_key)
    assert log.complete and log.truncated_bytes == 0 and log.segments >= 6
    assert log.meta.subject == "Jane-Doe-4711"
    rec = log.to_recording()
    orig = s02.crop(s02.t_start, s02.t_start + 30.0)
    assert set(rec.streams) == {n for n, s in orig.streams.items() if s.n_samples}
    for name, s in rec.streams.items():
        np.testing.assert_array_equal(s.values, orig.streams[name].values)
        np.testing.assert_array_equal(s.timestamps, orig.streams[name].timestamps)
        assert s.kind == orig.streams[name].kind and s.rate == orig.streams[name].rate
    assert [(e.label, e.value) for e in rec.events] == [("suds", 55.0)]
    assert rec.meta.extra["estimates"][0]["probability"] == 0.42
    with pytest.raises(ConfigurationError, match="already exists"):
        SessionRecorder(path, master_key)


def test_no_plaintext_in_stored_file(tmp_path, master_key, s02) -> None:
    path = tmp_path / "s.axr"
    _write_log(path, master_key, s02)
    raw = path.read_bytes()
    # stream and field names as they would appear in plaintext metadata (quoted JSON strings): a bare 3-letter name
    # such as b"eda" also turns up by chance in the random hex log id or in kilobytes of ciphertext
    needles = [b"Jane-Doe-4711", b"visit-1", b"stress-predict", b'"suds"', b"probability", b'"bvp"', b'"eda"']
    orig = s02.crop(s02.t_start, s02.t_start + 30.0)
    for s in orig.streams.values():
        v = np.asarray(s.values, dtype="<f8").ravel()[:200]
        needles += [v[i : i + 3].tobytes() for i in range(0, v.size - 3, 7)]  # binary runs of samples
        needles += [repr(float(x)).encode() for x in v[:50:5] if abs(x) > 1.5]  # decimal text of values
    for n in needles:
        assert n not in raw, f"stored session contains plaintext {n!r}"
    # and the key file is not in it either
    assert master_key.derive("x") not in raw


def test_flipped_byte_anywhere_is_detected(tmp_path, master_key, s02) -> None:
    path = tmp_path / "s.axr"
    _write_log(path, master_key, s02)
    raw = path.read_bytes()
    segs = _segments(raw)
    rng = np.random.default_rng(0)
    positions = [len(fmt.MAGIC) + 10]  # header JSON (wrapped key / log id)
    for start, size in segs:
        positions += [start + 3, start + fmt.SEG_HEAD.size + int(rng.integers(0, size - fmt.SEG_HEAD.size))]
    for pos in positions:
        bad = bytearray(raw)
        bad[pos] ^= 0x04
        (tmp_path / "bad.axr").write_bytes(bytes(bad))
        with pytest.raises((IntegrityError, DataFormatError)):
            SessionLog.open(tmp_path / "bad.axr", master_key)


def test_reordered_removed_or_appended_segments_are_detected(tmp_path, master_key, s02) -> None:
    path = tmp_path / "s.axr"
    _write_log(path, master_key, s02)
    raw = path.read_bytes()
    segs = _segments(raw)
    head = raw[: segs[0][0]]
    parts = [raw[s : s + n] for s, n in segs]
    swapped = head + b"".join([parts[1], parts[0], *parts[2:]])
    removed = head + b"".join([parts[0], *parts[2:]])
    appended = raw + parts[1]
    for name, data in {"swapped": swapped, "removed": removed, "appended": appended}.items():
        (tmp_path / f"{name}.axr").write_bytes(data)
        with pytest.raises(IntegrityError):
            SessionLog.open(tmp_path / f"{name}.axr", master_key)
    # a segment with a re-written index is still refused (index and previous tag are authenticated)
    fake = bytearray(parts[1])
    fake[2:6] = struct.pack("<I", 0)
    fake[10:14] = struct.pack("<I", __import__("zlib").crc32(bytes(fake[:10])))
    (tmp_path / "forged.axr").write_bytes(head + bytes(fake) + b"".join(parts[2:]))
    with pytest.raises(IntegrityError):
        SessionLog.open(tmp_path / "forged.axr", master_key)


def test_wrong_master_key_is_refused(tmp_path, master_key, s02) -> None:
    path = tmp_path / "s.axr"
    _write_log(path, master_key, s02, seconds=5)
    with pytest.raises(IntegrityError, match="master key"):
        SessionLog.open(path, MasterKey(generate_data_key()))


def test_crash_cut_opens_up_to_last_complete_segment(tmp_path, master_key, s02) -> None:
    path = tmp_path / "s.axr"
    _write_log(path, master_key, s02, close=False)
    raw = path.read_bytes()
    segs = _segments(raw)
    last_start, last_size = segs[-1]
    for cut in (last_start + 5, last_start + last_size - 1):
        (tmp_path / "cut.axr").write_bytes(raw[:cut])
        log = SessionLog.open(tmp_path / "cut.axr", master_key)
        assert not log.complete
        assert log.segments == len(segs) - 1
        assert log.truncated_bytes == cut - last_start
    full = SessionLog.open(path, master_key)
    assert not full.complete and full.truncated_bytes == 0 and full.segments == len(segs)


async def test_async_flusher_writes_at_least_every_second(tmp_path, master_key) -> None:
    path = tmp_path / "a.axr"
    rec = SessionRecorder(path, master_key, flush_interval=0.2)
    rec.start()
    chunk = Chunk("ecg", "ecg", np.arange(130) / 130.0, np.sin(np.arange(130.0)), 130.0)
    rec.append_chunk(chunk)
    await asyncio.sleep(0.6)
    # without closing, the data is already on disk and verifiable
    log = SessionLog.open(path, master_key)
    assert not log.complete and len(log.chunks) == 1
    np.testing.assert_array_equal(log.chunks[0].values, chunk.values)
    await rec.close()
    assert SessionLog.open(path, master_key).complete
    with pytest.raises(ConfigurationError):
        SessionRecorder(tmp_path / "b.axr", master_key, flush_interval=2.0)
