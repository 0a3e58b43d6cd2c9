"""Device heart rate (HR/IBI streams), extra EDA, temperature and motion features of a window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attunexr.features import DEVICE_HR_COLUMNS, FEATURE_COLUMNS, extract
from attunexr.features._columns import EDA_COLUMNS, HEAD_MOTION_COLUMNS, MOTION_COLUMNS, TEMP_COLUMNS
from attunexr.models._signals import describe, group_columns, group_of
from attunexr.recording import Recording, RecordingMeta, Stream

NEW = (
    "eda_phasic_area",
    "eda_phasic_max",
    "eda_dmax",
    "eda_range",
    "temp_range",
    "acc_hf",
    *DEVICE_HR_COLUMNS,
)


def _ibi_recording(rr: float, n: int, t_first: float) -> Recording:
    """An IBI stream of ``n`` constant intervals ``rr`` (beat times from ``t_first``) plus 1 Hz temperature."""
    beats = t_first + rr * np.arange(n)
    temp = Stream.regular("temp", "temp", np.full(120 * 4, 33.0), 4.0)
    return Recording(
        RecordingMeta("synthetic"), {"ibi": Stream("ibi", "ibi", np.full(n, rr), beats), "temp": temp}
    )


@pytest.fixture(scope="module")
def stress_rows(stress_recording: Recording) -> pd.DataFrame:
    return extract(stress_recording, window=60.0, hop=10.0)


def test_columns_appended_without_reordering() -> None:
    n_head = len(HEAD_MOTION_COLUMNS)
    assert FEATURE_COLUMNS[-n_head:] == HEAD_MOTION_COLUMNS
    assert FEATURE_COLUMNS[-len(DEVICE_HR_COLUMNS) - n_head : -n_head] == DEVICE_HR_COLUMNS
    assert EDA_COLUMNS[:4] == ("scl_mean", "scl_slope", "scr_rate", "scr_amp_mean")
    assert EDA_COLUMNS[4:] == ("eda_phasic_area", "eda_phasic_max", "eda_dmax", "eda_range")
    assert TEMP_COLUMNS == ("temp_mean", "temp_slope", "temp_range")
    assert MOTION_COLUMNS[-1] == "acc_hf"
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS)
    assert group_columns("device_hr") == DEVICE_HR_COLUMNS
    assert group_of("ibi_coverage") == "device_hr" and group_of("eda_range") == "eda"
    assert describe("device_hr") == "heart rate reported by the device (HR/IBI streams)"


def test_stress_predict_new_features_plausible(stress_rows: pd.DataFrame) -> None:
    """Real E4 data (BVP present, so hr_mean is PPG-derived): device HR is computed anyway and agrees."""
    df = stress_rows
    assert len(df) > 100
    for col in NEW:
        assert df[col].notna().mean() > 0.8, col
    assert df["device_hr_mean"].dropna().between(40.0, 160.0).all()
    assert df["device_hr_std"].dropna().ge(0.0).all()
    both = df[["device_hr_mean", "hr_mean"]].dropna()
    assert len(both) > 0.8 * len(df)
    assert float((both["device_hr_mean"] - both["hr_mean"]).abs().median()) < 10.0
    assert df["ibi_hr"].dropna().between(40.0, 160.0).all()
    assert df["ibi_coverage"].between(0.0, 1.05).all()  # never NaN: the IBI stream starts at 19 s
    assert (df["eda_range"] >= 0).all() and (df["temp_range"] >= 0).all() and (df["acc_hf"] >= 0).all()
    assert (df["eda_phasic_max"].clip(lower=0.0) >= df["eda_phasic_area"] - 1e-12).all()
    assert (df["eda_dmax"] >= 0).all()
    # wrist movement exists in a 20-minute protocol, and the high-passed magnitude is small next to 1 g
    assert df["acc_hf"].max() > 1e-3 and df["acc_hf"].median() < 0.2


def test_constant_ibi_gives_75_bpm_and_full_coverage() -> None:
    df = extract(_ibi_recording(0.8, 150, t_first=0.4), window=60.0, hop=30.0)
    first = df.iloc[0]
    assert first["t_end"] == 60.0
    assert first["ibi_hr"] == pytest.approx(75.0, abs=1e-9)
    assert first["ibi_coverage"] == pytest.approx(1.0, abs=0.02)
    assert np.isnan(first["device_hr_mean"])  # no hr stream


def test_ibi_coverage_zero_without_beats_nan_without_stream() -> None:
    # beats only during the first 40 s; the window [60, 120) has the stream but no beat
    df = extract(_ibi_recording(0.8, 50, t_first=0.4), window=60.0, hop=60.0).set_index("t_end")
    assert df.loc[120.0, "ibi_coverage"] == 0.0
    assert np.isnan(df.loc[120.0, "ibi_hr"])
    assert df.loc[60.0, "ibi_coverage"] == pytest.approx(50 * 0.8 / 60.0)
    t = np.arange(0.0, 120.0, 0.25)
    no_ibi = Recording(RecordingMeta("x"), {"temp": Stream("temp", "temp", np.full(t.size, 33.0), t, 4.0)})
    out = extract(no_ibi, window=60.0, hop=60.0)
    assert out["ibi_coverage"].isna().all() and out["ibi_hr"].isna().all()


def test_too_few_ibi_gives_nan_ibi_hr() -> None:
    df = extract(_ibi_recording(0.8, 9, t_first=10.0), window=60.0, hop=60.0)
    assert np.isnan(df.iloc[0]["ibi_hr"])
    assert df.iloc[0]["ibi_coverage"] == pytest.approx(9 * 0.8 / 60.0)


def test_device_hr_needs_20_plausible_samples() -> None:
    hr = np.full(60, 72.0)
    hr[:45] = 0.0  # implausible readings (E4 reports 0 before it locks on); 15 plausible remain in [0, 60)
    t = np.arange(60.0)
    rec = Recording(RecordingMeta("x"), {"hr": Stream("hr", "hr", hr, t, 1.0)})
    row = extract(rec, window=60.0, hop=60.0).iloc[0]
    assert (
        np.isnan(row["device_hr_mean"])
        and np.isnan(row["device_hr_std"])
        and np.isnan(row["device_hr_slope"])
    )
    assert np.isnan(row["ibi_coverage"])
    sparse = Recording(
        RecordingMeta("x"), {"hr": Stream("hr", "hr", np.full(19, 72.0), 3.5 * np.arange(19), None)}
    )
    assert np.isnan(extract(sparse, window=60.0, hop=60.0).iloc[0]["device_hr_mean"])
    enough = Recording(
        RecordingMeta("x"), {"hr": Stream("hr", "hr", np.full(21, 72.0), 3.0 * np.arange(21), None)}
    )
    assert extract(enough, window=60.0, hop=60.0).iloc[0]["device_hr_mean"] == 72.0  # 20 samples in [0, 60)


def test_device_hr_mean_std_slope() -> None:
    t = np.arange(120.0)
    hr = 60.0 + 0.5 * t  # +30 bpm per minute
    hr[10] = 250.0  # implausible, ignored
    rec = Recording(RecordingMeta("x"), {"hr": Stream("hr", "hr", hr, t, 1.0)})
    row = extract(rec, window=60.0, hop=60.0).iloc[0]
    ok = np.r_[hr[:10], hr[11:60]]
    assert row["device_hr_mean"] == pytest.approx(ok.mean())
    assert row["device_hr_std"] == pytest.approx(ok.std(ddof=1))
    assert row["device_hr_slope"] == pytest.approx(30.0)


def test_eda_temp_and_acc_hf_synthetic() -> None:
    rate_eda, rate_acc = 4.0, 32.0
    t_eda = np.arange(0.0, 60.0, 1.0 / rate_eda)
    eda = 2.0 + 0.01 * t_eda
    eda[100] += 0.5  # one jump of 0.5 uS (+ the 0.0025 uS ramp step) between samples 99 and 100
    temp = 32.0 + 0.02 * t_eda
    t_acc = np.arange(0.0, 60.0, 1.0 / rate_acc)
    amp = 0.1
    acc = np.column_stack(
        [np.zeros_like(t_acc), np.zeros_like(t_acc), 2.0 + amp * np.sin(2 * np.pi * 5.0 * t_acc)]
    )
    streams = {
        "eda": Stream("eda", "eda", eda, t_eda, rate_eda),
        "temp": Stream("temp", "temp", temp, t_eda, rate_eda),
        "acc": Stream("acc", "acc", acc, t_acc, rate_acc),
    }
    row = extract(Recording(RecordingMeta("x"), streams), window=60.0, hop=60.0).iloc[0]
    assert row["eda_range"] == pytest.approx(eda.max() - eda.min())
    assert row["eda_dmax"] == pytest.approx((0.5 + 0.01 / rate_eda) * rate_eda)
    assert row["eda_phasic_max"] > 0.1  # the step shows up as a phasic response
    assert 0.0 < row["eda_phasic_area"] < row["eda_phasic_max"]
    assert row["temp_range"] == pytest.approx(temp.max() - temp.min())
    # 5 Hz is far above the 1 Hz cut-off: mean |amp sin| = 2 amp / pi; the 2 g offset is removed
    assert row["acc_hf"] == pytest.approx(2.0 * amp / np.pi, rel=0.05)

    still = dict(
        streams, acc=Stream("acc", "acc", np.column_stack([0 * t_acc, 0 * t_acc, 1 + 0 * t_acc]), t_acc, 32.0)
    )
    assert extract(Recording(RecordingMeta("x"), still), 60.0, 60.0).iloc[0]["acc_hf"] == pytest.approx(
        0.0, abs=1e-9
    )
    no_rate = dict(streams, acc=Stream("acc", "acc", acc, t_acc, None))
    assert np.isnan(extract(Recording(RecordingMeta("x"), no_rate), 60.0, 60.0).iloc[0]["acc_hf"])
