"""The nurse-stress adapter on the real data: segments, survey intervals as they are, times, class balance."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.io.datasets import NurseStress, get_dataset, load_recordings
from attunexr.io.datasets._nurse_stress import check_local_times

MAIN_SUBJECTS = ["15", "5C", "6B", "7A", "7E", "83", "8B", "94", "BG", "E4", "EG", "F5"]


@pytest.fixture(scope="module")
def nurse_root(nurse_stress_dir: Path) -> Path:
    return nurse_stress_dir


@pytest.fixture(scope="module")
def main_set(nurse_root: Path) -> NurseStress:
    ds = get_dataset("nurse-stress")
    assert isinstance(ds, NurseStress)
    return ds


def test_subjects_and_label_counts(main_set: NurseStress, nurse_root: Path) -> None:
    data = nurse_root.parent
    assert main_set.subjects(data) == MAIN_SUBJECTS
    lab = main_set.labels(data)
    assert lab["label"].value_counts().to_dict() == {"high_stress": 85, "no_stress": 20, "medium_stress": 7}
    assert lab["segment"].nunique() == 97
    full = get_dataset("nurse-stress-all")
    lab_all = full.labels(data)
    assert len(full.subjects(data)) == 15 and {"6D", "CE", "DF"} <= set(full.subjects(data))
    assert (lab_all["part"] == "partial").sum() == 98
    assert lab_all.loc[lab_all["part"] == "partial", "segment"].str.startswith("partial/").all()


def test_segments_are_recordings_with_survey_intervals(main_set: NurseStress, nurse_root: Path) -> None:
    data = nurse_root.parent
    lab = main_set.labels(data)
    recs = main_set.load_sessions("7A", data)
    assert len(recs) == 16
    assert len({r.meta.session for r in recs}) == 16
    starts = [r.meta.start_time for r in recs]
    assert starts == sorted(starts)
    n_intervals = 0
    for rec in recs:
        assert {"bvp", "eda", "temp", "acc", "hr"} <= set(rec.streams)
        assert rec.meta.dataset == "nurse-stress" and rec.meta.subject == "7A"
        rows = lab[lab["segment"] == rec.meta.extra["segment"]]
        assert len(rec.intervals) == len(rows) >= 1
        t0 = float(rec.meta.start_time or 0.0)
        for iv, row in zip(rec.intervals, rows.itertuples(), strict=True):
            # interval times are the survey's unix times on the segment clock, nothing shifted or widened
            assert iv.onset + t0 == pytest.approx(row.start_unix)
            assert iv.end + t0 == pytest.approx(row.end_unix)
            assert iv.label == {0: "no_stress", 1: "medium_stress", 2: "high_stress"}[row.stress_level]
            assert 0 <= iv.onset < iv.end <= rec.t_end + 1
        n_intervals += len(rec.intervals)
        # the context around an interval is unlabelled, never "no stress"
        assert rec.window_label(0.0, 60.0) is None or rec.intervals[0].onset < 30.0
    assert n_intervals == int((lab["subject"] == "7A").sum())
    # load_recordings yields every segment of a subject
    assert len(list(load_recordings("nurse-stress", ["7A"], data))) == 16
    first = main_set.load("7A", data)
    assert first.meta.session == recs[0].meta.session
    with pytest.raises(ConfigurationError, match="no segment"):
        main_set.load("7A", data, segment="7A/7A_0")


def test_partial_segments_lack_bvp(nurse_root: Path) -> None:
    ds = get_dataset("nurse-stress-all")
    recs = ds.load_sessions("CE", nurse_root.parent)  # only in partial/
    assert recs and all("bvp" not in r.streams and "eda" in r.streams and "hr" in r.streams for r in recs)
    assert all(r.meta.extra["part"] == "partial" for r in recs)


def test_original_quirks(main_set: NurseStress, nurse_root: Path) -> None:
    data = nurse_root.parent
    # an IBI file that lists every beat twice: read sorted, repeats dropped
    f5 = main_set.load("F5", data, segment="F5/F5_1594921260")
    t = f5.streams["ibi"].timestamps
    assert np.all(np.diff(t) > 0)
    raw = pd.read_csv(nurse_root / "F5/F5_1594921260/IBI.csv.gz", header=None, skiprows=1)
    assert len(t) == len(raw.drop_duplicates())
    assert len(t) < len(raw)
    # an empty original IBI file: no beat stream, the other signals are there
    b6 = main_set.load("6B", data, segment="6B/6B_1593086670")
    assert "ibi" not in b6.streams and "bvp" in b6.streams


def test_times_are_us_central(main_set: NurseStress, nurse_root: Path) -> None:
    lab = main_set.labels(nurse_root.parent)
    assert check_local_times(lab) == 0
    # an hour off (CDT used after the switch to CST) is caught
    late = lab[lab["start_local"].str.endswith("-06:00")].head(1).copy()
    assert len(late) == 1
    late["start_local"] = late["start_local"].str.replace("-06:00", "-05:00")
    late["start_unix"] = late["start_unix"] - 3600
    assert check_local_times(late) >= 1


def test_class_balance(main_set: NurseStress, nurse_root: Path) -> None:
    bal = main_set.class_balance(nurse_root.parent)
    assert bal["totals"] == {"no_stress": 20, "medium_stress": 7, "high_stress": 85}
    assert bal["subjects_with_none_and_high"] == ["15", "6B", "7A", "83", "8B", "94", "BG", "E4", "F5"]
    assert bal["per_subject"]["94"]["intervals"] == {"no_stress": 6, "medium_stress": 1, "high_stress": 4}
    assert not bal["per_subject"]["5C"]["both_none_and_high"]
    info = main_set.info(nurse_root.parent)
    assert info["n_intervals"] == 112 and info["n_segments"] == 97
    assert "medium_stress excluded" in info["binarization"]["primary"]
    assert info["licence"].startswith("CC0") and "10.5061/dryad.5hqbzkh6f" in info["citation"]


def test_broken_labels(nurse_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "nurse-stress"
    root.mkdir()
    lab = pd.read_csv(nurse_root / "labels.csv", dtype=str)
    lab.loc[3, "stress_level"] = "na"
    lab.to_csv(root / "labels.csv", index=False)
    with pytest.raises(DataFormatError, match="line 5: stress_level"):
        get_dataset("nurse-stress").subjects(tmp_path)
    lab = pd.read_csv(nurse_root / "labels.csv", dtype=str).drop(columns=["end_unix"])
    lab.to_csv(root / "labels.csv", index=False)
    with pytest.raises(DataFormatError, match="end_unix"):
        get_dataset("nurse-stress").subjects(tmp_path)


def test_broken_signal_file(nurse_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "nurse-stress"
    seg = "94/94_1593110400"
    lab = pd.read_csv(nurse_root / "labels.csv", dtype=str)
    if seg not in set(lab["segment"]):
        seg = lab.loc[lab["subject"] == "94", "segment"].iloc[0]
    shutil.copytree(nurse_root / seg, root / seg)
    lab[lab["segment"] == seg].to_csv(root / "labels.csv", index=False)
    assert get_dataset("nurse-stress").load_sessions("94", tmp_path)
    (root / seg / "BVP.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(DataFormatError, match="gzip"):
        get_dataset("nurse-stress").load_sessions("94", tmp_path)
    (root / seg / "BVP.csv.gz").unlink()
    with pytest.raises(DataFormatError, match="BVP.csv.*required"):
        get_dataset("nurse-stress").load_sessions("94", tmp_path)
    with gzip.open(root / seg / "EDA.csv.gz", "rb") as fh:
        assert fh.read(10)


def test_download_explains_where_it_comes_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="dryad.5hqbzkh6f"):
        get_dataset("nurse-stress").download(tmp_path)
