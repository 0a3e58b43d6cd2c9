"""extract(): columns, grid, labels, gaps and quality, no time-since-start features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import attunexr.features as features
from attunexr.errors import ConfigurationError, SignalError
from attunexr.features import FEATURE_COLUMNS, ID_COLUMNS, QUALITY_COLUMNS, extract, extract_many
from attunexr.recording import Recording, RecordingMeta, Stream


def test_public_api() -> None:
    groups = {"CARDIAC_COLUMNS", "DEVICE_HR_COLUMNS", "EDA_COLUMNS", "GAZE_COLUMNS", "HEAD_MOTION_COLUMNS",
              "MOTION_COLUMNS", "RESP_COLUMNS", "TEMP_COLUMNS"}
    assert set(features.__all__) == groups | {
        "FEATURE_COLUMNS",
        "ID_COLUMNS",
        "QUALITY_COLUMNS",
        "CUE_RESPONSE_MEASURES",
        "Cue",
        "CueResponse",
        "CueRules",
        "FeatureStream",
        "LiveCueScorer",
        "cues_from_recording",
        "extract",
        "extract_many",
        "score_cue",
        "score_cues",
    }
    assert not set(FEATURE_COLUMNS) & set(ID_COLUMNS)
    for group in groups:  # every signal group's columns are feature columns
        assert set(getattr(features, group)) <= set(FEATURE_COLUMNS), group
    assert not any(c in FEATURE_COLUMNS for c in ("t_start", "t_end", "time", "elapsed"))


def test_columns_grid_and_labels(stress_recording: Recording) -> None:
    df = extract(stress_recording, window=60.0, hop=10.0)
    assert list(df.columns) == list(ID_COLUMNS) + list(FEATURE_COLUMNS) + list(QUALITY_COLUMNS)
    assert np.allclose(df["t_end"] - df["t_start"], 60.0)
    assert np.allclose(np.diff(df["t_end"]), 10.0)
    assert df["t_end"].iloc[0] == 60.0
    assert df["label"].notna().any()
    for t0, t1, label in df[["t_start", "t_end", "label"]].itertuples(index=False):
        assert label == stress_recording.window_label(t0, t1)
    for q in QUALITY_COLUMNS[:-1]:
        assert df[q].between(0.0, 1.0).all()
    assert df["quality_ok"].dtype == bool
    plausible = df[df["q_cardiac"] > 0.5]
    assert plausible["hr_mean"].between(40, 180).all()
    assert df["temp_mean"].between(25, 40).all()
    assert df["acc_mag_mean"].between(0.8, 1.3).all()


def test_features_do_not_depend_on_the_clock_origin(stress_recording: Recording) -> None:
    """Shifting the whole recording (and the grid) in time changes no feature: nothing encodes elapsed time."""
    rec = stress_recording.crop(0.0, 300.0)
    shifted = Recording(rec.meta, {n: s.shifted(1000.0) for n, s in rec.streams.items()})
    a = extract(rec, 60.0, 30.0)
    b = extract(shifted, 60.0, 30.0, origin=1000.0)
    assert len(a) == len(b)
    cols = list(FEATURE_COLUMNS) + list(QUALITY_COLUMNS[:-1])
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), rtol=1e-6, equal_nan=True)


def test_sensor_gap_gives_nan_and_low_quality_never_zeros(stress_recording: Recording) -> None:
    rec = stress_recording.crop(0.0, 600.0)
    gap = (200.0, 330.0)
    streams = {}
    for name, s in rec.streams.items():
        keep = (s.timestamps < gap[0]) | (s.timestamps >= gap[1])
        streams[name] = Stream(name, s.kind, s.values[keep], s.timestamps[keep], s.rate, channels=s.channels)
    df = extract(Recording(rec.meta, streams), 60.0, 10.0)
    inside = df[(df["t_start"] >= gap[0]) & (df["t_end"] <= gap[1])]
    assert len(inside) >= 6
    for col in ("hr_mean", "rmssd", "scl_mean", "scr_rate", "temp_mean", "acc_mag_mean"):
        assert inside[col].isna().all(), col
    assert (inside[["q_cardiac", "q_eda", "q_temp", "q_motion"]] == 0.0).all().all()
    assert not inside["quality_ok"].any()
    partial = df[(df["t_start"] < gap[0]) & (df["t_end"] > gap[0] + 15)]
    full = df[df["t_end"] <= gap[0]]
    assert partial["q_eda"].max() < full["q_eda"].min()


def test_nan_samples_count_as_missing(stress_recording: Recording) -> None:
    rec = stress_recording.crop(0.0, 180.0)
    eda = rec.streams["eda"]
    values = eda.values.copy()
    values[(eda.timestamps >= 60) & (eda.timestamps < 90)] = np.nan
    streams = dict(rec.streams)
    streams["eda"] = Stream("eda", "eda", values, eda.timestamps, eda.rate)
    df = extract(Recording(rec.meta, streams), 60.0, 60.0)
    assert np.isclose(df.loc[df["t_end"] == 120.0, "q_eda"].iloc[0], 0.5, atol=0.02)
    assert np.isfinite(df["scl_mean"]).all()


def test_bad_parameters_and_empty_recordings() -> None:
    rec = Recording(RecordingMeta("x"), {"hr": Stream.regular("hr", "hr", np.full(300, 70.0), 1.0)})
    with pytest.raises(ConfigurationError, match="window"):
        extract(rec, window=0)
    with pytest.raises(ConfigurationError, match="hop"):
        extract(rec, hop=-1)
    df = extract(rec, 60.0, 60.0)
    assert np.allclose(df["hr_mean"], 70.0) and df["rmssd"].isna().all()
    with pytest.raises(SignalError, match="no stream"):
        extract(Recording(RecordingMeta("y")))
    with pytest.raises(SignalError, match="sampling rate"):
        extract(Recording(RecordingMeta("z"), {"e": Stream("e", "eda", np.ones(5), np.arange(5.0))}))


def test_extract_many_concatenates(stress_recording: Recording, vr_recording: Recording) -> None:
    recs = [stress_recording.crop(0, 240), vr_recording]
    df = extract_many(recs, 60.0, 30.0, progress=False)
    assert set(df["dataset"]) == {"stress-predict", "vr-cybersickness"}
    assert len(df) == sum(len(extract(r, 60.0, 30.0)) for r in recs)
    parallel = extract_many(recs, 60.0, 30.0, n_jobs=2, progress=False)
    cols = list(FEATURE_COLUMNS)
    np.testing.assert_array_equal(parallel[cols].to_numpy(float), df[cols].to_numpy(float))


def test_recording_shorter_than_a_window_keeps_column_types(stress_recording: Recording) -> None:
    """A recording with no complete window gives a typed empty table; concatenating it keeps floats floats.

    (With object columns, pandas 3 turned every concatenated feature column into ``object`` and ``np.isfinite``
    failed in the NeuroKit2 benchmark.)
    """
    short = stress_recording.crop(0, 30)
    empty = extract(short, 60.0, 10.0)
    assert len(empty) == 0 and list(empty.columns) == list(ID_COLUMNS + FEATURE_COLUMNS + QUALITY_COLUMNS)
    full = extract(stress_recording.crop(0, 180), 60.0, 10.0)
    assert (empty.dtypes == full.dtypes).all()
    both = pd.concat([full, empty], ignore_index=True)
    assert (both.dtypes == full.dtypes).all()
    assert np.isfinite(both["hr_mean"].to_numpy()).any()
    many = extract_many([short, stress_recording.crop(0, 180)], 60.0, 10.0, progress=False)
    assert (many.dtypes == full.dtypes).all() and len(many) == len(full)
    assert (extract_many([short], 60.0, 10.0, progress=False).dtypes == full.dtypes).all()
