"""EDF+ round trip of a real Stress-Predict segment (pyedflib): per-channel rates, physical range from the data,
annotations <-> intervals and events; corrupt files refused with the file name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyedflib
import pytest

from attunexr.errors import DataFormatError, SignalError
from attunexr.io import read_edf, read_empatica, write_edf
from attunexr.recording import Event, Interval, Recording

T0, T1 = 600.0, 1500.0


@pytest.fixture(scope="module")
def segment(stress_predict_dir: Path) -> Recording:
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S02", dataset="stress-predict")
    rec.intervals += [
        Interval(622.0, 376.0, "stroop"),
        Interval(998.0, 272.0, "rest"),
        Interval(1270.0, 655.0, "interview"),
    ]
    rec.events += [Event(622.0, "tag", 1.0), Event(998.25, "note")]
    return rec.crop(T0, T1)


def test_edf_round_trip_of_real_segment(segment: Recording, tmp_path: Path) -> None:
    path = write_edf(segment, tmp_path / "s02.edf")
    with pyedflib.EdfReader(str(path)) as raw:
        rates = dict(zip(raw.getSignalLabels(), raw.getSampleFrequencies(), strict=True))
        assert rates == {
            "bvp": 64.0,
            "eda": 4.0,
            "temp": 4.0,
            "acc:x": 32.0,
            "acc:y": 32.0,
            "acc:z": 32.0,
            "hr": 1.0,
        }
        i = raw.getSignalLabels().index("eda")
        eda = segment.streams["eda"].values
        # physical range taken from the data (rounded outwards to the 8-character header field)
        assert raw.getPhysicalMinimum(i) <= eda.min() < raw.getPhysicalMinimum(i) + 1e-4
        assert raw.getPhysicalMaximum(i) - 1e-4 < eda.max() <= raw.getPhysicalMaximum(i)
        steps = {
            lab: (raw.getPhysicalMaximum(j) - raw.getPhysicalMinimum(j)) / 65535
            for j, lab in enumerate(raw.getSignalLabels())
        }

    back = read_edf(path)
    assert set(back.streams) == {
        "bvp",
        "eda",
        "temp",
        "acc",
        "hr",
    }  # the irregular IBI stream has no place in EDF
    assert back.meta.subject == "S02" and back.meta.device == "Empatica E4"
    assert back.meta.start_time == pytest.approx(segment.meta.start_time + T0, abs=1e-3)
    for name, got in back.streams.items():
        orig = segment.streams[name]
        assert (got.kind, got.rate, got.unit, got.channels) == (
            orig.kind,
            orig.rate,
            orig.unit,
            orig.channels,
        )
        n = got.n_samples
        assert n == int((T1 - T0) * orig.rate)  # 900 s = whole 1-s data records for every rate
        labels = [name] if got.values.ndim == 1 else [f"{name}:{c}" for c in got.channels]
        tol = max(steps[lab] for lab in labels)
        assert np.max(np.abs(got.values - orig.values[:n])) <= tol
        np.testing.assert_allclose(got.timestamps + T0, orig.timestamps[:n], atol=1e-9)
    assert [(i.onset + T0, i.duration, i.label) for i in back.intervals] == [
        (pytest.approx(i.onset, abs=1e-4), pytest.approx(i.duration, abs=1e-4), i.label)
        for i in segment.intervals
    ]
    assert [(e.onset + T0, e.label, e.value) for e in back.events] == [
        (pytest.approx(e.onset, abs=1e-4), e.label, e.value) for e in segment.events
    ]


def test_edf_refuses_misaligned_streams_and_overwrite(segment: Recording, tmp_path: Path) -> None:
    late = Recording(segment.meta, {"bvp": segment.streams["bvp"], "hr": segment.streams["hr"].shifted(3.0)})
    with pytest.raises(SignalError, match="'hr' starts 3.000 s after the others"):
        write_edf(late, tmp_path / "late.edf")
    assert list(tmp_path.iterdir()) == []  # no partial or temporary file left behind
    eda = segment.streams["eda"]
    drifting = Recording(
        segment.meta, {"eda": type(eda)("eda", "eda", eda.values, eda.timestamps * 1.001, rate=4.0)}
    )
    with pytest.raises(SignalError, match=r"'eda' wanders [\d.]+ sample periods off its 4 Hz grid"):
        write_edf(drifting, tmp_path / "drift.edf")
    assert list(tmp_path.iterdir()) == []
    path = write_edf(segment, tmp_path / "a.edf")
    with pytest.raises(DataFormatError, match=r"a\.edf: already exists"):
        write_edf(segment, path)


def test_edf_corrupt_files_refused(segment: Recording, tmp_path: Path) -> None:
    good = write_edf(segment, tmp_path / "good.edf").read_bytes()
    cut = tmp_path / "cut.edf"
    cut.write_bytes(good[: len(good) // 3])
    with pytest.raises(DataFormatError, match=r"cut\.edf: is not a readable EDF/EDF\+ file"):
        read_edf(cut)
    header = bytearray(good)
    header[236:244] = b"garbage!"  # number of data records must be an integer
    bad = tmp_path / "header.edf"
    bad.write_bytes(bytes(header))
    with pytest.raises(DataFormatError, match=r"header\.edf: is not a readable EDF"):
        read_edf(bad)
    text = tmp_path / "notes.edf"
    text.write_text("not an EDF file at all")
    with pytest.raises(DataFormatError, match=r"notes\.edf"):
        read_edf(text)
