"""`attunexr simulate`: JSON figures, report with plots and the not-clinical-evidence statement."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attunexr.cli import app


def test_simulate_writes_json_and_report(tmp_path: Path, artifacts_dir: Path) -> None:
    out = tmp_path / "sim.json"
    rep = artifacts_dir / "simulate-report"
    res = CliRunner().invoke(app, ["simulate", "--patients", "60", "--sessions", "2", "--policies",
                                   "fixed,suds,arousal", "--json", str(out), "--report", str(rep), "--seed", "2"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert set(data) == {"patients", "sessions", "wall_s", "policies"}
    assert data["patients"] == 60 and data["sessions"] == 2 and data["wall_s"] > 0
    assert set(data["policies"]) == {"fixed", "suds", "arousal"}
    assert set(data["policies"]["arousal"]) == {"time_in_window", "overload_per_session", "sickness_per_session",
                                                "max_level_mean", "dropout_rate", "escalations_during_signal_loss"}
    page = (rep / "report.html").read_text()
    assert "not clinical evidence" in page.lower()
    assert (rep / "sessions.png").stat().st_size > 5000 and (rep / "example_patient.png").stat().st_size > 5000
    assert json.loads((rep / "details.json").read_text())["details"]["fixed"]["sessions_delivered"] >= 60


def test_simulate_rejects_unknown_policy(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["simulate", "--patients", "5", "--sessions", "1", "--policies", "fixed,magic",
                                   "--json", str(tmp_path / "x.json")])
    assert res.exit_code == 2
    assert "unknown policies" in res.output
    assert not (tmp_path / "x.json").exists()
