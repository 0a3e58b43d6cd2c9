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
         "--password", "demo-cli-password", "--app-dir", str(data), "--speed", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        banner = ""
        deadline = time.time() + 60
        while "Ctrl-C" not in banner and time.time() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            banner += line
        assert "sign in as 'clinician' with password: demo-cli-password" in banner, banner
        sid = int(re.search(r"session #(\d+)", banner).group(1))  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(url + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        tok = httpx.post(url + "/api/auth/token", json={"username": "clinician", "password": "demo-cli-password"}).json()
        h = {"Authorization": f"Bearer {tok['access_token']}"}
        assert httpx.post(f"{url}/api/sessions/{sid}/start", headers=h, timeout=60).json()["state"] == "running"
        live = httpx.get(f"{url}/api/sessions/{sid}/live", headers=h).json()
        assert live["info"]["source_kind"] == "virtual"

        # a cookie used after POST /logout gets 401: the login ended on the server, not just in the browser
        with httpx.Client(base_url=url) as browser:
            assert browser.post("/login", data={"username": "clinician", "password": "demo-cli-password"}
                                ).status_code == 303
            cookie = browser.cookies["attunexr_session"]
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', browser.get("/").text).group(1)  # type: ignore[union-attr]
            assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
        stolen = {"attunexr_session": cookie}
        assert httpx.get(f"{url}/api/me", cookies=stolen).status_code == 401
        assert httpx.get(f"{url}/api/sessions/{sid}", cookies=stolen).status_code == 401
        assert httpx.post(f"{url}/api/sessions/{sid}/notes", cookies=stolen, json={"text": "x"},
                          headers={"X-CSRF-Token": csrf}).status_code == 401
        assert httpx.get(f"{url}/patients/1", cookies=stolen).headers.get("location") == "/login"

        # 30 wrong passwords in a row for one account get 429 (with Retry-After) before the 30th
        codes = [httpx.post(f"{url}/api/auth/token", json={"username": "clinician", "password": f"wrong-{i}"}
                            ).status_code for i in range(30)]
        assert codes.index(429) < 29 and set(codes[codes.index(429):]) == {429}, codes
        assert set(codes[:codes.index(429)]) == {401}
        last = httpx.post(f"{url}/api/auth/token", json={"username": "clinician", "password": "demo-cli-password"})
        assert last.status_code == 429 and int(last.headers["retry-after"]) > 0  # even the right one, for now
        assert "try again in" in last.json()["detail"]
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
