"""``attunexr demo`` as a person runs it: a real process on a free port; Ctrl-C (SIGINT) stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from attunexr.store import Database, TherapySession, sqlite_url, verify_audit_chain

from .conftest import _free_port


def test_demo_starts_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path, data_dir: Path) -> None:
    port = _free_port()
    data = tmp_path / "attunexr-data"
    env = {**os.environ, "ATTUNEXR_DATA": str(data_dir)}
    env.pop("ATTUNEXR_MASTER_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from attunexr.cli import main; main()", "demo", "--port", str(port),
         "--password", "demo-cli-pw", "--app-dir", str(data), "--speed", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        banner = ""
        deadline = time.time() + 60
        while "Ctrl-C" not in banner and time.time() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            banner += line
        assert "sign in as 'clinician' with password: demo-cli-pw" in banner, banner
        sid = int(re.search(r"session #(\d+)", banner).group(1))  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(url + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        tok = httpx.post(url + "/api/auth/token", json={"username": "clinician", "password": "demo-cli-pw"}).json()
        h = {"Authorization": f"Bearer {tok['access_token']}"}
        assert httpx.post(f"{url}/api/sessions/{sid}/start", headers=h, timeout=60).json()["state"] == "running"
        live = httpx.get(f"{url}/api/sessions/{sid}/live", headers=h).json()
        assert live["info"]["source_kind"] == "virtual"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    db = Database(sqlite_url(data / "attunexr.db"))
    with db.begin() as s:
        ts = s.get(TherapySession, sid)
        assert ts is not None and ts.status == "stopped" and ts.ended_at is not None
        assert verify_audit_chain(s) > 3
    assert list((data / "sessions").glob("*.axlog"))
    db.dispose()
