"""`SessionLog`: open, verify and export a session log written by :class:`SessionRecorder`; `check_session_log`
tells a complete log from one cut by a crash and from one truncated or altered afterwards."""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attunexr.errors import DataFormatError, IntegrityError
from attunexr.privacy import Checkpoint, MasterKey, WrappedKey, decrypt
from attunexr.recording import STREAM_KINDS, Chunk, Event, Recording, RecordingMeta, Stream
from attunexr.session import _logformat as fmt

__all__ = ["LogCheck", "LogRecord", "SessionLog", "check_session_log"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogRecord:
    """A non-signal entry of a session log (estimate, decision, event, command, quality ...)."""

    kind: str
    t: float | None
    wall: float
    data: Any


@dataclass
class SessionLog:
    """A verified, decrypted session log.

    Use :meth:`open`. Every segment up to the last complete one has passed AES-GCM authentication and the chain
    check; anything after (a segment cut short by a crash) is reported in ``truncated_bytes``.

    Attributes
    ----------
    path
        The log file.
    complete
        ``True`` when the recorder closed the log normally (end marker present).
    segments
        Number of verified segments.
    truncated_bytes
        Bytes after the last complete segment (0 for a cleanly closed log).
    chunks, records
        Decoded signal chunks and other records, in log order.
    log_id, version
        The log's random id (hex) and format version.
    entries
        Number of entries in the verified segments (end entry included).
    tags
        The authentication tag of each verified segment (hex), which checkpoints name.
    end
        The end entry's content (segment and entry counts) when ``complete``.
    """

    path: Path
    complete: bool
    segments: int
    truncated_bytes: int
    meta: RecordingMeta
    chunks: list[Chunk] = field(default_factory=list)
    records: list[LogRecord] = field(default_factory=list)
    log_id: str = ""
    version: int = fmt.VERSION
    entries: int = 0
    tags: list[str] = field(default_factory=list)
    end: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path, master_key: MasterKey) -> SessionLog:
        """Read and verify ``path``; :class:`IntegrityError` on any tampering, wrong key or reordering."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise DataFormatError(path, f"cannot read the session log: {err}") from err
        if not raw.startswith(fmt.MAGIC) or len(raw) < len(fmt.MAGIC) + 4:
            raise DataFormatError(path, "not an attunexr session log (bad magic)")
        (hlen,) = struct.unpack_from("<I", raw, len(fmt.MAGIC))
        hend = len(fmt.MAGIC) + 4 + hlen
        if hend > len(raw):
            raise IntegrityError(
                f"{path}: the log header is cut short ({len(raw)} bytes, header needs {hend})"
            )
        header_bytes = raw[:hend]
        try:
            header = json.loads(raw[len(fmt.MAGIC) + 4 : hend])
            log_id = bytes.fromhex(header["log_id"])
            wrapped = WrappedKey.from_dict(header["data_key"])
        except (ValueError, KeyError, TypeError) as err:
            raise IntegrityError(f"{path}: the log header is corrupt ({err})") from err
        if header.get("format") != fmt.FORMAT or header.get("version") not in fmt.READABLE_VERSIONS:
            raise DataFormatError(
                path, f"unsupported log format {header.get('format')!r} v{header.get('version')!r}"
            )
        try:
            key = master_key.unwrap(wrapped)
        except IntegrityError as err:
            raise IntegrityError(f"{path}: {err}") from err
        compressed = header.get("compression", "zlib") == "zlib"
        prev = hashlib.sha256(header_bytes).digest()[:16]
        pos = hend
        index = 0
        complete = False
        entries: list[tuple[int, dict[str, Any], bytes]] = []
        tags: list[str] = []
        end: dict[str, Any] = {}
        n_entries = 0
        while pos < len(raw):
            if complete:
                raise IntegrityError(
                    f"{path}: {len(raw) - pos} bytes follow the end marker; data was appended"
                )
            if pos + fmt.SEG_HEAD.size > len(raw):
                break  # crash while writing a segment header
            magic, idx, blen, crc = fmt.SEG_HEAD.unpack_from(raw, pos)
            if magic != fmt.SEG_MAGIC or crc != zlib.crc32(raw[pos : pos + 10]):
                raise IntegrityError(f"{path}: segment header at byte {pos} is corrupt")
            if idx != index:
                raise IntegrityError(
                    f"{path}: segment {idx} found where segment {index} belongs (reordered or removed)"
                )
            start = pos + fmt.SEG_HEAD.size
            if start + blen > len(raw):
                break  # crash while writing a segment body
            body = raw[start : start + blen]
            try:
                plain = decrypt(key, body, fmt.aad(log_id, index, prev))
            except IntegrityError as err:
                raise IntegrityError(
                    f"{path}: segment {index} (byte {pos}) failed authentication: altered, reordered or spliced"
                ) from err
            for kind, emeta, data in fmt.decode_entries(zlib.decompress(plain) if compressed else plain):
                n_entries += 1
                if kind == fmt.ENTRY_END:
                    complete = True
                    end = emeta
                else:
                    entries.append((kind, emeta, data))
            prev = body[-16:]
            tags.append(prev.hex())
            index += 1
            pos = start + blen
        truncated = len(raw) - pos
        if truncated:
            logger.info("%s: %d bytes after the last complete segment (a write cut short)", path, truncated)
        chunks: list[Chunk] = []
        records: list[LogRecord] = []
        meta = RecordingMeta(subject="anonymous")
        for kind, m, data in entries:
            if kind == fmt.ENTRY_CHUNK:
                chunks.append(fmt.chunk_from_entry(m, data))
            elif m.get("record") == "meta" and isinstance(m.get("data"), dict):
                d = m["data"]
                meta = RecordingMeta(**{k: d[k] for k in RecordingMeta.__dataclass_fields__ if k in d})
            else:
                records.append(LogRecord(m.get("record", ""), m.get("t"), m.get("wall", 0.0), m.get("data")))
        return cls(path, complete, index, truncated, meta, chunks, records, log_id.hex(),
                   int(header["version"]), n_entries, tags, end)

    # --- views ---------------------------------------------------------------------------------------
    def records_of(self, kind: str) -> list[LogRecord]:
        return [r for r in self.records if r.kind == kind]

    def iter_chunks(self, stream: str | None = None) -> Iterator[Chunk]:
        return (c for c in self.chunks if stream is None or c.stream == stream)

    @property
    def last_sample_time(self) -> float:
        """The latest sample time in the log (NaN when it holds no samples)."""
        return max((c.t_last for c in self.chunks if len(c)), default=float("nan"))

    def to_recording(self) -> Recording:
        """Rebuild a :class:`Recording`: one stream per logged stream (samples sorted, duplicates removed),
        events from ``event`` records; estimates, decisions and commands in ``meta.extra``."""
        rec = Recording(RecordingMeta(**{**self.meta.__dict__, "extra": dict(self.meta.extra)}))
        by_stream: dict[str, list[Chunk]] = {}
        for c in self.chunks:
            by_stream.setdefault(c.stream, []).append(c)
        for name, cs in by_stream.items():
            kind = cs[0].kind
            if kind not in STREAM_KINDS:
                continue
            ts = np.concatenate([c.timestamps for c in cs])
            vals = np.concatenate([c.values for c in cs])
            order = np.argsort(ts, kind="stable")
            ts, vals = ts[order], vals[order]
            keep = np.concatenate([[True], np.diff(ts) > 0]) if ts.size else np.zeros(0, bool)
            rec.add_stream(Stream(name, kind, vals[keep], ts[keep], rate=cs[0].rate))
        for r in self.records:
            if r.kind == "event" and isinstance(r.data, dict):
                value = r.data.get("value")
                rec.events.append(
                    Event(
                        float(r.data.get("onset", r.t or 0.0)),
                        str(r.data.get("label", "")),
                        float(value) if isinstance(value, int | float) else None,
                    )
                )
            elif r.kind == "cue" and isinstance(r.data, dict) and isinstance(r.data.get("category"), str):
                rec.events.append(Event(float(r.data.get("onset", r.t or 0.0)), r.data["category"]))
        rec.events.sort(key=lambda e: e.onset)
        for kind in ("estimate", "decision", "command", "ack", "quality", "alert", "cue", "cue_response"):
            items = [r.data for r in self.records if r.kind == kind]
            if items:
                rec.meta.extra[kind + "s"] = items
        return rec

    def export_bids(self, root: str | Path, **kwargs: Any) -> Any:
        """Write the session as BIDS physio through :func:`attunexr.io.write_bids`."""
        from attunexr.io import write_bids

        return write_bids(self.to_recording(), root, **kwargs)


@dataclass
class LogCheck:
    """The verdict on one session log (see :func:`check_session_log`).

    Attributes
    ----------
    path
        The log file.
    status
        ``"complete"`` (end entry present, agrees with every checkpoint), ``"crashed"`` (no end entry; the log ends
        in a partly written segment or at a segment boundary after its last checkpoint: what a crash leaves),
        ``"truncated"`` (a checkpoint or the end entry shows that more existed than is present) or ``"altered"``
        (a segment failed authentication, or the file contradicts a checkpoint), ``"unverified"`` (no checkpoint
        of a log whose writer always writes them).
    problems
        One sentence per problem (empty for ``complete`` and ``crashed``).
    notes
        Facts that are no problem (a crash, a log written before checkpoints existed).
    segments, entries
        Verified segments and entries present.
    """

    path: Path
    status: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    segments: int = 0
    entries: int = 0
    log: SessionLog | None = None


def check_session_log(
    path: str | Path, master_key: MasterKey, checkpoints: list[tuple[str, Checkpoint]] | None = None
) -> LogCheck:
    """Verify a session log and compare it with the signed checkpoints of its head.

    Parameters
    ----------
    path
        The log file.
    master_key
        The master key it was recorded with.
    checkpoints
        ``(source, checkpoint)`` pairs read from the checkpoint files (signatures already checked); only those of
        this log (same ``log_id``) are used.
    """
    path = Path(path)
    try:
        log = SessionLog.open(path, master_key)
    except (IntegrityError, DataFormatError) as err:
        return LogCheck(path, "altered", [f"{path}: {err}".replace(f"{path}: {path}: ", f"{path}: ")])
    out = LogCheck(path, "complete", segments=log.segments, entries=log.entries, log=log)
    mine = [(src, c) for src, c in (checkpoints or []) if c.valid and c.record is not None
            and c.record.get("kind") == "session-log" and c.record.get("log_id") == log.log_id]
    if log.complete and (log.end.get("segments", log.segments) != log.segments
                         or ("entries" in log.end and log.end["entries"] != log.entries)):
        out.problems.append(f"{path}: the end entry counts {log.end.get('segments')} segments and "
                            f"{log.end.get('entries')} entries, the file holds {log.segments} and {log.entries}")
    for src, c in mine:
        rec = c.record or {}
        n_seg, n_ent = int(rec.get("segments", 0)), int(rec.get("entries", 0))
        when = f"{src} line {c.line}"
        if n_seg > log.segments:
            out.status = "truncated"
            out.problems.append(
                f"{path}: truncated after segment {log.segments} (entry {log.entries}): {when} says "
                f"{n_seg} segments ({n_ent} entries) existed"
            )
        elif n_seg > 0 and log.tags[n_seg - 1] != rec.get("tag"):
            out.status = "altered"
            out.problems.append(f"{path}: segment {n_seg - 1} differs from the one {when} signed (replaced)")
        if rec.get("final") and not log.complete:
            out.status = "truncated"
            out.problems.append(
                f"{path}: truncated after segment {log.segments} (entry {log.entries}): {when} records a clean "
                "close, but the end entry is missing"
            )
    if not log.complete and not out.problems:
        out.status = "crashed"
        tail = (f"a partly written segment of {log.truncated_bytes} bytes" if log.truncated_bytes
                else "a cut at a segment boundary")
        last = max((int((c.record or {}).get("segments", 0)) for _, c in mine), default=0)
        out.notes.append(f"{path}: no end entry (still being written, or the recorder stopped: a crash) after segment "
                         f"{log.segments}; "
                         f"the log ends in {tail} after its last checkpoint (segment {last})")
    if not mine and log.version >= 2:
        out.problems.append(f"{path}: no signed checkpoint names this log (log id {log.log_id}): its checkpoint "
                            "file was removed or replaced")
        if out.status in ("complete", "crashed"):
            out.status = "unverified"
    elif not mine:
        out.notes.append(f"{path}: written before checkpoints existed (format v1): a cut at a segment boundary "
                         "cannot be told from a crash")
    return out
