"""Generic CSV signal files: a header row of column names, then one row per sample.

Columns are recognised by the same names as BIDS physio columns (``ecg``/``cardiac``, ``ppg``, ``eda``,
``respiratory``, ``temperature``, ``hr``, ``acc_x``/``acc_y``/``acc_z``, ``<kind>_<channel>``). Sample times come
from a time column in seconds (``time``, ``timestamp`` or ``t``), which must increase strictly, or from ``rate``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.io._bids_names import column_kind
from attunexr.recording import Recording, RecordingMeta, Stream

__all__ = ["read_csv_signals"]

logger = logging.getLogger(__name__)

_TIME_COLUMNS = ("time", "timestamp", "t")


def read_csv_signals(
    path: str | Path,
    *,
    rate: float | None = None,
    time_column: str | None = None,
    delimiter: str = ",",
    subject: str | None = None,
    dataset: str = "",
    start_time: float | None = None,
) -> Recording:
    """Read a CSV file of signals into a :class:`Recording`.

    Parameters
    ----------
    path
        The CSV file (first row: column names).
    rate
        Sampling rate in Hz; required when there is no time column, and then the stream is regular from 0 s.
        With a time column, ``rate`` is the nominal rate stored on the streams (``None``: irregular).
    time_column
        Name of the time column in seconds (default: the first of ``time``, ``timestamp``, ``t`` present).
    delimiter
        Field separator.
    subject, dataset, start_time
        Metadata (``start_time``: Unix seconds UTC of the clock zero, if known).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, "does not exist") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(path, "is not a text file; expected CSV") from err
    lines = text.splitlines()
    if len(lines) < 2:
        raise DataFormatError(path, "truncated: expected a header row and at least one sample row")
    header = [h.strip() for h in lines[0].split(delimiter)]
    if any(not h for h in header) or len(set(header)) != len(header):
        raise DataFormatError(path, f"wrong header: column names must be present and unique, got {header!r}")
    try:
        [float(h) for h in header]
    except ValueError:
        pass
    else:
        raise DataFormatError(path, "wrong header: the first row holds numbers; add a row of column names")
    counts = np.fromiter((ln.count(delimiter) + 1 for ln in lines[1:]), dtype=np.int64, count=len(lines) - 1)
    bad = np.nonzero(counts != len(header))[0]
    if bad.size:
        i = int(bad[0])
        hint = " (the file looks truncated)" if i == len(lines) - 2 else ""
        raise DataFormatError(
            path, f"line {i + 2} has {counts[i]} fields but the header has {len(header)}{hint}"
        )
    try:
        table = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, ValueError) as err:  # quoting or line breaks that split rows differently
        raise DataFormatError(path, f"cannot be parsed as a {delimiter!r}-separated table: {err}") from err
    numbers = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    raw = table.to_numpy()
    not_number = np.isnan(numbers) & ~np.isin(np.char.lower(raw.astype(str)), ["nan", "n/a", ""])
    if not_number.any():
        r, c = (int(x[0]) for x in np.nonzero(not_number))
        raise DataFormatError(path, f"line {r + 2}, column {header[c]!r}: {raw[r, c]!r} is not a number")
    if np.isinf(numbers).any():
        r, c = (int(x[0]) for x in np.nonzero(np.isinf(numbers)))
        raise DataFormatError(
            path, f"line {r + 2}, column {header[c]!r}: infinite value; write lost samples as empty, NaN or n/a"
        )
    # empty, NaN and n/a cells are gaps (NaN): features skip them and the quality layer decides

    tcol = time_column or next((c for c in _TIME_COLUMNS if c in header), None)
    if time_column is not None and time_column not in header:
        raise DataFormatError(path, f"has no time column {time_column!r}; columns are {header!r}")
    if tcol is not None:
        timestamps = numbers[:, header.index(tcol)]
        steps = np.diff(timestamps)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0)) + 1
            raise DataFormatError(
                path,
                f"line {i + 2}: time {timestamps[i]:g} s does not increase after {timestamps[i - 1]:g} s "
                "(timestamps must be strictly increasing)",
            )
    elif rate is None:
        raise ConfigurationError(f"{path}: no time column ({', '.join(_TIME_COLUMNS)}); pass rate=HZ")
    else:
        timestamps = np.arange(len(numbers)) / rate
    if rate is not None and not rate > 0:
        raise ConfigurationError(f"rate must be a positive number of Hz, got {rate!r}")

    groups: dict[str, list[tuple[int, str | None]]] = {}
    for j, col in enumerate(header):
        if col == tcol:
            continue
        found = column_kind(col.lower())
        if found is None:
            logger.warning("%s: column %r is not a signal attunexr knows; skipped", path, col)
            continue
        groups.setdefault(found[0], []).append((j, found[1]))
    if not groups:
        raise DataFormatError(
            path, f"no recognised signal column among {header!r} (ecg, ppg, eda, acc_x, ...)"
        )
    rec = Recording(RecordingMeta(subject=subject or path.stem, dataset=dataset, start_time=start_time))
    for kind, members in groups.items():
        multi = len(members) > 1 or members[0][1] is not None
        idx = [j for j, _ in members]
        values = numbers[:, idx] if multi else numbers[:, idx[0]]
        channels = tuple(ch or header[j] for j, ch in members) if multi else ()
        rec.add_stream(Stream(kind, kind, values, timestamps, rate=rate, channels=channels))
    return rec
