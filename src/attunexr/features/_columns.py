"""Column names of feature rows."""

from __future__ import annotations

__all__ = [
    "CARDIAC_COLUMNS",
    "DEVICE_HR_COLUMNS",
    "EDA_COLUMNS",
    "FEATURE_COLUMNS",
    "GAZE_COLUMNS",
    "HEAD_MOTION_COLUMNS",
    "ID_COLUMNS",
    "MOTION_COLUMNS",
    "QUALITY_COLUMNS",
    "RESP_COLUMNS",
    "TEMP_COLUMNS",
]

#: Identify a row; never use them as model inputs (``t_start``/``t_end`` would encode time since the start).
ID_COLUMNS: tuple[str, ...] = ("dataset", "subject", "session", "t_start", "t_end", "label")

CARDIAC_COLUMNS: tuple[str, ...] = (
    "hr_mean",
    "hr_std",
    "hr_slope",
    "rmssd",
    "sdnn",
    "pnn50",
    "lf",
    "hf",
    "lf_hf",
)
RESP_COLUMNS: tuple[str, ...] = ("resp_rate",)
EDA_COLUMNS: tuple[str, ...] = (
    "scl_mean",
    "scl_slope",
    "scr_rate",
    "scr_amp_mean",
    "eda_phasic_area",
    "eda_phasic_max",
    "eda_dmax",
    "eda_range",
)
TEMP_COLUMNS: tuple[str, ...] = ("temp_mean", "temp_slope", "temp_range")
MOTION_COLUMNS: tuple[str, ...] = (
    "acc_mag_mean",
    "acc_mag_std",
    "acc_activity",
    "head_angular_speed",
    "head_translation_speed",
    "head_freezing",
    "acc_hf",
)
#: Head motion from the headset IMU (or derived from the head pose); see docs/features.md.
HEAD_MOTION_COLUMNS: tuple[str, ...] = (
    "head_ang_speed_mean",
    "head_ang_speed_p90",
    "head_acc_mean",
    "head_acc_std",
    "head_jerk_mean",
    "head_stillness",
    "head_ang_power_slow",
    "head_ang_power_fast",
)
GAZE_COLUMNS: tuple[str, ...] = (
    "pupil_mean",
    "pupil_std",
    "gaze_dispersion",
    "gaze_velocity",
    "gaze_invalid",
)
#: Heart rate as reported by the device itself (``hr`` and ``ibi`` streams), whatever waveform is also present.
DEVICE_HR_COLUMNS: tuple[str, ...] = (
    "device_hr_mean",
    "device_hr_std",
    "device_hr_slope",
    "ibi_hr",
    "ibi_coverage",
)

#: Every feature, in row order. All are floats; NaN means "not measurable in this window".
FEATURE_COLUMNS: tuple[str, ...] = (
    CARDIAC_COLUMNS
    + RESP_COLUMNS
    + EDA_COLUMNS
    + TEMP_COLUMNS
    + MOTION_COLUMNS
    + GAZE_COLUMNS
    + DEVICE_HR_COLUMNS
    + HEAD_MOTION_COLUMNS
)

#: Quality per feature group in [0, 1] (1 = perfect, 0 = absent), the share of the window lost to gaps in the core
#: regular streams (``gap_fraction``: the largest over cardiac waveform, device heart rate, EDA and respiration;
#: 0 = none lost) and the row's overall flag.
QUALITY_COLUMNS: tuple[str, ...] = (
    "q_cardiac",
    "q_resp",
    "q_eda",
    "q_temp",
    "q_motion",
    "q_gaze",
    "gap_fraction",
    "quality_ok",
)
