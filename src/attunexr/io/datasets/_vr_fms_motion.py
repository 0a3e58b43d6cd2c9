"""VR FMS motion dataset (2025): 86 people, 428 four-minute VR rides, FMS every 0.5 s, head IMU at ~2 Hz.

Origin: github.com/pvtryan1024/2025_Cybersickness_dataset (MIT), the data behind "Predicting Cybersickness Trend
and Extent Based on FMS Labeled Dataset". One CSV per ride, ``raw/PA<participant>_<condition>[_h_m_s_AM|PM].csv``,
no header: time (s), FMS (0-20), head acceleration x/y/z, head angular velocity x/y/z, gender, MSSQ, age.

What the adapter does, and why:

- **Every file is read.** Empty cells (81 files, mostly angular velocity y/z and the participant columns) are gaps:
  the IMU sample becomes NaN (dropped by the feature pipeline) and the FMS answer of that row is missing; no file is
  dropped.
- **Angular velocity units differ between files.** In 371 files the median angular speed over the ride is ~26
  (degrees per second), in the other 57 it is ~0.5 (radians per second; all 57 are among the files with gaps, an
  older logger). Nothing lies in between (no file has a median between 2 and 10), so a file whose median angular
  speed exceeds :data:`DEG_PER_S_ABOVE` is converted from deg/s to rad/s. ``meta.extra["angular_velocity_unit"]``
  records the unit found. Acceleration looks like gravity-free linear acceleration in m/s^2 (median magnitude
  ~1.4) and is left as is.
- **Condition names are normalised** (:func:`normalise_condition`): ``ROF``/``RoF``/``Reverse_Optical_Flow`` ->
  ``rof``, ``Foward`` -> ``forward``, lower case with underscores; the raw name stays in ``condition_raw``.
- **The ride:** the original README advises cutting at row 420, where the visual motion stops (~213 s). The
  ``vr`` interval covers the rows up to there; the rest of the file stays in the streams but outside ``vr``.
- **Sessions:** a participant may have ridden up to 14 times (different conditions). :meth:`sessions` lists every
  ride; :meth:`load_session` reads one; :meth:`load` reads a participant's first ride (by file-name clock time;
  the files carry no date, so "first" is the earliest clock time).
"""

from __future__ import annotations

import functools
import logging
import math
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.io.datasets._registry import Dataset, DatasetCard
from attunexr.recording import Event, Interval, Recording, RecordingMeta, Stream

__all__ = ["FMS_EVENT", "VRFmsMotion", "normalise_condition"]

logger = logging.getLogger(__name__)

#: Event label of an FMS answer (value 0-20).
FMS_EVENT = "fms"
#: Rows of the moving part of the ride (the original README's advice).
RIDE_ROWS = 420
#: A file whose median angular speed over the ride exceeds this is in deg/s (see the module docstring).
DEG_PER_S_ABOVE = 5.0
_NAME = re.compile(r"^PA(\d+)_(.+?)(?:_(\d{1,2})_(\d{2})_(\d{2})_(AM|PM))?\.csv$")


def normalise_condition(raw: str) -> str:
    """Canonical condition name: ``ROF_Foward_WhiteLine`` -> ``rof_forward_whiteline``, ``Base`` -> ``base``."""
    name = raw.strip()
    name = re.sub(r"^(Reverse_Optical_Flow|ROF|RoF|rof)(?=_|$)", "rof", name)
    name = re.sub(r"Foward", "Forward", name)
    return name.lower()


def _clock_seconds(m: re.Match[str]) -> float | None:
    if m.group(3) is None:
        return None
    h, mi, s, ampm = int(m.group(3)), int(m.group(4)), int(m.group(5)), m.group(6)
    h = h % 12 + (12 if ampm == "PM" else 0)
    return float(h * 3600 + mi * 60 + s)


@functools.lru_cache(maxsize=8)
def _index(raw: Path, mtime: float) -> tuple[tuple[str, str, str, float | None], ...]:
    """(session id, participant, raw condition, clock seconds) of every ride file, in participant/time order."""
    out = []
    for p in raw.iterdir():
        m = _NAME.match(p.name)
        if m is None:
            if p.suffix.lower() == ".csv":
                raise DataFormatError(p, "file name does not follow PA<n>_<condition>[_h_m_s_AM|PM].csv")
            continue
        out.append((p.stem, f"PA{int(m.group(1))}", m.group(2), _clock_seconds(m)))
    out.sort(key=lambda r: (int(r[1][2:]), r[3] if r[3] is not None else -1.0, r[0]))
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _read_csv(path: Path, mtime: float) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, header=None, skip_blank_lines=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataFormatError(path, f"cannot be read as CSV: {err}") from err
    if df.shape[1] != 11:
        raise DataFormatError(
            path,
            f"expected 11 columns (time, FMS, acc x/y/z, gyro x/y/z, gender, MSSQ, age), got {df.shape[1]}",
        )
    num = df.iloc[:, :8].apply(pd.to_numeric, errors="coerce")
    bad = num.isna() & df.iloc[:, :8].notna()
    if bad.any().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise DataFormatError(path, f"row {r + 1}, column {c + 1}: {df.iat[r, c]!r} is not a number")
    df.iloc[:, :8] = num
    return df


def _first(values: pd.Series) -> Any:
    v = values.dropna()
    return None if v.empty else v.iloc[0]


class VRFmsMotion(Dataset):
    """86 people, 428 VR rides: FMS every 0.5 s, head acceleration and angular velocity at ~2 Hz, MSSQ."""

    card = DatasetCard(
        name="vr-fms-motion",
        title="FMS cybersickness dataset: 4-minute VR ride in 9 visual conditions (12 spellings), head IMU, MSSQ",
        folder="vr-fms-motion",
        origin="https://github.com/pvtryan1024/2025_Cybersickness_dataset",
        git_url="https://github.com/pvtryan1024/2025_Cybersickness_dataset.git",
        licence="MIT",
        citation=(
            "pvtryan1024, 2025 Cybersickness dataset (commit b828592), the data of 'Predicting Cybersickness Trend "
            "and Extent Based on FMS Labeled Dataset'. FMS: B. Keshavarz, H. Hecht, Human Factors 53(4), 2011."
        ),
        n_subjects=86,
        signals={
            "head_imu": "headset acceleration x/y/z (m/s^2, gravity-free) and angular velocity x/y/z (rad/s), "
            "irregular ~2 Hz",
        },
        labels={
            "vr": "the moving part of the ride (rows up to 420, ~213 s)",
            "fms": "Fast Motion Sickness answer 0-20 every ~0.5 s (events, not intervals)",
        },
        caveats=(
            "81 files have empty cells (gaps): read as NaN, never a reason to drop a file.",
            "Angular velocity is in deg/s in 371 files and rad/s in 57: converted to rad/s (angular_velocity_unit).",
            "Condition spellings vary (ROF/RoF/Reverse_Optical_Flow, Foward): normalised, raw name kept.",
            "Files carry a clock time but no date: the order of a participant's rides is by clock time only.",
            "Head IMU at ~2 Hz (Nyquist 1 Hz): no tremor or fine postural-sway bands.",
            "FMS grows with time on the ride: always report the time-in-VR baseline.",
            "Healthy volunteers; the recruiting site is not stated.",
        ),
        site="not stated",
        population="86 volunteers (age, gender and MSSQ per participant)",
        extra={"n_sessions": 428},
    )

    metadata_variables: ClassVar[dict[str, str]] = {
        "mssq": "Motion Sickness Susceptibility Questionnaire score answered before the rides",
        "age": "age in years",
        "gender": "gender (m/f) as recorded",
    }

    def _raw(self, data_dir: str | Path | None) -> Path:
        raw = self.root(data_dir) / "raw"
        if not raw.is_dir():
            raise DataFormatError(raw, "missing: the raw/ folder of the vr-fms-motion dataset")
        return raw

    def _rides(self, data_dir: str | Path | None) -> tuple[tuple[str, str, str, float | None], ...]:
        raw = self._raw(data_dir)
        return _index(raw, raw.stat().st_mtime)

    def subjects(self, data_dir: str | Path | None = None) -> list[str]:
        return list(dict.fromkeys(r[1] for r in self._rides(data_dir)))

    def sessions(self, data_dir: str | Path | None = None, subject: str | None = None) -> list[str]:
        """Session ids (file stems) of every ride, or of one participant's rides, in participant/clock order."""
        if subject is not None:
            self._check_subject(subject, data_dir)
        return [r[0] for r in self._rides(data_dir) if subject is None or r[1] == subject]

    def n_sessions(self, data_dir: str | Path | None = None) -> int:
        return len(self._rides(data_dir))

    def load(self, subject: str, data_dir: str | Path | None = None) -> Recording:
        """A participant's first ride (earliest clock time); use :meth:`load_session` for the others."""
        self._check_subject(subject, data_dir)
        return self.load_session(self.sessions(data_dir, subject)[0], data_dir)

    def load_session(self, session: str, data_dir: str | Path | None = None) -> Recording:
        """One ride as a :class:`Recording`: stream ``head_imu``, ``fms`` events, the ``vr`` interval."""
        rides = {r[0]: r for r in self._rides(data_dir)}
        if session not in rides:
            raise ConfigurationError(
                f"dataset {self.name!r} has no session {session!r}; list them with VRFmsMotion().sessions()"
            )
        sid, subject, cond_raw, clock = rides[session]
        path = self._raw(data_dir) / f"{sid}.csv"
        df = _read_csv(path, path.stat().st_mtime)
        t = df[0].to_numpy(dtype=float)
        keep = np.isfinite(t)
        if keep.sum() < 2 or np.any(np.diff(t[keep]) <= 0):
            raise DataFormatError(path, "the time column must hold increasing numbers")
        d = df[keep]
        t = t[keep]
        acc = d[[2, 3, 4]].to_numpy(dtype=float)
        gyro = d[[5, 6, 7]].to_numpy(dtype=float)
        ride_end = float(t[min(RIDE_ROWS, t.size) - 1])
        speed = np.sqrt(np.sum(gyro**2, axis=1))
        med = float(np.nanmedian(speed[t <= ride_end])) if np.isfinite(speed[t <= ride_end]).any() else 0.0
        unit = "deg/s" if med > DEG_PER_S_ABOVE else "rad/s"
        if unit == "deg/s":
            gyro = np.radians(gyro)
        stream = Stream(
            name="head_imu",
            kind="head_imu",
            values=np.concatenate([acc, gyro], axis=1),
            timestamps=t,
            rate=None,
            channels=("ax", "ay", "az", "wx", "wy", "wz"),
            device="VR headset IMU",
        )
        fms = d[1].to_numpy(dtype=float)
        events = [
            Event(float(ti), FMS_EVENT, float(v)) for ti, v in zip(t, fms, strict=True) if math.isfinite(v)
        ]
        gender, mssq, age = _first(df[8]), _first(df[9]), _first(df[10])
        meta = RecordingMeta(
            subject=subject,
            dataset=self.name,
            session=sid,
            site=self.card.site,
            device="VR headset IMU",
            extra={
                "condition": normalise_condition(cond_raw),
                "condition_raw": cond_raw,
                "clock_time_s": clock,
                "gender": None if gender is None else str(gender).strip().lower(),
                "mssq": None if mssq is None else float(mssq),
                "age": None if age is None else float(age),
                "angular_velocity_unit": unit,
                "ride_end": ride_end,
                "n_rows": int(len(df)),
                "n_missing_cells": int(df.iloc[:, :8].isna().sum().sum()),
                "fms_max_ride": float(np.nanmax(np.where(t <= ride_end, fms, np.nan)))
                if np.isfinite(fms[t <= ride_end]).any()
                else None,
            },
        )
        return Recording(
            meta=meta,
            streams={"head_imu": stream},
            events=events,
            intervals=[Interval(0.0, ride_end, "vr")],
        )

    def subject_metadata(self, data_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for sid, subject, _, _ in self._rides(data_dir):
            if subject in out and all(out[subject].get(k) is not None for k in self.metadata_variables):
                continue
            path = self._raw(data_dir) / f"{sid}.csv"
            df = _read_csv(path, path.stat().st_mtime)
            entry = out.setdefault(subject, {"mssq": None, "age": None, "gender": None})
            g, m, a = _first(df[8]), _first(df[9]), _first(df[10])
            if entry["gender"] is None and g is not None:
                entry["gender"] = str(g).strip().lower()
            if entry["mssq"] is None and m is not None:
                entry["mssq"] = float(m)
            if entry["age"] is None and a is not None:
                entry["age"] = float(a)
        return out

    def info(self, data_dir: str | Path | None = None) -> dict[str, Any]:
        out = super().info(data_dir)
        rides = self._rides(data_dir)
        out["n_sessions"] = len(rides)
        conds: dict[str, int] = {}
        raw_names: dict[str, set[str]] = {}
        for _, _, raw, _ in rides:
            c = normalise_condition(raw)
            conds[c] = conds.get(c, 0) + 1
            raw_names.setdefault(c, set()).add(raw)
        out["conditions"] = dict(sorted(conds.items()))
        out["condition_spellings"] = {k: sorted(v) for k, v in sorted(raw_names.items())}
        return out
