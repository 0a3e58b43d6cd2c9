"""``attunexr bids export`` and ``attunexr bids check`` on a real Stress-Predict subject."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attunexr.cli._app import app


def test_bids_export_then_check(stress_predict_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "bids"
    data_dir = str(stress_predict_dir.parent)
    result = runner.invoke(
        app,
        [
            "bids",
            "export",
            "--dataset",
            "stress-predict",
            "--subjects",
            "S04",
            "--out",
            str(out),
            "--task",
            "stress",
            "--data-dir",
            data_dir,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 1 subject(s) of stress-predict" in result.output
    result = runner.invoke(app, ["bids", "check", str(out), "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (run,) = report["runs"]
    assert run["subject"] == "S04" and run["task"] == "stress"
    assert run["streams"]["bvp"] == "ppg 64 Hz" and run["streams"]["ibi"] == "ibi irregular"
    assert {"stroop", "interview", "hyperventilation"} <= set(run["labels"])
    assert report["validator_errors"] == []
    # a broken sidecar: exit status 2 and the file named in the message
    side = next(out.rglob("*_recording-eda_physio.json"))
    side.write_text(json.dumps({"StartTime": 0, "Columns": ["eda"]}))
    result = runner.invoke(app, ["bids", "check", str(out), "--no-validator"])
    assert result.exit_code == 2
    assert "recording-eda_physio.json" in result.output and "SamplingFrequency" in result.output
