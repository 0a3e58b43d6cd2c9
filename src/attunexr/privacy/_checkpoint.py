"""Signed checkpoints kept outside the database: an append-only JSON-lines file of HMAC-signed records.

A checkpoint states how far an append-only structure had grown at a moment (the audit chain: entry count and head
MAC; a session log: segment count and last tag). It is signed with HMAC-SHA256 (RFC 2104) under a sub-key of the
master key (``MasterKey.derive("checkpoints")``), which neither the database nor the logs hold, so that a database
writer can neither forge one nor rewrite the history a checkpoint vouches for without detection. Each record is one
line written with ``O_APPEND`` and followed by ``fsync``; the file is created with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attunexr.privacy._keys import MasterKey

__all__ = ["CHECKPOINT_FILE", "Checkpoint", "CheckpointFile", "checkpoint_key", "sign_checkpoint",
           "verify_checkpoint"]

logger = logging.getLogger(__name__)

#: File name of a checkpoint file inside the data folder (and inside each folder of session logs).
CHECKPOINT_FILE = "checkpoints.jsonl"
_LABEL = "checkpoints"


def checkpoint_key(master: MasterKey) -> bytes:
    """The 32-byte signing key of checkpoints, derived from the master key with its own label."""
    return master.derive(_LABEL)


def _canonical(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "mac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_checkpoint(key: bytes, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with a ``mac`` field: HMAC-SHA256 of its canonical JSON (sorted keys, without ``mac``)."""
    return {**record, "mac": hmac.new(key, _canonical(record), hashlib.sha256).hexdigest()}


def verify_checkpoint(key: bytes, record: dict[str, Any]) -> bool:
    """Whether ``record`` carries a valid ``mac`` under ``key`` (constant-time comparison)."""
    mac = record.get("mac")
    if not isinstance(mac, str):
        return False
    return hmac.compare_digest(mac, hmac.new(key, _canonical(record), hashlib.sha256).hexdigest())


@dataclass(frozen=True)
class Checkpoint:
    """One line of a checkpoint file.

    Attributes
    ----------
    line
        1-based line number in the file.
    record
        The decoded record (``None`` when the line is not JSON).
    valid
        ``True`` when the record parsed and its MAC verified.
    """

    line: int
    record: dict[str, Any] | None
    valid: bool


class CheckpointFile:
    """An append-only file of signed checkpoints.

    Parameters
    ----------
    path
        The file (created with mode 0600 on the first append; its folder with 0700).
    key
        The signing key (:func:`checkpoint_key`).
    """

    _lock = threading.Lock()

    def __init__(self, path: str | Path, key: bytes) -> None:
        self.path = Path(path)
        self._key = key

    @property
    def key(self) -> bytes:
        """The signing key (for records that travel elsewhere, such as checkpoints copied into session logs)."""
        return self._key

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Sign ``record``, append it as one line and fsync; returns the signed record."""
        signed = sign_checkpoint(self._key, record)
        line = (json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        with self._lock:  # one whole line per write; the fsync can overlap with other writers
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.write(fd, line)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return signed

    def read(self) -> list[Checkpoint]:
        """Every line of the file (an empty list when it does not exist), with its signature checked."""
        if not self.path.exists():
            return []
        out: list[Checkpoint] = []
        for i, raw in enumerate(self.path.read_bytes().split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except (UnicodeDecodeError, ValueError):
                out.append(Checkpoint(i, None, False))
                continue
            if not isinstance(rec, dict):
                out.append(Checkpoint(i, None, False))
                continue
            out.append(Checkpoint(i, rec, verify_checkpoint(self._key, rec)))
        return out
