"""``attunexr features`` on a real dataset and on a BIDS export."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from attunexr.cli import app
from attunexr.features import FEATURE_COLUMNS, ID_COLUMNS, QUALITY_COLUMNS
from attunexr.io import write_bids
from attunexr.recording import Recording

runner = CliRunner()


def test_features_command_writes_parquet(stress_predict_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "feat.parquet"
    res = runner.invoke(
        app,
        [
            "features",
            "--dataset",
            "stress-predict",
            "--subjects",
            "S03",
            "--window",
            "60",
            "--hop",
            "30",
            "--out",
            str(out),
            "--data-dir",
            str(stress_predict_dir.parent),
        ],
    )
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out)
    assert list(df.columns) == list(ID_COLUMNS) + list(FEATURE_COLUMNS) + list(QUALITY_COLUMNS)
    assert set(df["subject"]) == {"S03"} and len(df) > 90
    assert {"stroop", "interview", "hyperventilation"} <= set(df["label"].dropna())


def test_features_command_reads_bids(stress_recording: Recording, tmp_path: Path) -> None:
    rec = stress_recording.crop(0.0, 300.0)
    write_bids(rec, tmp_path / "bids", subject="S05", task="stress")
    out = tmp_path / "feat.csv"
    res = runner.invoke(app, ["features", "--bids", str(tmp_path / "bids"), "--hop", "60", "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert len(df) == 5 and df["hr_mean"].notna().all()


def test_features_command_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["features", "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and "exactly one of --dataset" in res.output
    res = runner.invoke(app, ["features", "--dataset", "stress-predict", "--out", str(tmp_path / "x.xlsx")])
    assert res.exit_code == 2 and ".parquet or .csv" in res.output
    res = runner.invoke(
        app,
        ["features", "--dataset", "stress-predict", "--subjects", "S99", "--out", str(tmp_path / "x.csv")],
    )
    assert res.exit_code == 2 and "S99" in res.output
    assert not list(tmp_path.iterdir())
