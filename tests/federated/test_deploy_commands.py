"""The commands of docs/federated.md's "three clinics" section, on one machine: `certs`, `server`, one `site` per
clinic (each its own long-running command), `run --superlink`; Ctrl-C (SIGTERM) stops server and sites cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attunexr.federated._deploy import free_port

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-c", "import sys; sys.argv[0] = 'attunexr'; from attunexr.cli import main; main()"]
SITES = ["stress-predict", "nurse-stress"]


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")])
    env["ATTUNEXR_DATA"] = str(data_dir)
    return env


def _wait_for(path_glob: Path, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path_glob.is_file() and pattern in path_glob.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{pattern!r} never appeared in {path_glob}")


def test_server_sites_and_remote_run(tmp_path: Path, data_dir: Path, stress_predict_dir: Path,
                                     nurse_stress_dir: Path) -> None:
    env = _env(data_dir)
    port = free_port()
    certs = tmp_path / "certs"
    assert subprocess.run([*CLI, "federated", "certs", str(certs)], env=env, cwd=tmp_path, check=False,
                          capture_output=True, timeout=120).returncode == 0
    logs = {name: tmp_path / f"{name}.out" for name in ["server", *SITES]}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with open(logs["server"], "wb") as out:
            procs["server"] = subprocess.Popen(
                [*CLI, "federated", "server", "--port", str(port), "--certs", str(certs), "--work-dir", "srv"],
                env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
        _wait_for(logs["server"], "SuperLink listening", 120)
        for site in SITES:
            with open(logs[site], "wb") as out:
                procs[site] = subprocess.Popen(
                    [*CLI, "federated", "site", "--dataset", site, "--superlink", f"127.0.0.1:{port}",
                     "--certs", str(certs), "--work-dir", f"clinic-{site}", "--cache-dir", str(tmp_path / "cache")],
                    env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
        for site in SITES:
            _wait_for(logs[site], "connected to", 300)
        res = subprocess.run(
            [*CLI, "federated", "run", "--superlink", f"127.0.0.1:{port}", "--certs", str(certs), "--sites",
             ",".join(SITES), "--rounds", "1", "--no-leave-site-out", "--json", "fed.json", "--work-dir", "coord"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
        assert res.returncode == 0, res.stderr[-2000:]
        result = json.loads((tmp_path / "fed.json").read_text())
        assert result["status"] == "finished:completed" and result["sites"] == SITES
        for site in SITES:
            assert 0.0 <= result["per_site"][site]["auroc"]["value"] <= 1.0
            # the byte counts are kept at the site, in its own work folder
            assert (tmp_path / f"clinic-{site}" / f"site-{site}" / "sites" / site / "messages-sent.jsonl").is_file()
        assert result["model"] is None and any("other machines" in n for n in result["notes"])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {name: proc.wait(timeout=60) for name, proc in procs.items()}
    assert all(code == 0 for code in codes.values()), codes
    for name in procs:
        assert "stopping" in logs[name].read_text()
    started = [row for folder in ("srv", *(f"clinic-{s}" for s in SITES))
               for f in (tmp_path / folder).glob("*/processes.json") for row in json.loads(f.read_text())]
    assert len(started) == 3
    for row in started:
        assert not Path(f"/proc/{row['pid']}").exists() or "Z" in Path(f"/proc/{row['pid']}/stat").read_text().split()[2]
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", int(row["port"]))) != 0
