"""Reader for the VR roller-coaster layout (Yalcin et al. 2024): E4 JSON, Polar H10 ECG JSON, eye tracking, button.

One session folder holds::

    Empatica/{ACC,BVP,EDA,TEMP,HR_EMPATICA,IBI}.json   {"data": {"1": [value, "YYYY-MM-DD HH:MM:SS.ffffff"], ...}}
    Polar_h10/ECG.json                                 same layout, ECG in microvolts at 130 Hz
    <stamp>_eyetracking_data.csv                       ';'-separated Tobii rows, wall clock YYYYMMDDhhmmss[ffffff]
    <stamp>_cs_timestamps.csv                          one column cs_timestamp: "I feel sick" button samples

The JSON timestamps are the times at which each Bluetooth batch reached the PC, so several samples share one.
Sample times are rebuilt from the sample index: a line ``t_i = a + i * p`` is fitted to the lower envelope of the
arrival times (block minima, upper outliers dropped; see :func:`fit_sample_times`) and anchored so that no
sample arrives before it was taken. The eye-tracking wall clock has formatting glitches (digits lost in the
fraction), so eye samples are timed by the headset's microsecond device clock, anchored to the wall clock by the
median offset.

Naive timestamps are converted to Unix UTC with per-source offsets (E4/Polar are usually UTC, eye tracking and
button local time = UTC+1); the dataset adapter decides the offsets per folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from attunexr.errors import DataFormatError
from attunexr.recording import Event, Interval, Recording, RecordingMeta, Stream

__all__ = [
    "ButtonPress",
    "VRSessionFiles",
    "fit_sample_times",
    "group_presses",
    "read_button_presses",
    "read_eyetracking",
    "read_json_signal",
    "read_vr_session",
]

logger = logging.getLogger(__name__)

#: JSON file (relative to the session folder) → stream name, kind, nominal rate (None = irregular), channels, device.
VR_JSON_FILES: dict[str, tuple[str, str, float | None, tuple[str, ...], str]] = {
    "Empatica/BVP.json": ("bvp", "ppg", 64.0, (), "Empatica E4"),
    "Empatica/EDA.json": ("eda", "eda", 4.0, (), "Empatica E4"),
    "Empatica/TEMP.json": ("temp", "temp", 4.0, (), "Empatica E4"),
    "Empatica/ACC.json": ("acc", "acc", 32.0, ("x", "y", "z"), "Empatica E4"),
    "Empatica/HR_EMPATICA.json": ("hr", "hr", None, (), "Empatica E4"),
    "Empatica/IBI.json": ("ibi", "ibi", None, (), "Empatica E4"),
    "Polar_h10/ECG.json": ("ecg", "ecg", 130.0, (), "Polar H10"),
}
_ACC_SCALE = 1.0 / 64.0  # E4 accelerometer counts are 1/64 g
#: Button samples closer than this (s) belong to one press (the button streams every ~13 ms while held).
PRESS_GAP_S = 0.5
_EYE_COLUMNS = (
    "current_timestamp",
    "timestamp_device",
    "left_gazeray_valid",
    "left_gazeray_direction_x",
    "left_gazeray_direction_y",
    "left_gazeray_direction_z",
    "right_gazeray_valid",
    "right_gazeray_direction_x",
    "right_gazeray_direction_y",
    "right_gazeray_direction_z",
    "left_pupil_diameter_valid",
    "left_pupil_diameter_value",
    "right_pupil_diameter_valid",
    "right_pupil_diameter_value",
)


@dataclass(frozen=True)
class ButtonPress:
    """One press of the "I feel sick" button: Unix seconds (UTC) of the first and last sample while held."""

    onset: float
    release: float

    @property
    def duration(self) -> float:
        return self.release - self.onset


@dataclass(frozen=True)
class VRSessionFiles:
    """The files of one session folder (``None`` where absent)."""

    folder: Path
    json_files: dict[str, Path]
    eyetracking: Path | None
    cs_timestamps: Path | None

    @classmethod
    def find(cls, folder: str | Path) -> VRSessionFiles:
        folder = Path(folder)
        if not folder.is_dir():
            raise DataFormatError(
                folder, "is not a VR session folder (Empatica/, Polar_h10/, eye tracking CSV)"
            )
        found = {rel: folder / rel for rel in VR_JSON_FILES if (folder / rel).is_file()}
        eye = sorted(folder.glob("*_eyetracking_data.csv"))
        cs = sorted(folder.glob("*_cs_timestamps.csv"))
        for what, lst in (("eye-tracking", eye), ("cs_timestamps", cs)):
            if len(lst) > 1:
                raise DataFormatError(folder, f"holds {len(lst)} {what} files; expected one")
        return cls(folder, found, eye[0] if eye else None, cs[0] if cs else None)


# --- timestamps --------------------------------------------------------------------------------------
def _naive_to_unix(values: list[str] | pd.Series, path: Path, fmt: str) -> NDArray[np.float64]:
    try:
        ts = pd.to_datetime(pd.Series(values, dtype="string"), format=fmt)
    except (ValueError, TypeError) as err:
        raise DataFormatError(path, f"timestamp not in the expected format {fmt!r}: {err}") from err
    if ts.isna().any():
        bad = int(np.argmax(ts.isna().to_numpy()))
        raise DataFormatError(path, f"missing timestamp at entry {bad + 1}")
    out: NDArray[np.float64] = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
    return out


def _compact_to_unix(values: pd.Series, path: Path) -> NDArray[np.float64]:
    """``YYYYMMDDhhmmss`` followed by 0..6 fraction digits whose trailing zeros may be missing → naive Unix s."""
    s = values.astype("string").str.strip()
    if s.isna().any() or not s.str.fullmatch(r"\d{14,20}").all():
        bad = s[s.isna() | ~s.str.fullmatch(r"\d{14,20}").fillna(False)].iloc[0]
        raise DataFormatError(path, f"timestamp {bad!r} is not YYYYMMDDhhmmss followed by fraction digits")
    padded = s.str.pad(20, side="right", fillchar="0")
    return _naive_to_unix(padded, path, "%Y%m%d%H%M%S%f")


def fit_sample_times(
    arrival: NDArray[np.float64], nominal_rate: float, block_s: float = 2.0, max_rate_error: float = 0.02
) -> tuple[NDArray[np.float64], float]:
    """Sample times of a regularly sampled stream from batch-arrival times.

    Arrival = sampling time + a non-negative transport delay, so the lower envelope of ``arrival_i`` versus the
    index ``i`` follows the sampling clock. The minimum of each block of ``block_s`` seconds is taken, a line is
    fitted by least squares, points more than 20 ms above it are dropped and the line refitted; the intercept is
    then lowered so that every sample arrives at or after its time. When fewer than three blocks exist or the
    fitted rate is more than ``max_rate_error`` from the nominal rate, the nominal rate is used instead.

    Returns the sample times and the effective rate (samples per second of the receiving clock).
    """
    n = arrival.shape[0]
    idx = np.arange(n, dtype=np.float64)
    period = 1.0 / nominal_rate
    size = max(int(round(block_s * nominal_rate)), 1)
    if n >= 3 * size:
        starts = np.arange(0, n - size + 1, size)
        offs = arrival - idx * period
        picks = np.array([s + int(np.argmin(offs[s : s + size])) for s in starts])
        x, y = idx[picks], arrival[picks]
        keep = np.ones(x.shape, dtype=bool)
        slope, icpt = period, 0.0
        for _ in range(3):
            slope, icpt = np.polyfit(x[keep], y[keep], 1)
            resid = y - (icpt + slope * x)
            new_keep = resid < 0.02
            if new_keep.sum() < 3 or np.array_equal(new_keep, keep):
                break
            keep = new_keep
        if abs(slope * nominal_rate - 1.0) <= max_rate_error:
            period = float(slope)
    anchor = float(np.min(arrival - idx * period))
    return anchor + idx * period, 1.0 / period


# --- JSON signals ------------------------------------------------------------------------------------
def read_json_signal(
    path: str | Path, utc_offset_s: float = 0.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Values and arrival times (Unix UTC = naive time − ``utc_offset_s``) of a ``{"data": {...}}`` file.

    Entries are ordered by their integer key; values are numbers or ``[x, y, z]`` lists.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as err:  # also UnicodeDecodeError and numbers Python will not convert
        raise DataFormatError(path, f"not valid JSON (truncated?): {err}") from err
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise DataFormatError(path, 'wrong layout: expected {"data": {"1": [value, "timestamp"], ...}}')
    if not data:
        raise DataFormatError(path, "no samples")
    try:
        keys = sorted(data, key=int)
    except ValueError as err:
        raise DataFormatError(path, f"sample keys must be integers: {err}") from err
    entries = [data[k] for k in keys]
    if not all(isinstance(e, list) and len(e) == 2 and isinstance(e[1], str) for e in entries):
        bad = next(k for k, e in zip(keys, entries, strict=True) if not (isinstance(e, list) and len(e) == 2))
        raise DataFormatError(path, f"entry {bad!r} is not [value, timestamp]")
    try:
        values = np.asarray([e[0] for e in entries], dtype=np.float64)
    except (ValueError, TypeError, OverflowError) as err:
        raise DataFormatError(path, f"non-numeric or ragged sample values: {err}") from err
    if np.isinf(values).any():
        bad = int(np.argmax(np.isinf(values).reshape(len(values), -1).any(axis=1)))
        raise DataFormatError(path, f"infinite value at entry {keys[bad]!r}")
    # NaN (null) samples are gaps: features skip them and the quality layer decides
    times = _naive_to_unix([e[1] for e in entries], path, "ISO8601") - utc_offset_s
    if np.any(np.diff(times) < 0):
        bad = int(np.argmax(np.diff(times) < 0)) + 1
        raise DataFormatError(path, f"timestamps go back in time at entry {keys[bad]!r}")
    return values, times


# --- eye tracking ------------------------------------------------------------------------------------
def read_eyetracking(
    path: str | Path, utc_offset_s: float = 3600.0
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Unix times (UTC), combined gaze direction ``(n, 3)`` and pupil diameter (mm) from a Tobii CSV.

    Rows without a device timestamp and repeated device frames are dropped. Gaze: mean of the valid eyes'
    direction vectors, renormalised; pupil: mean of the valid eyes' diameters; NaN where no eye is valid.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, sep=";", engine="c", dtype={"current_timestamp": "string"})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"cannot be parsed as a ';'-separated eye-tracking CSV: {err}") from err
    missing = [c for c in _EYE_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(path, f"wrong header: missing columns {missing}")
    if df.empty:
        raise DataFormatError(path, "no eye-tracking samples")
    df = df.dropna(subset=["current_timestamp", "timestamp_device"])
    device = _to_numbers(df["timestamp_device"], path).to_numpy(dtype=np.float64)
    ok = np.isfinite(device) & (device > 0)
    df, device = df[ok], device[ok] / 1e6
    if device.size < 2:
        raise DataFormatError(path, "fewer than two rows with a device timestamp")
    if np.any(np.diff(device) < 0):
        bad = int(np.argmax(np.diff(device) < 0)) + 2
        raise DataFormatError(path, f"timestamp_device goes back in time near data row {bad}")
    wall = _compact_to_unix(df["current_timestamp"], path) - utc_offset_s
    first = np.r_[True, np.diff(device) > 0]
    df, device, wall = df[first], device[first], wall[first]
    times = device + float(np.median(wall - device))

    def eye(side: str, what: str, cols: list[str]) -> NDArray[np.float64]:
        vals: NDArray[np.float64] = (
            df[[f"{side}_{c}" for c in cols]]
            .apply(_to_numbers, path=path)
            .to_numpy(dtype=np.float64, copy=True)
        )
        valid = df[f"{side}_{what}_valid"].astype(str).str.lower().eq("true").to_numpy()
        vals[~valid] = np.nan
        return vals

    dirs = ["gazeray_direction_x", "gazeray_direction_y", "gazeray_direction_z"]
    gaze = _mean_valid(eye("left", "gazeray", dirs), eye("right", "gazeray", dirs))
    norm = np.linalg.norm(gaze, axis=1, keepdims=True)
    gaze = np.divide(gaze, norm, out=np.full_like(gaze, np.nan), where=norm > 0)
    left = eye("left", "pupil_diameter", ["pupil_diameter_value"])
    right = eye("right", "pupil_diameter", ["pupil_diameter_value"])
    left[~(left > 0)] = np.nan
    right[~(right > 0)] = np.nan
    pupil = _mean_valid(left, right)[:, 0]
    return times, gaze, pupil


def _to_numbers(column: pd.Series, path: Path) -> pd.Series:
    """Numbers of a CSV column, NaN where a cell is not a number; integers beyond float64 are a format error
    (``pd.to_numeric(errors="coerce")`` raises OverflowError for them instead of coercing)."""
    try:
        return pd.to_numeric(column, errors="coerce")
    except OverflowError as err:
        raise DataFormatError(path, f"column {column.name!r} holds a number out of range: {err}") from err


def _mean_valid(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Element-wise mean of the non-NaN values of ``a`` and ``b`` (NaN where both are NaN)."""
    count = (~np.isnan(a)).astype(np.float64) + (~np.isnan(b)).astype(np.float64)
    total = np.nan_to_num(a) + np.nan_to_num(b)
    out: NDArray[np.float64] = np.divide(total, count, out=np.full_like(total, np.nan), where=count > 0)
    return out


# --- button ------------------------------------------------------------------------------------------
def read_button_presses(path: str | Path, utc_offset_s: float = 3600.0) -> NDArray[np.float64]:
    """Sorted Unix times (UTC) of the button samples in a ``*_cs_timestamps.csv`` (may be empty)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8").strip().splitlines()
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"is not UTF-8 text ({err.reason} at byte {err.start})") from err
    if not text or text[0].strip() != "cs_timestamp":
        raise DataFormatError(path, "wrong header: the first row must be 'cs_timestamp'")
    rows = pd.Series([r.strip() for r in text[1:] if r.strip()], dtype="string")
    if rows.empty:
        return np.empty(0, dtype=np.float64)
    return np.sort(_compact_to_unix(rows, path) - utc_offset_s)


def group_presses(samples: NDArray[np.float64], gap: float = PRESS_GAP_S) -> list[ButtonPress]:
    """Runs of button samples separated by less than ``gap`` seconds become one press."""
    if samples.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(samples) > gap)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, samples.size - 1]
    return [ButtonPress(float(samples[a]), float(samples[b])) for a, b in zip(starts, ends, strict=True)]


# --- the session -------------------------------------------------------------------------------------
def read_vr_session(
    folder: str | Path,
    subject: str | None = None,
    dataset: str = "",
    physio_utc_offset_s: float = 0.0,
    local_utc_offset_s: float = 3600.0,
) -> Recording:
    """Read one VR session folder into a :class:`Recording` on one clock.

    Parameters
    ----------
    folder
        The session folder (see the module docstring for its layout).
    physio_utc_offset_s
        Offset of the naive E4/Polar timestamps from UTC (0 when they are UTC, 3600 when local CET).
    local_utc_offset_s
        Offset of the eye-tracking and button timestamps from UTC (3600 for CET).

    Clock zero (``meta.start_time``, Unix UTC) is the earliest sample of any stream. The ride is the span of the
    eye-tracking data: interval ``vr``. Every button press gives an event ``sick_button`` at its onset with the
    hold duration as value; ``meta.extra["presses"]`` lists (onset, release) on the recording clock.
    """
    files = VRSessionFiles.find(folder)
    if not files.json_files and files.eyetracking is None:
        raise DataFormatError(
            files.folder, "contains no Empatica/*.json, Polar_h10/ECG.json or eye-tracking CSV"
        )
    absolute: list[
        tuple[str, str, NDArray[np.float64], NDArray[np.float64], float | None, dict[str, object]]
    ] = []
    channels_of: dict[str, tuple[str, ...]] = {}
    device_of: dict[str, str] = {}
    for rel, path in files.json_files.items():
        name, kind, rate, channels, device = VR_JSON_FILES[rel]
        values, arrival = read_json_signal(path, physio_utc_offset_s)
        expected = len(channels) or 1
        got = 1 if values.ndim == 1 else values.shape[1]
        if got != expected:
            raise DataFormatError(path, f"samples have {got} value(s), a {name} sample has {expected}")
        extra: dict[str, object] = {"source": str(path.relative_to(files.folder))}
        if kind == "acc":
            values = values * _ACC_SCALE
        if rate is None:
            times = arrival
        else:
            times, effective = fit_sample_times(arrival, rate)
            extra["effective_rate"] = effective
            extra["max_arrival_delay_s"] = float(np.max(arrival - times))
        absolute.append((name, kind, times, values, rate, extra))
        channels_of[name], device_of[name] = channels, device
    ride: tuple[float, float] | None = None
    if files.eyetracking is not None:
        times, gaze, pupil = read_eyetracking(files.eyetracking, local_utc_offset_s)
        src = {"source": files.eyetracking.name}
        absolute.append(("gaze", "gaze", times, gaze, None, dict(src)))
        absolute.append(("pupil", "pupil", times, pupil, None, dict(src)))
        channels_of["gaze"], channels_of["pupil"] = ("x", "y", "z"), ()
        device_of["gaze"] = device_of["pupil"] = "Pico Neo 2 Eye (Tobii)"
        ride = (float(times[0]), float(times[-1]))
    t0 = min(float(t[0]) for _, _, t, _, _, _ in absolute)
    rec = Recording(RecordingMeta(subject=subject or files.folder.name, dataset=dataset, start_time=t0))
    for name, kind, times, values, rate, extra in absolute:
        rec.add_stream(
            Stream(
                name,
                kind,
                values,
                times - t0,
                rate=rate,
                channels=channels_of[name],
                device=device_of[name],
                extra=extra,
            )
        )
    presses = (
        group_presses(read_button_presses(files.cs_timestamps, local_utc_offset_s))
        if files.cs_timestamps is not None
        else []
    )
    for p in presses:
        rec.events.append(Event(p.onset - t0, "sick_button", p.duration))
    if ride is not None:
        rec.intervals.append(Interval(ride[0] - t0, ride[1] - ride[0], "vr"))
    rec.meta.extra.update(
        {
            "presses": [(p.onset - t0, p.release - t0) for p in presses],
            "ride": None if ride is None else (ride[0] - t0, ride[1] - t0),
            "physio_utc_offset_s": physio_utc_offset_s,
            "local_utc_offset_s": local_utc_offset_s,
            "has_button_file": files.cs_timestamps is not None,
        }
    )
    return rec
