"""Byte layout of the encrypted, append-only session log (shared by the writer and the reader).

File = header + segments::

    header  : b"AXRLOG1\\n" | uint32 LE n | n bytes of JSON {format, version, log_id, data_key (wrapped)}
    segment : b"SG" | uint32 LE index | uint32 LE body_len | uint32 LE crc32(previous 10 bytes) | body
    body    : AES-256-GCM(nonce 12 B | ciphertext | tag 16 B) of the entries (zlib-compressed if the header says so)
    AAD     : log_id (16 B) | uint64 LE index | tag of the previous segment (16 B; for segment 0: SHA-256(header)[:16])
    entry   : uint8 type | uint32 LE meta_len | uint32 LE data_len | meta JSON | data

Chaining each segment's AAD to its index and to the previous tag makes reordering, removal, insertion and any
flipped byte fail authentication (AES-GCM, NIST SP 800-38D). A crash can only leave a shorter last segment, which
the reader cuts off and reports. A clean close writes an end entry (type 3, with the segment and entry counts).
Cutting whole segments off the end cannot be seen inside the file; for that the writer (version 2) appends signed
checkpoints of the head (segment count, entry count, last tag) to ``checkpoints.jsonl`` beside the log, at the start,
at least every few seconds and at the close, and the verifier compares the file with them.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from attunexr.recording import Chunk

MAGIC = b"AXRLOG1\n"
SEG_MAGIC = b"SG"
SEG_HEAD = struct.Struct("<2sIII")  # magic, index, body_len, crc32 of the first 10 bytes
ENTRY_HEAD = struct.Struct("<BII")
ENTRY_CHUNK = 1
ENTRY_RECORD = 2
ENTRY_END = 3
FORMAT = "attunexr-session-log"
#: version 2: the writer signs checkpoints of the log's head outside the file (see ``SessionRecorder``)
VERSION = 2
READABLE_VERSIONS = (1, 2)


def seg_header(index: int, body_len: int) -> bytes:
    first = struct.pack("<2sII", SEG_MAGIC, index, body_len)
    return first + struct.pack("<I", zlib.crc32(first))


def aad(log_id: bytes, index: int, prev_tag: bytes) -> bytes:
    return log_id + struct.pack("<Q", index) + prev_tag


def encode_entry(kind: int, meta: dict[str, Any], data: bytes = b"") -> bytes:
    m = json.dumps(meta, separators=(",", ":"), allow_nan=True).encode()
    return ENTRY_HEAD.pack(kind, len(m), len(data)) + m + data


def encode_chunk(chunk: Chunk) -> bytes:
    values = np.ascontiguousarray(chunk.values, dtype="<f8")
    ts = np.ascontiguousarray(chunk.timestamps, dtype="<f8")
    meta = {
        "stream": chunk.stream,
        "kind": chunk.kind,
        "rate": chunk.rate,
        "shape": list(values.shape),
    }
    return encode_entry(ENTRY_CHUNK, meta, ts.tobytes() + values.tobytes())


def decode_entries(plain: bytes) -> list[tuple[int, dict[str, Any], bytes]]:
    out = []
    pos = 0
    n = len(plain)
    while pos < n:
        kind, ml, dl = ENTRY_HEAD.unpack_from(plain, pos)
        pos += ENTRY_HEAD.size
        meta = json.loads(plain[pos : pos + ml])
        pos += ml
        data = plain[pos : pos + dl]
        pos += dl
        out.append((kind, meta, data))
    return out


def chunk_from_entry(meta: dict[str, Any], data: bytes) -> Chunk:
    shape = tuple(meta["shape"])
    n = shape[0]
    ts = np.frombuffer(data[: 8 * n], dtype="<f8")
    vals = np.frombuffer(data[8 * n :], dtype="<f8").reshape(shape)
    return Chunk(meta["stream"], meta["kind"], ts.copy(), vals.copy(), meta["rate"])
