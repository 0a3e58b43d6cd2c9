"""The encrypted session log: round trip, chaining, tampering, crash recovery, no plaintext at rest, export."""

from __future__ import annotations

import asyncio
import os
import struct

import numpy as np
import pytest

from attunexr.errors import ConfigurationError, DataFormatError, IntegrityError
from attunexr.privacy import CHECKPOINT_FILE, CheckpointFile, MasterKey, checkpoint_key, generate_data_key
from attunexr.recording import Chunk, Recording, RecordingMeta
from attunexr.session import SessionLog, SessionRecorder, check_session_log
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


def _checkpoints(path, master_key):
    cps = CheckpointFile(path.parent / CHECKPOINT_FILE, checkpoint_key(master_key))
    return [(str(cps.path), c) for c in cps.read()]


def test_clean_close_is_complete_and_vouched_for(tmp_path, master_key, s02) -> None:
    path = tmp_path / "s.axr"
    _write_log(path, master_key, s02)
    cps = _checkpoints(path, master_key)
    assert cps and all(c.valid for _, c in cps)
    assert cps[-1][1].record["final"] and cps[0][1].record["segments"] == 0  # at the start and at the close
    assert (tmp_path / CHECKPOINT_FILE).stat().st_mode & 0o077 == 0
    check = check_session_log(path, master_key, cps)
    assert check.status == "complete" and check.problems == [] and check.notes == []
    log = check.log
    assert log is not None and log.end["segments"] == log.segments and log.end["entries"] == log.entries


def test_truncation_is_told_from_a_crash(tmp_path, master_key, s02) -> None:
    # a crash: the recorder never closed; the file ends after its last checkpoint (clean cut or partial segment)
    crashed = tmp_path / "crashed" / "s.axr"
    rec = SessionRecorder(crashed, master_key, checkpoint_interval=0.0)  # a checkpoint after every flush ...
    chunks = list(s02.crop(s02.t_start, s02.t_start + 8).iter_chunks(1.0))[:8]
    for i, chunk in enumerate(chunks):
        if i == 4:
            rec.checkpoint_interval = 1e9  # ... then none: the last segments are vouched for by nothing
        rec.append_chunk(chunk)
        rec.flush_sync()
    cps = _checkpoints(crashed, master_key)
    vouched = max(c.record["segments"] for _, c in cps)
    raw = crashed.read_bytes()
    segs = _segments(raw)
    assert vouched == 4 and len(segs) == len(chunks) == 8
    for cut in (len(raw), segs[-1][0] + 7, segs[vouched][0], segs[vouched][0] + 30):
        crashed.write_bytes(raw[:cut])
        check = check_session_log(crashed, master_key, cps)
        assert check.status == "crashed" and check.problems == [], (cut, check.problems)
        assert "no end entry" in check.notes[0]
    # a cut before the last checkpoint: "truncated after segment N", not a crash
    for cut in (segs[vouched - 1][0], segs[vouched - 1][0] + 30, segs[1][0]):
        crashed.write_bytes(raw[:cut])
        check = check_session_log(crashed, master_key, cps)
        n = 1 if cut == segs[1][0] else vouched - 1
        assert check.status == "truncated" and f"truncated after segment {n} " in check.problems[0], cut
        assert f"says {vouched} segments" in " ".join(check.problems)
    os.close(rec._fd)
    # a cleanly closed log cut anywhere: the final checkpoint says more existed
    closed = tmp_path / "closed" / "s.axr"
    _write_log(closed, master_key, s02)
    cps = _checkpoints(closed, master_key)
    raw = closed.read_bytes()
    segs = _segments(raw)
    for cut in (segs[-1][0], segs[-1][0] + 20, segs[2][0]):
        closed.write_bytes(raw[:cut])
        check = check_session_log(closed, master_key, cps)
        assert check.status == "truncated", cut
        assert any("truncated after segment" in p for p in check.problems)
    # without its checkpoint file a v2 log is not taken on trust
    closed.write_bytes(raw)
    check = check_session_log(closed, master_key, [])
    assert check.status == "unverified" and "no signed checkpoint" in check.problems[0]
    # a forged checkpoint (not signed with the key) does not count
    forged = [(s, type(c)(c.line, {**c.record, "segments": 999}, False)) for s, c in cps]
    assert check_session_log(closed, master_key, forged).status == "unverified"
