"""Signed checkpoint files: HMAC over the canonical record, one fsynced line per append, mode 0600, and every
altered, forged or unparsable line reported as invalid."""

from __future__ import annotations

import json
import stat

from attunexr.privacy import (
    CheckpointFile,
    MasterKey,
    checkpoint_key,
    generate_data_key,
    sign_checkpoint,
    verify_checkpoint,
)


def test_signed_lines_verify_and_altered_ones_do_not(tmp_path) -> None:
    key = checkpoint_key(MasterKey(generate_data_key()))
    cps = CheckpointFile(tmp_path / "sub" / "checkpoints.jsonl", key)
    assert cps.read() == []
    for i in range(3):
        cps.append({"kind": "audit", "entry": i + 1, "head": "ab" * 32, "at": "t"})
    assert stat.S_IMODE(cps.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cps.path.parent.stat().st_mode) == 0o700
    lines = cps.read()
    assert [c.valid for c in lines] == [True] * 3 and [c.record["entry"] for c in lines] == [1, 2, 3]
    raw = cps.path.read_text().splitlines()
    rec = json.loads(raw[1])
    raw[1] = json.dumps({**rec, "entry": 99})  # a changed claim, old MAC
    raw.append(json.dumps(sign_checkpoint(b"\x00" * 32, {"kind": "audit", "entry": 100})))  # wrong key
    raw.append("{not json")
    cps.path.write_text("\n".join(raw) + "\n")
    assert [(c.line, c.valid) for c in cps.read()] == [(1, True), (2, False), (3, True), (4, False), (5, False)]
    assert verify_checkpoint(key, rec) and not verify_checkpoint(key, {**rec, "mac": 5})
    # the key depends on the master key and its label only
    other = checkpoint_key(MasterKey(generate_data_key()))
    assert other != key and not verify_checkpoint(other, rec)
