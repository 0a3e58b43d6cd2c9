"""`SessionRecorder`: the encrypted, append-only, crash-safe log of everything that happens in a live session."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from attunexr.errors import ConfigurationError
from attunexr.privacy import (
    CHECKPOINT_FILE,
    CheckpointFile,
    MasterKey,
    checkpoint_key,
    encrypt,
    generate_data_key,
)
from attunexr.recording import Chunk, RecordingMeta
from attunexr.session import _logformat as fmt

__all__ = ["SessionRecorder"]

logger = logging.getLogger(__name__)


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    return str(obj)


class SessionRecorder:
    """Append every chunk, estimate, decision and event of a session to an encrypted log file.

    Entries are buffered in memory and sealed into one AES-GCM segment per flush; a background task flushes
    at least every ``flush_interval`` seconds and each flush ends with ``fsync``, so a crash loses at most the
    last ``flush_interval`` seconds. The per-session data key is stored only wrapped by the master key.
    Nothing is dropped: when the disk falls behind, :meth:`wait_capacity` makes producers wait.

    Parameters
    ----------
    path
        The log file to create (it must not exist: logs are append-only and never overwritten).
    master_key
        The :class:`~attunexr.privacy.MasterKey` that wraps the session's data key.
    meta
        Recording metadata (subject pseudonym, dataset, start time ...), stored encrypted in the first segment.
    flush_interval
        Seconds between flushes (at most 1.0).
    wrap
        ``"AES-KW"`` or ``"AES-GCM"`` key wrapping.
    max_pending_bytes
        Buffered bytes above which :meth:`wait_capacity` blocks until a flush completes.
    compress_level
        zlib level applied before encryption (0 = none, the default: signals compress poorly and it costs CPU).
    checkpoints
        Where signed checkpoints of the log's head go (default: ``checkpoints.jsonl`` beside the log, signed with
        a key derived from ``master_key``). One is written after the header, after a flush when
        ``checkpoint_interval`` seconds have passed since the last, and at the close; they let a verifier tell a
        log cut short by an attacker ("truncated after segment N") from one cut by a crash.
    checkpoint_interval
        Seconds between checkpoints while the session runs.
    """

    def __init__(
        self,
        path: str | Path,
        master_key: MasterKey,
        meta: RecordingMeta | None = None,
        flush_interval: float = 0.5,
        wrap: str = "AES-KW",
        max_pending_bytes: int = 8 << 20,
        compress_level: int = 0,
        checkpoints: CheckpointFile | None = None,
        checkpoint_interval: float = 5.0,
    ) -> None:
        if not 0 < flush_interval <= 1.0:
            raise ConfigurationError(
                f"flush_interval must be in (0, 1] s so a crash loses at most 1 s, got {flush_interval}"
            )
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.max_pending_bytes = max_pending_bytes
        self.compress_level = compress_level
        self._key = generate_data_key()
        self._log_id = secrets.token_bytes(16)
        wrapped = master_key.wrap(self._key, wrap)
        header_json = json.dumps(
            {
                "format": fmt.FORMAT,
                "version": fmt.VERSION,
                "log_id": self._log_id.hex(),
                "data_key": wrapped.to_dict(),
                "cipher": "AES-256-GCM",
                "compression": "zlib" if compress_level > 0 else "none",
            },
            separators=(",", ":"),
        ).encode()
        header = fmt.MAGIC + struct.pack("<I", len(header_json)) + header_json
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.checkpoints = checkpoints or CheckpointFile(self.path.parent / CHECKPOINT_FILE,
                                                         checkpoint_key(master_key))
        self.checkpoint_interval = checkpoint_interval
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError as err:
            raise ConfigurationError(
                f"{self.path}: a session log already exists here; logs are never overwritten"
            ) from err
        os.write(self._fd, header)
        os.fsync(self._fd)
        self._prev_tag = hashlib.sha256(header).digest()[:16]
        self._index = 0
        self._buf: list[bytes] = []
        self._pending = 0
        self._lock = threading.Lock()
        self._seal_lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.n_chunks = 0
        self.n_samples = 0
        self.n_records = 0
        self.n_entries = 0  # entries sealed into segments
        self.bytes_written = len(header)
        self.last_flush = time.monotonic()
        self._last_checkpoint = 0.0
        #: called with the recorder just before the end entry is written (e.g. to log a last audit checkpoint)
        self.before_close: list[Callable[[SessionRecorder], None]] = []
        self._checkpoint(final=False)
        meta = meta or RecordingMeta(subject="anonymous")
        self.append_record("meta", asdict(meta))

    # --- appending ------------------------------------------------------------------------------------
    def _add(self, blob: bytes) -> None:
        if self._closed:
            raise ConfigurationError(f"{self.path}: the session log is closed; nothing more can be appended")
        with self._lock:
            self._buf.append(blob)
            self._pending += len(blob)

    def append_chunk(self, chunk: Chunk) -> None:
        """Log a chunk of samples (all of them, always)."""
        self._add(fmt.encode_chunk(chunk))
        self.n_chunks += 1
        self.n_samples += len(chunk)

    def append_record(self, kind: str, payload: Any, t: float | None = None) -> None:
        """Log a non-signal record: ``kind`` is ``"estimate"``, ``"decision"``, ``"event"``, ``"command"`` ...."""
        meta = {"record": kind, "t": t, "wall": time.time(), "data": _jsonable(payload)}
        self._add(fmt.encode_entry(fmt.ENTRY_RECORD, meta))
        self.n_records += 1

    @property
    def pending_bytes(self) -> int:
        return self._pending

    async def wait_capacity(self) -> None:
        """Wait while more than ``max_pending_bytes`` are buffered (back-pressure instead of dropping)."""
        while self._pending > self.max_pending_bytes and not self._closed:
            await self.flush()

    # --- sealing --------------------------------------------------------------------------------------
    def _seal_and_write(self, final: bool) -> None:
        with self._lock:
            entries, self._buf = self._buf, []
            self._pending = 0
        if final:
            # the end entry counts every segment and entry the log holds, itself included
            entries.append(fmt.encode_entry(fmt.ENTRY_END, {"segments": self._index + 1, "wall": time.time(),
                                                            "entries": self.n_entries + len(entries) + 1}))
        if not entries:
            return
        plain = b"".join(entries)
        if self.compress_level > 0:
            plain = zlib.compress(plain, self.compress_level)
        body = encrypt(self._key, plain, fmt.aad(self._log_id, self._index, self._prev_tag))
        os.write(self._fd, fmt.seg_header(self._index, len(body)) + body)
        os.fsync(self._fd)
        self._prev_tag = body[-16:]
        self._index += 1
        self.n_entries += len(entries)
        self.bytes_written += fmt.SEG_HEAD.size + len(body)
        self.last_flush = time.monotonic()
        if final or self.last_flush - self._last_checkpoint >= self.checkpoint_interval:
            self._checkpoint(final)

    def _checkpoint(self, final: bool) -> None:
        try:
            self.checkpoints.append({
                "kind": "session-log", "log_id": self._log_id.hex(), "file": self.path.name,
                "segments": self._index, "entries": self.n_entries, "tag": self._prev_tag.hex(),
                "final": final, "at": time.time(),
            })
        except OSError as err:  # the log itself is intact; only the outside evidence is missing
            logger.error("%s: could not write its checkpoint: %s", self.path, err)
        self._last_checkpoint = time.monotonic()

    def flush_sync(self, final: bool = False) -> None:
        """Seal buffered entries into a segment and fsync it (blocking)."""
        with self._seal_lock:
            self._seal_and_write(final)

    async def flush(self, final: bool = False) -> None:
        """Seal and fsync buffered entries in a worker thread (the event loop keeps running)."""
        if not self._buf and not final:
            return
        await asyncio.to_thread(self.flush_sync, final)

    async def _flusher(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except OSError as err:
                logger.error("%s: could not write the session log: %s", self.path, err)

    def start(self) -> None:
        """Start the background flusher on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flusher())

    async def close(self) -> None:
        """Flush everything, write the end marker and close the file."""
        if self._closed:
            return
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._run_before_close()
        await self.flush(final=True)
        self._closed = True
        os.close(self._fd)

    def close_sync(self) -> None:
        if self._closed:
            return
        self._run_before_close()
        self.flush_sync(final=True)
        self._closed = True
        os.close(self._fd)

    def _run_before_close(self) -> None:
        hooks, self.before_close = self.before_close, []
        for hook in hooks:
            try:
                hook(self)
            except Exception:  # noqa: BLE001 - a failing hook must not keep the log from closing
                logger.exception("%s: a before-close hook failed", self.path)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"<SessionRecorder {self.path} segments={self._index} chunks={self.n_chunks}>"
