"""Empatica E4 CSV folders (ACC, BVP, EDA, HR, IBI, TEMP .csv as exported by E4 connect).

Format: first row = Unix start time (UTC) per column, second row = sampling rate in Hz, then samples.
IBI.csv: first row = start time and the word ``IBI``; then ``offset_s, ibi_s`` rows. Each file may also be
gzipped (``EDA.csv.gz``); an empty ``IBI.csv`` (the E4 exports one when it captured no beat) means no beats.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

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

#: Signals of one E4 session end within a few seconds of each other (HR about 10 s early); more means truncation.
_MAX_END_GAP_S = 60.0


def _read_text(path: Path) -> str:
    """The text of ``path``, decompressed when its name ends in ``.gz``; bytes that are not UTF-8 text are a
    :class:`DataFormatError`, never a ``UnicodeDecodeError``."""
    try:
        if path.suffix == ".gz":
            try:
                with gzip.open(path, "rb") as fh:
                    return fh.read().decode()
            except (OSError, EOFError) as err:
                raise DataFormatError(path, f"cannot be decompressed as gzip: {err}") from err
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"is not UTF-8 text (byte {err.start}); expected an Empatica E4 CSV file") from err


def _find(folder: Path, fname: str) -> Path | None:
    """``folder/fname`` or its gzipped form ``folder/fname.gz``, whichever exists."""
    for p in (folder / fname, folder / f"{fname}.gz"):
        if p.is_file():
            return p
    return None


def _read_e4_signal(path: Path) -> tuple[float, float, np.ndarray]:
    """Start time, rate and samples of one E4 CSV; samples are parsed by pandas' C parser (fast)."""
    try:
        text = _read_text(path)
    except UnicodeDecodeError as err:
        raise DataFormatError(path, "not a text file; expected an Empatica E4 CSV") from err
    head = text.split("\n", 2)
    if len(head) < 3 or not head[2].strip():
        n = len(text.splitlines())
        raise DataFormatError(path, f"truncated: {n} lines, expected start time, rate and samples")
    try:
        start = float(head[0].split(",")[0])
        rate = float(head[1].split(",")[0])
    except ValueError as err:
        raise DataFormatError(
            path, "wrong header: the first two rows must be the Unix start time and the sampling rate in Hz"
        ) from err
    if not (rate > 0 and np.isfinite(rate)):
        raise DataFormatError(path, f"wrong header: sampling rate {rate!r} is not a positive number")
    if not (1e9 < start < 4e9):
        raise DataFormatError(path, f"wrong header: start time {start!r} is not a Unix timestamp in seconds")
    ncols = len(head[0].split(","))
    body = head[2].replace("\r\n", "\n").rstrip("\n \t")
    # An empty row or a NaN/n/a value is a lost sample: it is read as NaN (a gap), so the times of the samples
    # after it stay right; features skip gaps and the quality layer decides which windows they spoil.
    try:
        data = pd.read_csv(
            io.StringIO(body),
            header=None,
            engine="c",
            dtype=np.float64,
            names=range(ncols),
            skip_blank_lines=False,
            na_values=["n/a"],
        ).to_numpy()
    except (ValueError, pd.errors.ParserError) as err:
        raise DataFormatError(path, f"malformed or non-numeric sample row ({ncols} columns expected): {err}") from err
    if not np.all(np.isfinite(data)):
        lines = body.split("\n")
        for bad in np.flatnonzero(~np.all(np.isfinite(data), axis=1)):
            line = lines[int(bad)]
            if line.strip() and line.count(",") != ncols - 1:
                raise DataFormatError(
                    path,
                    f"malformed sample row at line {bad + 3}: {line.count(',') + 1} columns, expected {ncols}",
                )
        if np.isinf(data).any():
            row = int(np.argmax(np.isinf(data).any(axis=1)))
            raise DataFormatError(path, f"infinite sample at line {row + 3}")
    return start, rate, data if ncols > 1 else data[:, 0]


def _blank_line(body: str) -> int | None:
    """Index of the first empty line of ``body`` (no trailing newline), or ``None``."""
    if body.startswith("\n"):
        return 0
    pos = body.find("\n\n")
    if pos < 0:
        return None
    return body.count("\n", 0, pos) + 1


def _read_e4_ibi(path: Path, drop_duplicate_beats: bool = False) -> tuple[float, np.ndarray]:
    """``IBI.csv``: first row ``start, IBI``; then ``offset_s, ibi_s`` rows with increasing offsets.

    ``drop_duplicate_beats`` sorts the rows and drops exact repeats (an E4 export that lists every beat twice).
    """
    try:
        lines = _read_text(path).splitlines()
    except UnicodeDecodeError as err:
        raise DataFormatError(path, "not a text file; expected an Empatica E4 IBI.csv") from err
    if not lines:
        raise DataFormatError(path, "empty file; expected a first row 'start time, IBI'")
    head = [c.strip() for c in lines[0].split(",")]
    try:
        start = float(head[0])
    except ValueError as err:
        raise DataFormatError(path, "wrong header: the first row must be 'Unix start time, IBI'") from err
    if len(head) != 2 or head[1] != "IBI":
        raise DataFormatError(path, f"wrong header {lines[0]!r}: the first row must be 'Unix start time, IBI'")
    if not (1e9 < start < 4e9):
        raise DataFormatError(path, f"wrong header: start time {start!r} is not a Unix timestamp in seconds")
    try:
        rows = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64, ndmin=2) if len(lines) > 1 else np.empty((0, 2))
    except ValueError as err:
        raise DataFormatError(path, f"malformed IBI row: {err}") from err
    if rows.size and rows.shape[1] != 2:
        raise DataFormatError(path, "IBI rows must have two columns: offset in seconds, interval in seconds")
    if rows.size and not np.all(np.isfinite(rows[:, 0])):
        bad = int(np.argmax(~np.isfinite(rows[:, 0]))) + 2
        raise DataFormatError(path, f"missing or non-finite beat time at line {bad}")
    if rows.size and np.isinf(rows[:, 1]).any():
        bad = int(np.argmax(np.isinf(rows[:, 1]))) + 2
        raise DataFormatError(path, f"infinite inter-beat interval at line {bad}")
    if rows.size:
        rows = rows[np.isfinite(rows[:, 1])]  # a beat without an interval is a gap in an irregular stream
    if rows.size and drop_duplicate_beats:
        rows = np.unique(rows.reshape(-1, 2), axis=0)  # sorted by offset, exact repeats dropped
    if rows.size and np.any(rows[:, 1] <= 0):
        bad = int(np.argmax(rows[:, 1] <= 0)) + 2
        raise DataFormatError(path, f"inter-beat interval at line {bad} is not positive")
    if rows.size and np.any(np.diff(rows[:, 0]) <= 0):
        bad = int(np.argmax(np.diff(rows[:, 0]) <= 0)) + 3
        raise DataFormatError(path, f"IBI timestamps are not increasing (line {bad} goes back in time)")
    return start, rows.reshape(-1, 2)


def read_empatica(
    folder: str | Path,
    subject: str | None = None,
    dataset: str = "",
    require: Iterable[str] = (),
    drop_duplicate_beats: bool = False,
) -> Recording:
    """Read an Empatica E4 CSV folder into a :class:`Recording`.

    Clock zero is the earliest start time among the files; ``meta.start_time`` holds it as Unix seconds (UTC).
    ACC is converted from 1/64 g to g. ``IBI.csv`` becomes an irregular ``ibi`` stream (timestamp = end of beat).

    Parameters
    ----------
    folder
        Folder holding ``ACC.csv``, ``BVP.csv``, ``EDA.csv``, ``HR.csv``, ``IBI.csv``, ``TEMP.csv`` (any subset),
        each plain or gzipped (``EDA.csv.gz``). An empty ``IBI.csv`` gives no ``ibi`` stream.
    subject, dataset
        Stored in the recording's metadata (``subject`` defaults to the folder name).
    require
        File names that must be present (e.g. ``("EDA.csv", "BVP.csv")``, plain or gzipped); a missing one is a
        :class:`~attunexr.errors.DataFormatError` naming it.
    drop_duplicate_beats
        Sort ``IBI.csv`` and drop exact repeats instead of refusing a file whose times go back (some E4 exports
        list every beat twice).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(folder, "is not a folder of Empatica E4 CSV files")
    for fname in require:
        if _find(folder, fname) is None:
            raise DataFormatError(folder / fname, "missing: this Empatica E4 file is required")
    raw: dict[str, tuple[float, float, np.ndarray]] = {}
    for fname in _E4_FILES:
        p = _find(folder, fname)
        if p is not None:
            raw[fname] = _read_e4_signal(p)
            expected = len(_E4_FILES[fname][3]) or 1
            got = 1 if raw[fname][2].ndim == 1 else raw[fname][2].shape[1]
            if got != expected:
                raise DataFormatError(p, f"wrong header: {got} columns, an Empatica {fname} has {expected}")
    if not raw:
        raise DataFormatError(folder, "contains none of BVP.csv, EDA.csv, TEMP.csv, ACC.csv, HR.csv")
    ends = {f: v[0] + len(v[2]) / v[1] for f, v in raw.items()}
    latest = max(ends.values())
    for fname, end in ends.items():
        if latest - end > _MAX_END_GAP_S:
            raise DataFormatError(
                folder / fname,
                f"truncated: it ends {latest - end:.0f} s before the other signals of the session",
            )
    t_zero = min(v[0] for v in raw.values())
    rec = Recording(
        RecordingMeta(subject=subject or folder.name, dataset=dataset, device="Empatica E4", start_time=t_zero)
    )
    for fname, (start, rate, data) in raw.items():
        name, kind, scale, channels = _E4_FILES[fname]
        rec.add_stream(
            Stream.regular(name, kind, data * scale, rate, t0=start - t_zero, channels=channels, device="Empatica E4")
        )
    ibi_path = _find(folder, "IBI.csv")
    if ibi_path is not None and _read_text(ibi_path).strip():
        start, rows = _read_e4_ibi(ibi_path, drop_duplicate_beats)
        rec.add_stream(
            Stream("ibi", "ibi", rows[:, 1], rows[:, 0] + start - t_zero, rate=None, device="Empatica E4")
        )
    return rec
