"""`attunexr trial` commands end to end (subprocess, as a user runs them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from attunexr.cli import main; main()", *args], capture_output=True, text=True,
                          timeout=600)


def test_trial_simulate_writes_json_and_report(tmp_path: Path) -> None:
    out = tmp_path / "trial.json"
    r = _cli("trial", "simulate", "--per-arm", "15", "--sites", "2", "--imputations", "3", "--json", str(out),
             "--report", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    assert "assumptions, not evidence" in r.stdout
    assert not r.stdout.lstrip().startswith("{"), "stdout is a summary, not a JSON dump"
    d = json.loads(out.read_text())
    assert d["consort"]["enrolled"] == 45 == sum(d["consort"]["allocated"].values())
    assert set(d["checklists"]) == {"consort_ai", "spirit_ai", "rate_xr"}
    assert (tmp_path / "rep" / "report.html").exists() and (tmp_path / "rep" / "consort_flow.svg").exists()


def test_template_validate_and_bad_protocol_one_line_error(tmp_path: Path) -> None:
    p = tmp_path / "protocol.json"
    assert _cli("trial", "template", str(p)).returncode == 0
    r = _cli("trial", "validate", str(p))
    assert r.returncode == 0 and "valid protocol attune_acro v1" in r.stdout
    d = json.loads(p.read_text())
    d["arms"] = d["arms"][:1]
    p.write_text(json.dumps(d))
    r = _cli("trial", "validate", str(p))
    assert r.returncode != 0
    assert "arms" in r.stderr and "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1


def test_trial_simulate_reps_reports_power(tmp_path: Path) -> None:
    out = tmp_path / "power.json"
    r = _cli("trial", "simulate", "--per-arm", "20", "--reps", "3", "--pool", "120", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "power" in r.stdout and "assumptions, not evidence" in r.stdout
    d = json.loads(out.read_text())
    assert d["reps"] == 3 and 0 <= d["power"] <= 1 and 0 <= d["coverage"] <= 1
    assert d["engine_max_abs_diff"] < 0.05, "closed-form REML and statsmodels agree"
    r = _cli("trial", "simulate", "--reps", "2", "--report", str(tmp_path / "x"))
    assert r.returncode != 0 and "--report" in r.stderr and "Traceback" not in r.stderr
