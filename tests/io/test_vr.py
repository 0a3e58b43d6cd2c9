"""Reader for the VR roller-coaster layout: real folders, timing reconstruction, broken copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunexr.errors import DataFormatError
from attunexr.io import read_vr_session
from attunexr.io._vr import (
    fit_sample_times,
    group_presses,
    read_button_presses,
    read_eyetracking,
    read_json_signal,
)


@pytest.fixture(scope="module")
def train3(vr_cybersickness_dir: Path) -> Path:
    return vr_cybersickness_dir / "data" / "train" / "3"


@pytest.fixture
def train3_copy(train3: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "3"
    shutil.copytree(train3, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)  # the shared copy is read-only; ours must be writable
    return dst


def test_reads_real_session(train3: Path) -> None:
    rec = read_vr_session(train3, subject="train-3", dataset="vr-cybersickness")
    assert set(rec.streams) == {"bvp", "eda", "temp", "acc", "hr", "ibi", "ecg", "gaze", "pupil"}
    assert rec.t_start == 0.0
    ride = rec.meta.extra["ride"]
    vr = [iv for iv in rec.intervals if iv.label == "vr"]
    assert len(vr) == 1 and (vr[0].onset, vr[0].end) == pytest.approx(ride)
    # E4/Polar (UTC) and eye tracking (local, corrected by 1 h) overlap on one clock
    ecg = rec.streams["ecg"]
    assert ecg.t_start < ride[0] + 2 and ecg.t_end > ride[1] - 2
    # the button presses fall inside the ride
    presses = rec.meta.extra["presses"]
    assert presses and all(ride[0] <= a <= b <= ride[1] for a, b in presses)
    assert [e.onset for e in rec.events if e.label == "sick_button"] == [a for a, _ in presses]
    acc = rec.streams["acc"].values
    assert 0.7 < np.median(np.linalg.norm(acc, axis=1)) < 1.3  # gravity, converted from 1/64 g


def test_sample_times_from_batch_arrivals(train3: Path) -> None:
    """Rebuilt times never come after the arrival and the fitted rate is close to the nominal one."""
    for rel, rate in (("Polar_h10/ECG.json", 130.0), ("Empatica/BVP.json", 64.0), ("Empatica/EDA.json", 4.0)):
        _, arrival = read_json_signal(train3 / rel)
        assert len(np.unique(arrival)) < 0.5 * arrival.size  # many samples share one batch timestamp
        times, effective = fit_sample_times(arrival, rate)
        delay = arrival - times
        assert delay.min() == pytest.approx(0.0, abs=1e-9) and delay.max() < 3.0
        assert abs(effective / rate - 1) < 0.005
        assert np.allclose(np.diff(times), 1 / effective, rtol=0, atol=1e-6)


def test_fit_recovers_known_clock() -> None:
    """Synthetic batches: samples at 130.2 Hz delivered in bursts with random latency are placed within 5 ms."""
    rng = np.random.default_rng(7)
    n = 130 * 120
    true = 1000.0 + np.arange(n) / 130.2
    batch = np.repeat(np.arange(n // 73 + 1), 73)[:n]
    last_in_batch = pd.Series(true).groupby(batch).transform("max").to_numpy()
    latency = rng.uniform(0.01, 0.4, batch.max() + 1)[batch]
    latency[batch % 7 == 0] = 0.002  # some batches arrive quickly, as on a quiet radio link
    arrival = last_in_batch + latency
    times, effective = fit_sample_times(arrival, 130.0)
    assert effective == pytest.approx(130.2, rel=2e-4)
    assert np.max(np.abs(times - true)) < 0.005


def test_eyetracking_glitches_and_validity(train3: Path) -> None:
    path = next(train3.glob("*_eyetracking_data.csv"))
    raw = pd.read_csv(path, sep=";", dtype={"current_timestamp": "string"})
    times, gaze, pupil = read_eyetracking(path)
    # duplicated device frames are dropped; time follows the device clock, so it never jumps back
    assert times.size == raw["timestamp_device"].nunique()
    assert np.all(np.diff(times) > 0) and np.max(np.diff(times)) < 1.0
    # invalid eyes → NaN: where both eyes are invalid, both outputs are NaN
    first = ~raw["timestamp_device"].duplicated().to_numpy()
    both_bad = (
        ~raw["left_pupil_diameter_valid"].to_numpy()[first]
        & ~raw["right_pupil_diameter_valid"].to_numpy()[first]
    )
    assert both_bad.any()
    assert np.all(np.isnan(pupil[both_bad])) and np.all(np.isnan(gaze[both_bad]))
    assert np.all(np.isfinite(pupil[~both_bad]))


def test_button_samples_group_into_presses(train3: Path) -> None:
    samples = read_button_presses(next(train3.glob("*_cs_timestamps.csv")))
    presses = group_presses(samples)
    assert 1 <= len(presses) < samples.size
    inside = [np.diff(samples[(samples >= p.onset) & (samples <= p.release)]) for p in presses]
    assert all(d.size == 0 or d.max() <= 0.5 for d in inside)
    assert all(b.onset - a.release > 0.5 for a, b in zip(presses, presses[1:], strict=False))


def test_button_timestamps_with_stripped_zeros(tmp_path: Path) -> None:
    """Button files write the fraction without trailing zeros: ...26.97 then ...27 then ...27.025."""
    path = tmp_path / "x_cs_timestamps.csv"
    path.write_text("cs_timestamp\n20220205205826942\n2022020520582697\n20220205205827\n20220205205827025\n")
    t = read_button_presses(path, utc_offset_s=3600.0)
    base = pd.Timestamp("2022-02-05 19:58:26.942").value / 1e9
    assert t - base == pytest.approx([0.0, 0.028, 0.058, 0.083], abs=1e-6)


# --- broken copies -----------------------------------------------------------------------------------
def _raises(folder: Path, path: Path, match: str) -> None:
    with pytest.raises(DataFormatError, match=match) as info:
        read_vr_session(folder)
    assert info.value.path == str(path)


def test_truncated_json(train3_copy: Path) -> None:
    path = train3_copy / "Polar_h10/ECG.json"
    path.write_bytes(path.read_bytes()[:50000])
    _raises(train3_copy, path, "not valid JSON")


def test_json_wrong_layout(train3_copy: Path) -> None:
    path = train3_copy / "Empatica/EDA.json"
    path.write_text(json.dumps({"samples": [1, 2, 3]}))
    _raises(train3_copy, path, "wrong layout")


def test_json_null_value_is_a_gap_and_infinity_refused(train3_copy: Path) -> None:
    path = train3_copy / "Empatica/TEMP.json"
    doc = json.loads(path.read_text())
    n = len(doc["data"])
    doc["data"]["10"][0] = None
    path.write_text(json.dumps(doc))
    temp = read_vr_session(train3_copy).streams["temp"]
    assert temp.n_samples == n and int(np.isnan(temp.values).sum()) == 1
    doc["data"]["10"][0] = float("inf")
    path.write_text(json.dumps(doc))
    _raises(train3_copy, path, "infinite")


def test_json_non_monotonic_timestamps(train3_copy: Path) -> None:
    path = train3_copy / "Empatica/BVP.json"
    doc = json.loads(path.read_text())
    doc["data"]["100"][1] = "2022-02-03 10:47:00.000000"
    path.write_text(json.dumps(doc))
    _raises(train3_copy, path, "back in time")


def test_json_wrong_channel_count(train3_copy: Path) -> None:
    shutil.copy(train3_copy / "Empatica/EDA.json", train3_copy / "Empatica/ACC.json")
    _raises(train3_copy, train3_copy / "Empatica/ACC.json", "value")


def test_eyetracking_wrong_header(train3_copy: Path) -> None:
    path = next(train3_copy.glob("*_eyetracking_data.csv"))
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("left_pupil_diameter_value", "left_pupil")
    path.write_text("\n".join(lines) + "\n")
    _raises(train3_copy, path, "left_pupil_diameter_value")


def test_eyetracking_bad_timestamp(train3_copy: Path) -> None:
    path = next(train3_copy.glob("*_eyetracking_data.csv"))
    lines = path.read_text().splitlines()
    lines[20] = "2022-02-03T11:48" + lines[20][20:]
    path.write_text("\n".join(lines) + "\n")
    _raises(train3_copy, path, "YYYYMMDDhhmmss")


def test_button_file_wrong_header(train3_copy: Path) -> None:
    path = next(train3_copy.glob("*_cs_timestamps.csv"))
    path.write_text("time\n20220203114907045000\n")
    _raises(train3_copy, path, "cs_timestamp")


def test_not_a_session_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="contains no"):
        read_vr_session(tmp_path)
    with pytest.raises(DataFormatError, match="not a VR session folder"):
        read_vr_session(tmp_path / "missing")
