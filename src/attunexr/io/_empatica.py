"""Empatica E4 CSV folders (ACC, BVP, EDA, HR, IBI, TEMP .csv as exported by E4 connect).

Format: first row = Unix start time (UTC) per column, second row = sampling rate in Hz, then samples.
IBI.csv: first row = start time and the word ``IBI``; then ``offset_s, ibi_s`` rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attunexr.errors import DataFormatError
from attunexr.recording import Recording, RecordingMeta, Stream

__all__ = ["read_empatica"]

#: file name -> (stream name, kind, unit scale applied to the raw values, channel names)
_E4_FILES: dict[str, tuple[str, str, float, tuple[str, ...]]] = {
    "BVP.csv": ("bvp", "ppg", 1.0, ()),
    "EDA.csv": ("eda", "eda", 1.0, ()),
    "TEMP.csv": ("temp", "temp", 1.0, ()),
    "ACC.csv": ("acc", "acc", 1.0 / 64.0, ("x", "y", "z")),
    "HR.csv": ("hr", "hr", 1.0, ()),
}


def _read_e4_signal(path: Path) -> tuple[float, float, np.ndarray]:
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise DataFormatError(path, "not a text file; expected an Empatica E4 CSV") from err
    if len(lines) < 3:
        raise DataFormatError(path, f"truncated: {len(lines)} lines, expected start time, rate and samples")
    try:
        start = float(lines[0].split(",")[0])
        rate = float(lines[1].split(",")[0])
    except ValueError as err:
        raise DataFormatError(
            path, "wrong header: the first two rows must be the Unix start time and the sampling rate in Hz"
        ) from err
    if not (rate > 0 and np.isfinite(rate)):
        raise DataFormatError(path, f"wrong header: sampling rate {rate!r} is not a positive number")
    if not (1e9 < start < 4e9):
        raise DataFormatError(path, f"wrong header: start time {start!r} is not a Unix timestamp in seconds")
    ncols = len(lines[0].split(","))
    try:
        data = np.loadtxt(lines[2:], delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise DataFormatError(path, f"malformed sample row: {err}") from err
    if data.shape[1] != ncols:
        raise DataFormatError(path, f"rows have {data.shape[1]} columns but the header has {ncols}")
    if not np.all(np.isfinite(data)):
        bad = int(np.argmax(~np.all(np.isfinite(data), axis=1))) + 3
        raise DataFormatError(path, f"non-numeric or NaN sample at line {bad}")
    return start, rate, data if ncols > 1 else data[:, 0]


def read_empatica(folder: str | Path, subject: str | None = None, dataset: str = "") -> Recording:
    """Read an Empatica E4 CSV folder into a :class:`Recording`.

    Clock zero is the earliest start time among the files; ``meta.start_time`` holds it as Unix seconds (UTC).
    ACC is converted from 1/64 g to g. ``IBI.csv`` becomes an irregular ``ibi`` stream (timestamp = end of beat).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(folder, "is not a folder of Empatica E4 CSV files")
    raw: dict[str, tuple[float, float, np.ndarray]] = {}
    for fname in _E4_FILES:
        p = folder / fname
        if p.exists():
            raw[fname] = _read_e4_signal(p)
    if not raw:
        raise DataFormatError(folder, "contains none of BVP.csv, EDA.csv, TEMP.csv, ACC.csv, HR.csv")
    t_zero = min(v[0] for v in raw.values())
    rec = Recording(
        RecordingMeta(subject=subject or folder.name, dataset=dataset, device="Empatica E4", start_time=t_zero)
    )
    for fname, (start, rate, data) in raw.items():
        name, kind, scale, channels = _E4_FILES[fname]
        rec.add_stream(
            Stream.regular(name, kind, data * scale, rate, t0=start - t_zero, channels=channels, device="Empatica E4")
        )
    ibi_path = folder / "IBI.csv"
    if ibi_path.exists():
        lines = ibi_path.read_text().splitlines()
        if not lines:
            raise DataFormatError(ibi_path, "empty file")
        try:
            start = float(lines[0].split(",")[0])
            rows = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64, ndmin=2) if len(lines) > 1 else np.empty((0, 2))
        except ValueError as err:
            raise DataFormatError(ibi_path, f"malformed IBI row: {err}") from err
        if rows.size and rows.shape[1] != 2:
            raise DataFormatError(ibi_path, "IBI rows must have two columns: offset in seconds, interval in seconds")
        if rows.size and np.any(np.diff(rows[:, 0]) < 0):
            raise DataFormatError(ibi_path, "IBI offsets are not increasing")
        rec.add_stream(
            Stream("ibi", "ibi", rows[:, 1], rows[:, 0] + start - t_zero, rate=None, device="Empatica E4")
        )
    return rec
