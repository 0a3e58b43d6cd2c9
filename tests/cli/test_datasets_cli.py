"""``attunexr datasets list|info|download`` through the real typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attunexr.cli import app
from attunexr.io.datasets._registry import Dataset, DatasetCard

runner = CliRunner()


def test_list_json(data_dir: Path) -> None:
    result = runner.invoke(app, ["datasets", "list", "--json", "-", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"stress-predict", "vr-cybersickness", "vr-fms-motion", "nurse-stress", "nurse-stress-all"}
    assert by_name["stress-predict"]["n_subjects"] == 35
    assert by_name["vr-cybersickness"]["n_subjects"] == 19
    assert by_name["nurse-stress"]["n_subjects"] == 12
    assert by_name["nurse-stress-all"]["n_subjects"] == 15
    assert by_name["vr-fms-motion"]["n_subjects"] == 86 and by_name["vr-fms-motion"]["n_sessions"] == 428
    for r in rows:
        assert r["available"] is True
        assert r["signals"] and r["labels"] and r["citation"]
        if r["name"] != "vr-fms-motion":  # the 2025 dataset has no DOI; its citation names the repository commit
            assert "doi" in r["citation"]
        if r["name"].startswith("nurse-stress"):
            assert r["licence"].startswith("CC0") and "dryad" in r["origin"]
            assert {"high_stress", "medium_stress", "no_stress"} == set(r["labels"])
        else:
            assert r["licence"] == "MIT" and r["origin"].startswith("https://github.com/")
    assert {"stroop", "interview", "hyperventilation", "baseline", "rest"} == set(
        by_name["stress-predict"]["labels"]
    )
    assert {"ecg", "gaze", "pupil"} <= set(by_name["vr-cybersickness"]["signals"])


def test_list_table(data_dir: Path) -> None:
    result = runner.invoke(app, ["datasets", "list", "--data-dir", str(data_dir)], terminal_width=200)
    assert result.exit_code == 0
    assert "stress-predict" in result.stdout and "vr-cybersickness" in result.stdout


def test_list_when_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["datasets", "list", "--json", "-", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["available"] for r in rows] == [False] * 5
    assert "attunexr datasets download stress-predict" in result.stderr


def test_info_stress_predict(data_dir: Path) -> None:
    result = runner.invoke(app, ["datasets", "info", "stress-predict", "--json", "-", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert len(info["subjects"]) == 35
    assert info["agreement"]["overall"] >= 0.999
    assert info["agreement"]["subjects_not_in_file"] == ["S01"]
    assert info["label_counts"]["stroop"] == 35 and info["label_counts"]["rest"] == 105
    assert 0 < info["label_seconds"]["hyperventilation"] < info["label_seconds"]["interview"]
    assert info["caveats"] and info["signal_rates"]["bvp"].startswith("PPG")


def test_info_text_vr(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["datasets", "info", "vr-cybersickness", "--data-dir", str(data_dir)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "train-16" in result.stdout and "train-1" in result.stdout and "caveats" in result.stdout


def test_info_missing_data(tmp_path: Path) -> None:
    result = runner.invoke(app, ["datasets", "info", "vr-cybersickness", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    err = result.stderr
    assert err.startswith("error:")
    for needle in (
        "github.com/m1237/automatic-cybersickness-detection",
        "attunexr datasets download",
        "ATTUNEXR_DATA",
        "--data-dir",
    ):
        assert needle in err


def test_info_unknown_dataset(data_dir: Path) -> None:
    result = runner.invoke(app, ["datasets", "info", "wesad", "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and "known datasets" in result.stderr


def test_download_fails_cleanly(tmp_path: Path) -> None:
    """No origin is reachable in tests: the command ends quickly with a clear error and leaves nothing behind."""
    result = runner.invoke(
        app, ["datasets", "download", "stress-predict", "--dest", str(tmp_path), "--timeout", "1"]
    )
    assert result.exit_code == 2
    assert "cannot download 'stress-predict'" in result.stderr
    assert not (tmp_path / "stress-predict").exists()


def test_download_error_names_origin(tmp_path: Path) -> None:
    """A real git clone from an origin that does not exist reports the origin and removes the partial copy."""

    class Nowhere(Dataset):
        card = DatasetCard(
            name="nowhere",
            title="",
            folder="nowhere",
            origin="file:///nonexistent",
            licence="MIT",
            git_url=f"file://{tmp_path}/no-such-repo",
            citation="",
            n_subjects=0,
            signals={},
            labels={},
        )

        def subjects(self, data_dir: object = None) -> list[str]:
            return []

        def load(self, subject: str, data_dir: object = None):  # type: ignore[no-untyped-def]
            raise AssertionError

    import pytest

    from attunexr.errors import DatasetNotFoundError

    with pytest.raises(DatasetNotFoundError, match="no-such-repo") as info:
        Nowhere().download(tmp_path / "dest", timeout=30)
    assert "clone it by hand" in str(info.value)
    assert not (tmp_path / "dest" / "nowhere").exists()


def test_download_refuses_non_empty_target(tmp_path: Path) -> None:
    (tmp_path / "vr-cybersickness").mkdir()
    (tmp_path / "vr-cybersickness" / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["datasets", "download", "vr-cybersickness", "--dest", str(tmp_path)])
    assert result.exit_code == 2 and "not empty" in result.stderr
    assert (tmp_path / "vr-cybersickness" / "keep.txt").read_text() == "mine"


def test_info_nurse_stress(data_dir: Path) -> None:
    result = runner.invoke(app, ["datasets", "info", "nurse-stress", "--json", "-", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["n_subjects"] == 12 and len(info["subjects"]) == 12
    assert info["label_counts"] == {"no_stress": 20, "medium_stress": 7, "high_stress": 85}
    assert len(info["class_balance"]["subjects_with_none_and_high"]) == 9
    assert "America/Chicago" in info["time_alignment"] and info["time_alignment"].endswith(": 0")
