"""``attunexr bids export`` with several subjects: when a later subject fails, nothing is left behind."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from attunexr.cli._app import app


def test_export_rolls_back_when_the_second_subject_fails(stress_predict_dir: Path, tmp_path: Path) -> None:
    # a datasets folder whose S02 is the real one and whose S03 has a damaged EDA file
    data = tmp_path / "data" / "stress-predict"
    (data / "Raw_data").mkdir(parents=True)
    (data / "Processed_data").symlink_to(stress_predict_dir / "Processed_data")
    (data / "Raw_data" / "S02").symlink_to(stress_predict_dir / "Raw_data" / "S02")
    s03 = data / "Raw_data" / "S03"
    s03.mkdir()
    for f in (stress_predict_dir / "Raw_data" / "S03").iterdir():
        if f.name != "EDA.csv":
            (s03 / f.name).symlink_to(f)
    real = (stress_predict_dir / "Raw_data" / "S03" / "EDA.csv").read_bytes()
    (s03 / "EDA.csv").write_bytes(real[:200] + b"\xff\xfe\x00garbage\n" + real[400:])
    out = tmp_path / "export" / "bids"
    args = ["bids", "export", "--dataset", "stress-predict", "--subjects", "S02", "--subjects", "S03",
            "--out", str(out), "--task", "stress", "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0, result.output
    assert "EDA.csv" in result.output
    assert not out.exists(), "S02 was left behind although S03 failed"
    assert not (tmp_path / "export").exists()
