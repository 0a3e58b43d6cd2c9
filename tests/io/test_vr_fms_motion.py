"""The vr-fms-motion adapter reads every ride of the 86 people, gaps as NaN, units and names normalised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attunexr.errors import ConfigurationError
from attunexr.io.datasets import VRFmsMotion, get_dataset
from attunexr.io.datasets._vr_fms_motion import normalise_condition


@pytest.fixture(scope="module")
def ds(vr_fms_motion_dir: Path) -> VRFmsMotion:
    d = get_dataset("vr-fms-motion")
    assert isinstance(d, VRFmsMotion)
    return d


def test_every_ride_of_every_person(ds: VRFmsMotion, vr_fms_motion_dir: Path) -> None:
    root = vr_fms_motion_dir.parent
    assert len(ds.subjects(root)) == 86
    sessions = ds.sessions(root)
    assert len(sessions) == 428 == ds.n_sessions(root)
    assert len(set(sessions)) == 428
    assert sum(len(ds.sessions(root, s)) for s in ds.subjects(root)) == 428


def test_gaps_are_nan_not_dropped_files(ds: VRFmsMotion, vr_fms_motion_dir: Path) -> None:
    root = vr_fms_motion_dir.parent
    rec = ds.load_session("PA100_Reverse_Optical_Flow", root)  # empty gyro y/z cells in 100 rows
    imu = rec.streams["head_imu"]
    assert imu.values.shape == (526, 6)
    gaps = np.isnan(imu.values[:, 4])
    assert gaps.sum() == 100 and not np.isnan(imu.values[:, :3]).any()
    assert rec.meta.extra["n_missing_cells"] == 200
    assert rec.meta.extra["condition"] == "rof" and rec.meta.extra["condition_raw"] == "Reverse_Optical_Flow"
    assert len([e for e in rec.events if e.label == "fms"]) == 526
    assert [iv.label for iv in rec.intervals] == ["vr"]
    assert rec.intervals[0].end == pytest.approx(imu.timestamps[419])


def test_angular_velocity_units_are_converted(ds: VRFmsMotion, vr_fms_motion_dir: Path) -> None:
    root = vr_fms_motion_dir.parent
    deg = ds.load_session("PA10_Base_1_32_26_PM", root)
    rad = ds.load_session("PA100_Reverse_Optical_Flow", root)
    assert deg.meta.extra["angular_velocity_unit"] == "deg/s"
    assert rad.meta.extra["angular_velocity_unit"] == "rad/s"
    for rec in (deg, rad):
        w = rec.streams["head_imu"].values[:, 3:]
        speed = np.sqrt(np.nansum(w * w, axis=1))
        assert 0.1 < float(np.median(speed)) < 2.0  # rad/s after conversion, in both files


def test_condition_names_are_normalised(ds: VRFmsMotion, vr_fms_motion_dir: Path) -> None:
    assert normalise_condition("ROF_Foward_WhiteLine") == "rof_forward_whiteline"
    assert normalise_condition("RoF_Original") == normalise_condition("ROF_Original") == "rof_original"
    assert normalise_condition("Reverse_Optical_Flow_Foward_Texture") == "rof_forward_texture"
    assert normalise_condition("Base") == "base"
    info = ds.info(vr_fms_motion_dir.parent)
    assert info["n_sessions"] == 428
    assert sum(info["conditions"].values()) == 428
    assert info["conditions"]["base"] == 113
    assert not any("foward" in c or c.startswith(("ROF", "RoF")) for c in info["conditions"])


def test_participant_metadata_for_subgroups(ds: VRFmsMotion, vr_fms_motion_dir: Path) -> None:
    md = ds.subject_metadata(vr_fms_motion_dir.parent)
    assert len(md) == 86
    assert set(ds.metadata_variables) == {"mssq", "age", "gender"}
    assert all(v["mssq"] is not None and v["age"] is not None for v in md.values())
    assert {v["gender"] for v in md.values()} <= {"m", "f"}
    assert md["PA1"] == {"mssq": 16.0, "age": 22.0, "gender": "f"}


def test_unknown_session_is_a_clear_error(ds: VRFmsMotion, vr_fms_motion_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="no session"):
        ds.load_session("PA999_Base", vr_fms_motion_dir.parent)
