"""`attunexr federated` refuses bad input with one clear line and starts nothing; its certificates are right."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from attunexr.errors import ConfigurationError
from attunexr.federated._deploy import check_certs, make_certs

CLI = [sys.executable, "-c", "import sys; sys.argv[0] = 'attunexr'; from attunexr.cli import main; main()"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def _flower_processes_under(folder: Path) -> list[str]:
    """Command lines of live processes that mention ``folder`` (a Flower process of this test would)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder) in cmd and "flower" in cmd or ("flwr" in cmd and str(folder) in cmd):
                found.append(cmd)
    return found


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sites", "stress-predict,no-such-site"], "no-such-site"),
        (["--sites", "stress-predict"], "at least two sites"),
        (["--sites", "stress-predict,stress-predict"], "named twice"),
        (["--sites", "stress-predict,nurse-stress", "--certs", "missing-certs"], "ca.crt"),
        (["--sites", "stress-predict,nurse-stress", "--dp-noise", "1.0"], "--dp-clip"),
    ],
)
def test_run_rejects_bad_input_with_one_line_and_starts_nothing(tmp_path: Path, args: list[str],
                                                                message: str) -> None:
    work = tmp_path / "work"
    res = _cli("federated", "run", *args, "--rounds", "1", "--work-dir", str(work), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert message in lines[0]
    assert "Traceback" not in res.stderr
    assert not work.exists() or not any(work.glob("run-*"))  # no run folder: nothing was started
    assert _flower_processes_under(work) == []


def test_site_and_server_need_certificates_or_insecure(tmp_path: Path) -> None:
    res = _cli("federated", "site", "--dataset", "nurse-stress", "--certs", str(tmp_path / "none"), cwd=tmp_path)
    assert res.returncode == 2 and "ca.crt" in res.stderr and "attunexr federated certs" in res.stderr
    res = _cli("federated", "server", cwd=tmp_path)
    assert res.returncode == 2 and "--certs" in res.stderr
    res = _cli("federated", "site", "--dataset", "nurse-stress", "--superlink", "nohost", "--insecure",
               cwd=tmp_path)
    assert res.returncode == 2 and "HOST:PORT" in res.stderr


def test_certs_command_writes_a_ca_and_a_server_certificate_for_the_addresses(tmp_path: Path) -> None:
    res = _cli("federated", "certs", str(tmp_path / "c"), "--host", "10.1.2.3", "--host", "clinic-a.example",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    paths = check_certs(tmp_path / "c", server=True)
    cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"),
                                                            ipaddress.ip_address("10.1.2.3")}
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "clinic-a.example"}
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    assert oct(paths.server_key.stat().st_mode & 0o777) == "0o600"
    # a second call does not overwrite without --force
    again = _cli("federated", "certs", str(tmp_path / "c"), cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr


def test_check_certs_names_what_is_missing(tmp_path: Path) -> None:
    make_certs(tmp_path)
    (tmp_path / "server.key").unlink()
    check_certs(tmp_path, server=False)  # a site needs only ca.crt
    with pytest.raises(ConfigurationError, match="server.key"):
        check_certs(tmp_path, server=True)


@pytest.mark.slow
def test_run_interrupted_stops_every_process(tmp_path: Path, data_dir: Path, stress_predict_dir: Path,
                                             nurse_stress_dir: Path) -> None:
    """SIGTERM (as Ctrl-C) while the sites train: exit 130, a line saying so, no process and no port left."""
    import json
    import signal
    import socket
    import time

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")])
    env["ATTUNEXR_DATA"] = str(data_dir)
    work = tmp_path / "work"
    proc = subprocess.Popen([*CLI, "federated", "run", "--sites", "stress-predict,nurse-stress", "--rounds", "3",
                             "--work-dir", str(work), "--cache-dir", str(tmp_path / "cache")],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        started: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(started) < 3:
            found = list(work.glob("run-*/processes.json"))
            started = json.loads(found[0].read_text()) if found else []
            time.sleep(0.5)
        assert len(started) == 3, "the deployment did not start"
        time.sleep(5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "every process of the run was stopped" in err
    for p in started:
        pid, port = int(str(p["pid"])), int(str(p["port"]))
        alive = Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
        assert not alive, p
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, p
    assert _flower_processes_under(work) == []
