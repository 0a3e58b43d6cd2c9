"""Which base features come from which signal group, and which groups a feature table actually has."""

from __future__ import annotations

import numpy as np
import pandas as pd

from attunexr.features import (
    CARDIAC_COLUMNS,
    DEVICE_HR_COLUMNS,
    EDA_COLUMNS,
    GAZE_COLUMNS,
    HEAD_MOTION_COLUMNS,
    MOTION_COLUMNS,
    RESP_COLUMNS,
    TEMP_COLUMNS,
)

__all__ = ["SIGNAL_GROUPS", "available_features", "describe", "group_columns", "group_of", "missing_groups"]

#: signal group -> its feature columns, as named by :mod:`attunexr.features`.
SIGNAL_GROUPS: dict[str, tuple[str, ...]] = {
    "cardiac": CARDIAC_COLUMNS,
    "resp": RESP_COLUMNS,
    "eda": EDA_COLUMNS,
    "temp": TEMP_COLUMNS,
    "motion": MOTION_COLUMNS,
    "gaze": GAZE_COLUMNS,
    "device_hr": DEVICE_HR_COLUMNS,
    "head_motion": HEAD_MOTION_COLUMNS,
}
_DESCRIBE = {
    "cardiac": "cardiac (ECG, PPG or heart rate)",
    "resp": "respiration",
    "eda": "electrodermal activity (EDA)",
    "temp": "skin temperature",
    "motion": "motion (accelerometer or head pose)",
    "gaze": "eye tracking (gaze/pupil)",
    "device_hr": "heart rate reported by the device (HR/IBI streams)",
    "head_motion": "head motion from the headset (IMU or head pose)",
}

#: A feature counts as available when it is finite in at least this share of windows.
MIN_AVAILABLE = 0.1


def group_columns(group: str) -> tuple[str, ...]:
    """Feature columns of a signal group, as named by :mod:`attunexr.features`."""
    return SIGNAL_GROUPS[group]


def group_of(feature: str) -> str:
    """The signal group of a base feature (``"other"`` if none claims it)."""
    for g in SIGNAL_GROUPS:
        if feature in group_columns(g):
            return g
    return "other"


def available_features(table: pd.DataFrame, columns: list[str]) -> list[str]:
    """Columns of ``columns`` that are finite in at least :data:`MIN_AVAILABLE` of the rows."""
    out = []
    for c in columns:
        if c in table.columns and len(table):
            frac = float(np.isfinite(pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float)).mean())
            if frac >= MIN_AVAILABLE:
                out.append(c)
    return out


def describe(group: str) -> str:
    """A readable name of a signal group."""
    return _DESCRIBE.get(group, group)


def missing_groups(table: pd.DataFrame, needed: list[str]) -> tuple[list[str], list[str]]:
    """Signal groups the model needs of which the table has no feature at all, and single missing features.

    Returns ``(missing_groups, missing_features_in_present_groups)``.
    """
    have = set(available_features(table, needed))
    by_group: dict[str, list[str]] = {}
    for f in needed:
        by_group.setdefault(group_of(f), []).append(f)
    gone = [g for g, fs in by_group.items() if not any(f in have for f in fs)]
    partial = [f for g, fs in by_group.items() if g not in gone for f in fs if f not in have]
    return gone, partial
