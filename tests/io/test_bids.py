"""BIDS physio export of a real Stress-Predict subject: passes the official bids-validator and reads back equal."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from attunexr.errors import DataFormatError, SignalError
from attunexr.io import read_bids, read_bids_recording, read_empatica, read_participants, write_bids
from attunexr.recording import Event, Interval, Recording, Stream

VALIDATOR = Path(__file__).resolve().parents[2] / "tools" / "node_modules" / ".bin" / "bids-validator"


def _load_subject(stress_predict_dir: Path) -> Recording:
    """Stress-Predict S02 through the dataset adapter (real task intervals), or the raw E4 folder if absent."""
    try:
        from attunexr.io.datasets import get_dataset
    except ImportError:
        rec = read_empatica(stress_predict_dir / "Raw_data" / "S02", dataset="stress-predict")
        rec.intervals += [Interval(622.0, 376.0, "stroop"), Interval(1270.0, 655.0, "interview")]
        rec.events.append(Event(622.0, "tag", 1.0))
        return rec
    return get_dataset("stress-predict").load("S02", data_dir=stress_predict_dir.parent)


def validate(root: Path) -> dict:
    """Run the official validator; return its JSON report."""
    assert VALIDATOR.exists(), f"{VALIDATOR} missing: run `make install` (npm install in tools/)"
    proc = subprocess.run([str(VALIDATOR), str(root), "--json"], capture_output=True, text=True, timeout=120)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def subject(stress_predict_dir: Path) -> Recording:
    return _load_subject(stress_predict_dir)


@pytest.fixture(scope="module")
def exported(subject: Recording, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bids") / "stress-predict-bids"
    write_bids(subject, root, task="stress")
    return root


def test_export_passes_official_validator(exported: Path) -> None:
    report = validate(exported)
    errors = report["issues"]["errors"]
    assert errors == [], [
        (e["key"], e["reason"], [f["file"]["relativePath"] for f in e["files"] if f.get("file")])
        for e in errors
    ]
    assert report["summary"]["subjects"] == ["S02"]
    assert "physio" in report["summary"]["dataTypes"]


def test_export_layout_follows_bids(exported: Path, subject: Recording) -> None:
    ses = f"ses-{subject.meta.session}" if subject.meta.session else ""
    beh = exported / "sub-S02" / ses / "beh"
    prefix = "sub-S02" + (f"_{ses}" if ses else "") + "_task-stress"
    side = json.loads((beh / f"{prefix}_recording-acc_physio.json").read_text())
    assert side["SamplingFrequency"] == 32.0 and side["Columns"] == ["acc_x", "acc_y", "acc_z"]
    assert side["acc_x"]["Units"] == "g"
    assert json.loads((beh / f"{prefix}_recording-bvp_physio.json").read_text())["Columns"] == ["ppg"]
    # physio files have no header row: the first line is numbers only
    with gzip.open(beh / f"{prefix}_recording-eda_physio.tsv.gz", "rt") as fh:
        float(fh.readline())
    hr = json.loads((beh / f"{prefix}_recording-hr_physio.json").read_text())
    assert hr["StartTime"] == pytest.approx(subject.streams["hr"].t_start)  # HR starts 10 s after clock zero
    events = (beh / f"{prefix}_events.tsv").read_text().splitlines()
    assert events[0].split("\t")[:3] == ["onset", "duration", "trial_type"]
    desc = json.loads((exported / "dataset_description.json").read_text())
    assert desc["Name"] and desc["BIDSVersion"].startswith("1.")
    assert "sub-S02" in (exported / "participants.tsv").read_text()


def test_export_reads_back_equal(exported: Path, subject: Recording) -> None:
    (back,) = read_bids(exported, subject="S02", task="stress")
    assert set(back.streams) == set(subject.streams)
    for name, orig in subject.streams.items():
        got = back.streams[name]
        assert (got.kind, got.rate, got.unit, got.channels) == (
            orig.kind,
            orig.rate,
            orig.unit,
            orig.channels,
        ), name
        assert got.values.shape == orig.values.shape, name
        np.testing.assert_allclose(got.values, orig.values, rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(got.timestamps, orig.timestamps, rtol=0, atol=1e-8, err_msg=name)
    key = lambda iv: (iv.onset, iv.label)  # noqa: E731
    assert [(round(i.onset, 6), round(i.duration, 6), i.label) for i in sorted(back.intervals, key=key)] == [
        (round(i.onset, 6), round(i.duration, 6), i.label) for i in sorted(subject.intervals, key=key)
    ]
    assert sorted((round(e.onset, 6), e.label, e.value) for e in back.events) == sorted(
        (round(e.onset, 6), e.label, e.value) for e in subject.events
    )
    assert back.meta.subject == "S02" and back.meta.start_time == pytest.approx(
        subject.meta.start_time, abs=1e-6
    )
    assert back.meta.session == subject.meta.session
    assert back.window_label(700.0, 760.0) == subject.window_label(700.0, 760.0) == "stroop"
    # one run can also be opened from any of its files
    some_file = next(exported.rglob("*_recording-eda_physio.tsv.gz"))
    assert set(read_bids_recording(some_file).streams) == set(subject.streams)


def test_filters_and_second_subject(exported: Path, subject: Recording, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(exported, root)
    other = subject.crop(0.0, 120.0)
    other.meta = type(subject.meta)(
        subject="S99", dataset="stress-predict", start_time=subject.meta.start_time
    )
    write_bids(other, root, task="stress")
    assert validate(root)["issues"]["errors"] == []
    assert [r.meta.subject for r in read_bids(root)] == ["S02", "S99"]
    assert [r.meta.subject for r in read_bids(root, subject="sub-S99")] == ["S99"]
    assert read_bids(root, task="other") == []
    assert (root / "participants.tsv").read_text().count("sub-") == 2


def test_write_is_atomic_and_refuses_overwrite(subject: Recording, tmp_path: Path) -> None:
    root = tmp_path / "atomic"
    broken = subject.crop(0.0, 60.0)
    bad = broken.streams["eda"].values.copy()
    bad[10] = np.nan
    broken.streams["eda"] = Stream.regular("eda", "eda", bad, 4.0)
    with pytest.raises(SignalError, match="'eda' has a NaN"):
        write_bids(broken, root, task="stress")
    assert not root.exists()  # nothing half-written
    root.mkdir()
    (root / "keep.txt").write_text("x")
    with pytest.raises(SignalError):
        write_bids(broken, root, task="stress")
    assert sorted(p.name for p in root.iterdir()) == ["keep.txt"]
    (root / "keep.txt").unlink()
    good = subject.crop(0.0, 60.0)
    write_bids(good, root, task="stress")
    with pytest.raises(DataFormatError, match="already exists; pass overwrite=True"):
        write_bids(good, root, task="stress")
    fewer = Recording(good.meta, {"eda": good.streams["eda"]}, intervals=good.intervals, events=good.events)
    write_bids(fewer, root, task="stress", overwrite=True)
    (back,) = read_bids(root)
    assert set(back.streams) == {"eda"}  # the replaced run's other streams are gone
    assert "recording-bvp" not in next(root.rglob("*_scans.tsv")).read_text()
    assert validate(root)["issues"]["errors"] == []
    assert not any(p.name.startswith(".attunexr-staging") for p in root.iterdir())


def test_off_grid_and_irregular_streams_keep_their_timestamps(tmp_path: Path) -> None:
    from attunexr.recording import RecordingMeta

    rng = np.random.default_rng(7)
    ts = np.arange(100) / 10.0
    ts[50:] += 0.07  # 0.7 sample periods late: not on a regular 10 Hz grid
    gaze_t = np.cumsum(rng.uniform(0.008, 0.014, 300))
    rec = Recording(
        RecordingMeta(subject="X1"),
        {
            "eda": Stream("eda", "eda", rng.normal(2, 0.1, 100), ts, rate=10.0),
            "gaze": Stream(
                "gaze", "gaze", rng.normal(0, 1, (300, 3)), gaze_t, rate=None, channels=("x", "y", "z")
            ),
        },
    )
    root = tmp_path / "j"
    write_bids(rec, root, task="t")
    side = json.loads(next(root.rglob("*recording-gaze_physio.json")).read_text())
    assert (
        side["Columns"] == ["timestamp", "gaze_x", "gaze_y", "gaze_z"] and side["IrregularSampling"] is True
    )
    assert validate(root)["issues"]["errors"] == []
    (back,) = read_bids(root)
    for name, orig in rec.streams.items():
        got = back.streams[name]
        assert (got.rate, got.channels) == (orig.rate, orig.channels)
        np.testing.assert_allclose(got.timestamps, orig.timestamps, atol=1e-9)
        np.testing.assert_allclose(got.values, orig.values, rtol=1e-9)
    # a timestamp column that goes backwards is refused, naming the file and the line
    gz = next(root.rglob("*recording-gaze_physio.tsv.gz"))
    with gzip.open(gz, "rt") as fh:
        lines = fh.read().splitlines()
    lines[9], lines[10] = lines[10], lines[9]
    with gzip.open(gz, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    with pytest.raises(
        DataFormatError, match=r"recording-gaze_physio\.tsv\.gz: line 11: timestamp [\d.]+ is earlier"
    ):
        read_bids(root)


def test_vr_subject_with_ecg_gaze_and_pupil(vr_cybersickness_dir: Path, tmp_path: Path) -> None:
    from attunexr.io.datasets import get_dataset

    rec = get_dataset("vr-cybersickness").load("train-4", data_dir=vr_cybersickness_dir.parent)
    root = tmp_path / "vr"
    write_bids(rec, root, task="rollercoaster")
    assert validate(root)["issues"]["errors"] == []
    (back,) = read_bids(root)
    assert set(back.streams) == set(rec.streams)
    for name, orig in rec.streams.items():
        got = back.streams[name]
        assert (got.kind, got.rate, got.channels) == (orig.kind, orig.rate, orig.channels), name
        np.testing.assert_allclose(got.timestamps, orig.timestamps, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(got.values, orig.values, rtol=1e-9, atol=1e-12, err_msg=name)
    assert sorted((i.label, round(i.onset, 6)) for i in back.intervals) == sorted(
        (i.label, round(i.onset, 6)) for i in rec.intervals
    )


def test_reads_foreign_bids_with_inherited_sidecar(tmp_path: Path) -> None:
    """A dataset prepared by hand as in docs/formats.md: top-level sidecar, cardiac + respiratory in one file."""
    root = tmp_path / "mine"
    beh = root / "sub-01" / "ses-a" / "beh"
    beh.mkdir(parents=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "mine", "BIDSVersion": "1.9.0"}))
    (root / "participants.tsv").write_text("participant_id\nsub-01\n")
    (root / "README").write_text("A hand-made dataset used by the attunexr tests to check reading.\n" * 3)
    (root / "task-vr_physio.json").write_text(
        json.dumps(
            {
                "SamplingFrequency": 100.0,
                "StartTime": -1.0,
                "Columns": ["cardiac", "respiratory", "trigger"],
                "cardiac": {"Units": "mV"},
            }
        )
    )
    t = np.arange(500) / 100.0
    rows = np.column_stack([np.sin(t), np.cos(t), (t % 1 < 0.01).astype(float)])
    with gzip.open(beh / "sub-01_ses-a_task-vr_physio.tsv.gz", "wt") as fh:
        fh.write("\n".join("\t".join(f"{v:.6f}" for v in r) for r in rows) + "\n")
    (beh / "sub-01_ses-a_task-vr_events.tsv").write_text(
        "onset\tduration\ttrial_type\n0.5\t2.0\theights\n3\t0\tsuds\n"
    )
    assert validate(root)["issues"]["errors"] == []
    (rec,) = read_bids(root)
    assert rec.meta.subject == "01" and rec.meta.session == "a" and rec.meta.extra["task"] == "vr"
    assert sorted((s.name, s.kind) for s in rec.streams.values()) == [("ecg", "ecg"), ("resp", "resp")]
    assert rec.streams["ecg"].unit == "mV" and rec.streams["ecg"].t_start == -1.0
    np.testing.assert_allclose(rec.streams["resp"].values, np.round(np.cos(t), 6))
    assert rec.intervals == [Interval(0.5, 2.0, "heights")] and rec.events == [Event(3.0, "suds", None)]


def test_public_io_api_of_formats() -> None:
    import attunexr.io as io_pkg

    names = {
        "read_bids",
        "iter_bids",
        "read_bids_recording",
        "write_bids",
        "read_edf",
        "write_edf",
        "read_xdf",
    }
    names |= {"read_bitalino", "read_csv_signals"}
    assert names <= set(io_pkg.__all__)
    assert all(callable(getattr(io_pkg, n)) for n in names)


def test_features_of_read_back_equal_features_of_original(exported: Path, subject: Recording) -> None:
    from attunexr.features import extract

    (back,) = read_bids(exported, subject="S02")
    ours, theirs = extract(back), extract(subject)
    assert ours.shape == theirs.shape and len(ours) > 300
    assert (ours["label"].fillna("") == theirs["label"].fillna("")).all()
    numeric = theirs.select_dtypes("number").columns
    np.testing.assert_allclose(
        ours[numeric].to_numpy(float), theirs[numeric].to_numpy(float), rtol=1e-9, atol=1e-9
    )


def test_read_participants(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    assert read_participants(root) == ({}, {})
    (root / "participants.tsv").write_text(
        "participant_id\tage\tgroup\tempty\nsub-01\t30\tcontrol\tn/a\nsub-02\tn/a\tpatient\tn/a\n"
        "sub-03\t41.5\tpatient\tn/a\n"
    )
    (root / "participants.json").write_text(json.dumps({"group": {"Description": "study arm"}}))
    described, values = read_participants(root)
    assert described == {"age": "age", "group": "study arm"}  # an all-missing column is not a variable
    assert values == {
        "01": {"age": 30.0, "group": "control"},
        "02": {"group": "patient"},
        "03": {"age": 41.5, "group": "patient"},
    }
    (root / "participants.tsv").write_bytes("\ufeffparticipant_id\tage\nsub-01\t30\n".encode())
    assert read_participants(root)[1] == {"01": {"age": 30.0}}  # a byte-order mark from a spreadsheet is fine
    (root / "participants.tsv").write_text("participant_id\tage\nsub-01\t30\textra\n")
    with pytest.raises(DataFormatError, match="line 2 has 3 fields"):
        read_participants(root)
    (root / "participants.tsv").write_text("subject\tage\n01\t30\n")
    with pytest.raises(DataFormatError, match="participant_id"):
        read_participants(root)
