"""``attunexr verify`` against someone who can write the database and the data folder: it passes intact data and
names what it found after a deleted audit tail, a rewritten entry with recomputed links (plain SHA-256 as schema
0001 did, or HMAC under a wrong key), a truncated session log and a flipped byte; on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from attunexr.cli import app
from attunexr.store import canonical_json, entry_hash

from .conftest import start_server, stop_server, wait_for

PW = "verify-pw-00001"



def _run_session(data: Path, database_url: str | None = None) -> None:
    """A short live session through the web app (audit entries, events, a closed session log, checkpoints)."""
    live = start_server(data, None, speed=60.0, database_url=database_url)
    try:
        demo = live.services.ensure_demo(PW, scenario="spiders")
        token = live.token("clinician", PW)
        with live.client(token) as c:
            sid = demo.session_id
            assert c.post(f"/api/sessions/{sid}/start").status_code == 200
            wait_for(lambda: c.get(f"/api/sessions/{sid}/live").json()["estimate"])
            assert c.post(f"/api/sessions/{sid}/notes", json={"text": "calm"}).status_code == 201
            for _ in range(12):  # audited reads: enough entries for a tail to delete
                assert c.get(f"/api/sessions/{sid}").status_code == 200
            assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
            wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "stopped")
            time.sleep(0.5)  # the session's end is recorded after its log is closed
    finally:
        stop_server(live)
        live.services.db.dispose()


def _verify(data: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", "--data", str(data), *extra])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def intact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("verify") / "data"
    _run_session(data)
    return data


@pytest.fixture()
def copy(intact: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "data"
    shutil.copytree(intact, dst)
    return dst


def _sql(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "attunexr.db")


def _log(data: Path) -> Path:
    (log,) = sorted((data / "sessions").glob("*.axlog"))
    return log


def test_intact_data_verifies(intact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTUNEXR_MASTER_KEY", raising=False)
    code, out = _verify(intact, "--json", str(tmp_path / "v.json"))
    assert code == 0, out
    assert "OK: intact" in out and "1 complete" in out
    result = json.loads((tmp_path / "v.json").read_text())
    assert result["ok"] and result["problems"] == []
    assert result["audit_log"]["entries"] >= 20
    # every append was checkpointed, and the session log carries copies of the chain head
    assert result["audit_log"]["checkpoints"] >= result["audit_log"]["entries"]
    assert [s["status"] for s in result["session_logs"]] == ["complete"]
    # the session log carries signed copies of the audit chain's head from its start and its end
    from attunexr.privacy import load_master_key
    from attunexr.session import SessionLog

    copies = SessionLog.open(_log(intact), load_master_key(intact / "master.key")).records_of("audit_checkpoint")
    assert len(copies) == 2 and copies[0].data["entry"] < copies[1].data["entry"] and "mac" in copies[1].data


def test_deleted_audit_tail_is_found(copy: Path) -> None:
    with _sql(copy) as con:
        (last,) = con.execute("select max(id) from audit_log").fetchone()
        con.execute("delete from audit_log where id > ?", (last - 10,))
    code, out = _verify(copy)
    assert code == 1, out
    # ten in the data folder, plus the copy in the session log if the deleted tail reaches back to it
    m = re.search(rf"audit_log truncated: the log ends at entry {last - 10}, but (\d+) checkpoint\(s\)", out)
    assert m is not None and int(m.group(1)) >= 10, out
    assert f"vouches for entry {last}, the newest" in out


def _rewrite_and_relink(data: Path, link: Callable[[str, dict[str, Any]], str], target: int = 5) -> None:
    """Rewrite entry ``target`` and recompute the link of it and of every later entry, as an attacker would."""
    with _sql(data) as con:
        con.execute("update audit_log set actor = 'forger' where id = ?", (target,))
        rows = con.execute("select id, at, actor_id, actor, action, resource, resource_id, clinic_id, detail, "
                           "prev_hash from audit_log where id >= ? order by id", (target,)).fetchall()
        prev = rows[0][9]
        for rid, at, actor_id, actor, action, resource, resource_id, clinic_id, detail, _ in rows:
            content = {"at": at, "actor_id": actor_id, "actor": actor, "action": action, "resource": resource,
                       "resource_id": resource_id, "clinic_id": clinic_id, "detail": json.loads(detail) or {}}
            new = link(prev, content)
            con.execute("update audit_log set prev_hash = ?, hash = ? where id = ?", (prev, new, rid))
            prev = new


def test_rewritten_entry_relinked_with_plain_sha256_is_found(copy: Path) -> None:
    _rewrite_and_relink(copy, entry_hash)  # the unkeyed construction of schema 0001
    code, out = _verify(copy)
    assert code == 1, out
    assert "audit_log entry 5 (" in out and "was altered" in out
    assert "differ from the checkpoints" in out  # the checkpoints of entry 5 and later no longer match


def test_rewritten_entry_relinked_with_a_wrong_key_is_found(copy: Path) -> None:
    wrong = os.urandom(32)
    _rewrite_and_relink(copy, lambda prev, content: hmac.new(
        wrong, (prev + canonical_json(content)).encode(), hashlib.sha256).hexdigest())
    code, out = _verify(copy)
    assert code == 1, out
    assert "audit_log entry 5 (" in out and "was altered" in out


def test_truncated_session_log_is_told_from_a_crash(copy: Path) -> None:
    log = _log(copy)
    raw = log.read_bytes()
    log.write_bytes(raw[: len(raw) // 2])  # a cut anywhere before the end
    code, out = _verify(copy)
    assert code == 1, out
    assert log.name in out and "truncated after segment" in out
    assert "crash" not in out.split("FAILED")[0].lower().replace("crashed", "")  # not excused as a crash


def test_removed_session_log_is_found(copy: Path) -> None:
    log = _log(copy)
    log.unlink()
    code, out = _verify(copy)
    assert code == 1, out
    assert f"session log {log.name} is missing" in out


@pytest.mark.parametrize("where", ["session log", "audit_log", "checkpoint file"])
def test_flipped_byte_is_found(copy: Path, where: str) -> None:
    if where == "session log":
        log = _log(copy)
        raw = bytearray(log.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        log.write_bytes(bytes(raw))
        expected = "failed authentication"
    elif where == "audit_log":
        with _sql(copy) as con:
            (action,) = con.execute("select action from audit_log where id = 7").fetchone()
            flipped = chr(ord(action[0]) ^ 0x01) + action[1:]
            con.execute("update audit_log set action = ? where id = 7", (flipped,))
        expected = "audit_log entry 7 ("
    else:
        cp = copy / "checkpoints.jsonl"
        raw = bytearray(cp.read_bytes())
        pos = raw.index(b'"entry":') + len(b'"entry":')
        raw[pos] ^= 0x01  # a digit of the entry number: still valid JSON, now a different claim
        cp.write_bytes(bytes(raw))
        expected = "checkpoint signature invalid"
    code, out = _verify(copy)
    assert code == 1, out
    assert expected in out


def test_cli_runs_as_a_command(intact: Path, tmp_path: Path) -> None:
    """The installed command: exit status 0 on intact data, 1 and one line per problem otherwise."""
    env = {k: v for k, v in os.environ.items() if k != "ATTUNEXR_MASTER_KEY"}
    cmd = [sys.executable, "-c", "from attunexr.cli import main; main()", "verify", "--data", str(intact)]
    ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = subprocess.run([*cmd[:-1], str(tmp_path / "nowhere")], capture_output=True, text=True, env=env,
                             timeout=120)
    assert missing.returncode == 2 and "no such data folder" in missing.stderr and "Traceback" not in missing.stderr


def test_deleted_audit_tail_is_found_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _run_session(data, database_url=postgres_url)
    code, out = _verify(data, "--database-url", postgres_url)
    assert code == 0, out
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        last = conn.execute(text("select max(id) from audit_log")).scalar_one()
        conn.execute(text("delete from audit_log where id > :n"), {"n": last - 10})
    engine.dispose()
    code, out = _verify(data, "--database-url", postgres_url)
    assert code == 1, out
    assert "audit_log truncated" in out and f"vouches for entry {last}, the newest" in out
