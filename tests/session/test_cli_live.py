"""``attunexr replay`` on a real recording (in-process through typer's runner)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from attunexr.cli._app import app


def test_replay_prints_rows_as_they_arrive(data_dir) -> None:
    res = CliRunner().invoke(
        app,
        [
            "replay",
            "--dataset",
            "stress-predict",
            "--subject",
            "S02",
            "--speed",
            "inf",
            "--seconds",
            "150",
            "--model",
            "none",
            "--json",
            "-",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.splitlines() if x.startswith("{")]
    rows = [x for x in lines if x["type"] == "features"]
    assert [r["t_end"] for r in rows] == [60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0]
    assert all(50 < r["hr_mean"] < 120 for r in rows if r["hr_mean"] == r["hr_mean"])
    assert rows[0]["label"] == "baseline"
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["rows"] == len(rows)


def test_replay_errors_are_clear(data_dir) -> None:
    res = CliRunner().invoke(
        app,
        [
            "replay",
            "--dataset",
            "stress-predict",
            "--subject",
            "S99",
            "--speed",
            "20",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert res.exit_code == 2 and "error:" in res.output
    res = CliRunner().invoke(
        app,
        [
            "replay",
            "--dataset",
            "stress-predict",
            "--subject",
            "S02",
            "--speed",
            "0",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert res.exit_code == 2 and "--speed" in res.output


def test_replay_with_the_shipped_stress_model_prints_estimates(data_dir) -> None:
    res = CliRunner().invoke(
        app,
        [
            "replay",
            "--dataset",
            "stress-predict",
            "--subject",
            "S02",
            "--speed",
            "inf",
            "--seconds",
            "200",
            "--json",
            "-",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.splitlines() if x.startswith("{")]
    est = [x for x in lines if x["type"] == "estimate"]
    assert [e["t"] for e in est] == [60.0 + 10 * k for k in range(15)]
    assert all(0.0 <= e["probability"] <= 1.0 and e["lower"] <= e["upper"] for e in est)
    assert all(e["model"] for e in est) and all(e["label"] == "baseline" for e in est[:3])
