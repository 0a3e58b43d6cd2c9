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
