"""Read BIDS physiological recordings (``*_physio.tsv.gz`` + JSON sidecar, ``*_events.tsv``) into Recordings.

Follows the BIDS specification 1.9, sections "Physiological recordings", "Task events" and "The inheritance
principle". A run is all files in one ``sub-*/[ses-*/]<datatype>/`` folder that share ``sub``, ``ses``, ``task``,
``acq`` and ``run``; physio files of a run differ by their ``recording-<label>`` entity (one sampling rate each).
Every sample, sidecar and event row is checked: a wrong file raises :class:`DataFormatError` naming the file and
the problem.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import math
import sys
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attunexr.errors import DataFormatError
from attunexr.io._bids_names import GAPS_ALLOWED, RUN_ENTITIES, column_kind, parse_name
from attunexr.io._bids_write import write_bids
from attunexr.recording import Event, Interval, Recording, RecordingMeta, Stream

__all__ = ["iter_bids", "read_bids", "read_bids_recording", "read_participants", "write_bids"]

logger = logging.getLogger(__name__)


# --- small parsers ---------------------------------------------------------------------------------------
def _dataset_root(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if (parent / "dataset_description.json").is_file():
            return parent
    for parent in path.parents:
        if parent.name.startswith("sub-"):
            return parent.parent
    return path.parent


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"is not valid JSON ({err.msg} at line {err.lineno})") from err
    except UnicodeDecodeError as err:
        raise DataFormatError(path, "is not UTF-8 text; expected a JSON sidecar") from err
    except (ValueError, RecursionError) as err:  # a number of more digits than Python converts, deep nesting
        raise DataFormatError(path, f"cannot be read as JSON: {err}") from err
    if not isinstance(data, dict):
        raise DataFormatError(path, "must hold a JSON object (key: value pairs)")
    return data


def _sidecar(data_file: Path, root: Path) -> tuple[dict[str, Any], list[Path]]:
    """Merged JSON metadata of ``data_file`` by the BIDS inheritance principle (nearest file wins)."""
    entities, suffix, _ = parse_name(data_file.name)
    folders = [data_file.parent]
    folders += [p for p in data_file.parent.parents if p == root or root in p.parents]
    found: list[tuple[int, int, Path]] = []
    for depth, folder in enumerate(folders):
        for cand in folder.glob(f"*{suffix}.json"):
            ents, suf, _ = parse_name(cand.name)
            if suf == suffix and all(entities.get(k) == v for k, v in ents.items()):
                found.append((-depth, len(ents), cand))
    merged: dict[str, Any] = {}
    sources = [p for _, _, p in sorted(found)]
    for path in sources:
        merged.update(_load_json(path))
    return merged, sources


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):  # JSON integers may exceed the float range (math.isfinite would overflow)
        return float(value) if abs(value) <= sys.float_info.max else None
    return float(value) if math.isfinite(value) else None


def _physio_table(path: Path, n_columns: int, gaps_ok: np.ndarray) -> np.ndarray:
    try:
        with gzip.open(path, "rt", encoding="ascii", newline="") as fh:
            text = fh.read()
    except (EOFError, zlib.error) as err:
        raise DataFormatError(path, f"truncated or corrupt gzip data ({err}); write the file again") from err
    except gzip.BadGzipFile as err:
        raise DataFormatError(path, "is not gzip-compressed; BIDS physio files are .tsv.gz") from err
    except UnicodeDecodeError as err:
        raise DataFormatError(path, "holds non-ASCII bytes; expected tab-separated numbers") from err
    lines = text.splitlines()
    if not lines:
        raise DataFormatError(path, "has no samples")
    fields = np.fromiter((line.count("\t") + 1 for line in lines), dtype=np.int64, count=len(lines))
    wrong = np.nonzero(fields != n_columns)[0]
    if wrong.size:
        i = int(wrong[0])
        hint = " (the file looks truncated)" if i == len(lines) - 1 and fields[i] < n_columns else ""
        raise DataFormatError(
            path,
            f"line {i + 1} has {fields[i]} tab-separated fields but the sidecar's Columns lists {n_columns}{hint}",
        )
    try:
        numbers = pd.read_csv(
            io.StringIO(text), sep="\t", header=None, dtype=np.float64, engine="c", skip_blank_lines=False
        ).to_numpy()
    except ValueError:
        table = pd.read_csv(
            io.StringIO(text), sep="\t", header=None, dtype=str, keep_default_na=False
        ).to_numpy()
        coerced = pd.DataFrame(table).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(coerced) & ~np.isin(table, ["n/a", "NaN", "nan", ""])
        row, col = (int(i[0]) for i in np.nonzero(bad))
        cell = table[row, col]
        if row == 0:
            raise DataFormatError(
                path,
                f"line 1 holds {cell!r}, not a number; BIDS physio files have no header row (names go in Columns)",
            ) from None
        raise DataFormatError(path, f"line {row + 1}, column {col + 1}: {cell!r} is not a number") from None
    if numbers.shape[0] != len(lines):
        raise DataFormatError(path, f"has {len(lines)} lines but {numbers.shape[0]} rows were parsed")
    infinite = np.isinf(numbers)
    if infinite.any():
        row = int(np.nonzero(infinite.any(axis=1))[0][0])
        raise DataFormatError(path, f"line {row + 1} has an infinite sample; write lost samples as n/a")
    bad_cells = np.isnan(numbers) & ~gaps_ok[None, :]
    if bad_cells.any():
        row = int(np.nonzero(bad_cells.any(axis=1))[0][0])
        raise DataFormatError(
            path,
            f"line {row + 1} has a missing (n/a, NaN) sample; read with allow_missing=True (the default) to "
            "read gaps as NaN",
        )
    return np.asarray(numbers, dtype=np.float64)


# --- physio ----------------------------------------------------------------------------------------------
def _read_physio(path: Path, root: Path, allow_missing: bool) -> tuple[list[Stream], float]:
    side, sources = _sidecar(path, root)
    where = sources[-1] if sources else path.with_name(path.name.replace(".tsv.gz", ".json"))
    if not sources:
        raise DataFormatError(
            where, f"is missing: {path.name} needs a JSON sidecar with SamplingFrequency, StartTime, Columns"
        )
    for key in ("SamplingFrequency", "StartTime", "Columns"):
        if key not in side:
            raise DataFormatError(
                where, f"has no {key!r}; BIDS physio sidecars need SamplingFrequency, StartTime, Columns"
            )
    rate = _number(side["SamplingFrequency"])
    if rate is None or rate <= 0:
        raise DataFormatError(
            where, f"SamplingFrequency {side['SamplingFrequency']!r} is not a positive number of Hz"
        )
    start = _number(side["StartTime"])
    if start is None:
        raise DataFormatError(where, f"StartTime {side['StartTime']!r} is not a number of seconds")
    columns = side["Columns"]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns):
        raise DataFormatError(where, f"Columns must be a non-empty list of column names, got {columns!r}")
    if len(set(columns)) != len(columns):
        raise DataFormatError(where, f"Columns has duplicate names: {columns!r}")
    kinds = [None if c == "timestamp" else column_kind(c) for c in columns]
    gaps_ok = np.array(
        [
            allow_missing and c != "timestamp" or (k is not None and k[0] in GAPS_ALLOWED)
            for c, k in zip(columns, kinds, strict=True)
        ]
    )
    data = _physio_table(path, len(columns), gaps_ok)
    timestamps = None
    if "timestamp" in columns:
        timestamps = _timestamps(path, where, side, data[:, columns.index("timestamp")], start)
    irregular = side.get("IrregularSampling") is True

    groups: dict[str, list[tuple[int, str | None]]] = {}
    for i, col in enumerate(columns):
        if col == "timestamp":
            continue
        known = column_kind(col)
        if known is None:
            logger.warning("%s: column %r is not a physiological signal attunexr knows; skipped", path, col)
            continue
        groups.setdefault(known[0], []).append((i, known[1]))
    if not groups:
        raise DataFormatError(
            where,
            f"none of the Columns {columns!r} is a recognised signal (cardiac/ecg, ppg, eda, respiratory, "
            "temperature, hr, acc_x/acc_y/acc_z, <kind>_<channel>)",
        )
    entities, _, _ = parse_name(path.name)
    label = entities.get("recording", "")
    streams = []
    for kind, members in groups.items():
        if len(groups) == 1:
            name = str(side.get("StreamName") or label or kind)
        else:
            name = f"{label}_{kind}" if label else kind
        idx = [i for i, _ in members]
        multi = len(members) > 1 or members[0][1] is not None
        values = data[:, idx] if multi else data[:, idx[0]]
        channels = tuple(ch or columns[i] for i, ch in members) if multi else ()
        col_meta = side.get(columns[idx[0]])
        unit = col_meta.get("Units") if isinstance(col_meta, dict) else None
        if unit is None and isinstance(side.get("Units"), str):
            unit = side["Units"]
        if unit is not None and not isinstance(unit, str):
            raise DataFormatError(
                where, f"Units of column {columns[idx[0]]!r} must be a string, got {unit!r}"
            )
        device = side.get("ManufacturersModelName") or side.get("Manufacturer") or ""
        ts = start + np.arange(data.shape[0]) / rate if timestamps is None else timestamps
        streams.append(
            Stream(
                name,
                kind,
                values,
                ts,
                rate=None if irregular else rate,
                unit=unit or "",
                channels=channels,
                device=str(device),
            )
        )
    return streams, start


_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "\u00b5s": 1e-6, "ns": 1e-9}


def _timestamps(path: Path, where: Path, side: dict[str, Any], raw: np.ndarray, start: float) -> np.ndarray:
    """Times of a physio file with a ``timestamp`` column: ``StartTime`` plus the time since its first sample."""
    meta = side.get("timestamp")
    unit = meta.get("Units", "s") if isinstance(meta, dict) else "s"
    if unit not in _TIME_UNITS:
        raise DataFormatError(where, f"timestamp Units {unit!r} is not one of {sorted(_TIME_UNITS)}")
    if not np.all(np.isfinite(raw)):
        raise DataFormatError(path, "the timestamp column has missing values")
    steps = np.diff(raw)
    if np.any(steps < 0):
        i = int(np.argmax(steps < 0)) + 1
        raise DataFormatError(
            path, f"line {i + 1}: timestamp {raw[i]:g} is earlier than {raw[i - 1]:g} on the line before"
        )
    return np.asarray(start + (raw - raw[0]) * _TIME_UNITS[unit], dtype=np.float64)


# --- events ----------------------------------------------------------------------------------------------
def _cell_float(path: Path, lineno: int, column: str, cell: str, *, allow_na: bool) -> float | None:
    if cell == "n/a" and allow_na:
        return None
    try:
        value = float(cell)
    except ValueError:
        raise DataFormatError(path, f"line {lineno}: {column} {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise DataFormatError(path, f"line {lineno}: {column} is {cell!r}; use a finite number or n/a")
    return value


def _read_events(path: Path) -> tuple[list[Interval], list[Event]]:
    rows = _tsv_rows(path, "utf-8")
    if not rows:
        raise DataFormatError(path, "is empty; an events file starts with the header onset<TAB>duration")
    header = rows[0]
    if header[:2] != ["onset", "duration"]:
        raise DataFormatError(path, f"header must start with onset, duration; found {header[:2]!r}")
    col = {name: i for i, name in enumerate(header)}
    intervals: list[Interval] = []
    events: list[Event] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataFormatError(
                path, f"line {lineno} has {len(row)} fields but the header has {len(header)}"
            )
        onset = _cell_float(path, lineno, "onset", row[0], allow_na=False)
        assert onset is not None
        duration = _cell_float(path, lineno, "duration", row[1], allow_na=True)
        if duration is not None and duration < 0:
            raise DataFormatError(path, f"line {lineno}: negative duration {row[1]!r}")
        label = row[col["trial_type"]] if "trial_type" in col else "n/a"
        value = (
            _cell_float(path, lineno, "value", row[col["value"]], allow_na=True) if "value" in col else None
        )
        if duration:
            intervals.append(Interval(onset, duration, label if label != "n/a" else "event"))
        else:
            events.append(Event(onset, label if label != "n/a" else "event", value))
    return intervals, events


# --- runs ------------------------------------------------------------------------------------------------
def _run_key(entities: dict[str, str]) -> tuple[str, ...]:
    return tuple(entities.get(k, "") for k in RUN_ENTITIES)


def _tsv_rows(path: Path, encoding: str) -> list[list[str]]:
    """The rows of a small TSV file; bytes that are not text in ``encoding`` are a format error."""
    try:
        with path.open(newline="", encoding=encoding) as fh:
            return list(csv.reader(fh, delimiter="\t"))
    except UnicodeDecodeError as err:
        raise DataFormatError(path, f"is not UTF-8 text ({err.reason} at byte {err.start})") from err
    except csv.Error as err:
        raise DataFormatError(path, f"is not a valid TSV table: {err}") from err


def _acq_times(subject_folder: Path, sub: str, ses: str) -> dict[str, float]:
    name = f"sub-{sub}" + (f"_ses-{ses}" if ses else "") + "_scans.tsv"
    path = subject_folder / name
    if not path.exists():
        return {}
    rows = _tsv_rows(path, "utf-8")
    if not rows or "filename" not in rows[0]:
        raise DataFormatError(path, "needs a header with a filename column")
    if "acq_time" not in rows[0]:
        return {}
    i_name, i_time = rows[0].index("filename"), rows[0].index("acq_time")
    out: dict[str, float] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise DataFormatError(
                path, f"line {lineno} has {len(row)} fields but the header has {len(rows[0])}"
            )
        if row[i_time] == "n/a":
            continue
        try:
            t = datetime.fromisoformat(row[i_time])
        except ValueError:
            raise DataFormatError(
                path, f"line {lineno}: acq_time {row[i_time]!r} is not YYYY-MM-DDThh:mm:ss"
            ) from None
        out[row[i_name]] = (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    return out


def read_participants(root: str | Path) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``participants.tsv`` of a BIDS dataset as ``(descriptions, values by subject label)``.

    Every column but ``participant_id`` is a variable; ``n/a`` is a missing value; a column whose values all read as
    numbers becomes numeric. Descriptions come from ``participants.json`` (``Description``) when present. Returns
    empty dicts when the dataset has no ``participants.tsv``.
    """
    root = Path(root)
    path = root / "participants.tsv"
    if not path.is_file():
        return {}, {}
    rows = _tsv_rows(path, "utf-8-sig")  # spreadsheet programs often write a BOM
    if not rows or "participant_id" not in rows[0]:
        raise DataFormatError(path, "needs a header with a participant_id column")
    header = rows[0]
    i_id = header.index("participant_id")
    columns: dict[str, dict[str, str]] = {c: {} for c in header if c != "participant_id"}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataFormatError(
                path, f"line {lineno} has {len(row)} fields but the header has {len(header)}"
            )
        sub = row[i_id].removeprefix("sub-")
        for j, col in enumerate(header):
            if col != "participant_id" and row[j] not in ("n/a", ""):
                columns[col][sub] = row[j]
    sidecar: dict[str, Any] = {}
    side = root / "participants.json"
    if side.is_file():
        try:
            sidecar = json.loads(side.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as err:  # also UnicodeDecodeError
            raise DataFormatError(side, f"is not valid JSON: {err}") from err
    descriptions: dict[str, str] = {}
    values: dict[str, dict[str, Any]] = {}
    for col, by_sub in columns.items():
        if not by_sub:
            continue
        entry = sidecar.get(col)
        descriptions[col] = str(entry.get("Description", col)) if isinstance(entry, dict) else col
        try:
            parsed: dict[str, Any] = {k: float(v) for k, v in by_sub.items()}
        except ValueError:
            parsed = dict(by_sub)
        for sub, v in parsed.items():
            values.setdefault(sub, {})[col] = v
    return descriptions, values


def read_bids_recording(path: str | Path, *, allow_missing: bool = True) -> Recording:
    """Read one run of a BIDS dataset, given any of its files (an ``_events.tsv`` or a ``_physio.tsv.gz``).

    All ``*_physio.tsv.gz`` files in the same folder with the same ``sub``/``ses``/``task``/``acq``/``run``
    entities become streams; the events file gives intervals (rows with a duration, ``trial_type`` as label) and
    events (rows with zero or ``n/a`` duration, ``value`` attached).
    ``meta.start_time`` comes from ``acq_time`` in the subject's ``scans.tsv`` when present.

    Parameters
    ----------
    path
        A file of the run.
    allow_missing
        Read ``n/a`` samples as NaN, i.e. as gaps (default; real devices drop out and BIDS writes the lost samples
        as ``n/a``). Features skip the gaps and the quality layer decides which windows they spoil. ``False``
        refuses such files (except in gaze, pupil and head-pose columns, where eye trackers lose samples during
        blinks).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "does not exist")
    entities, suffix, _ = parse_name(path.name)
    if "sub" not in entities:
        raise DataFormatError(path, "is not a BIDS file name (sub-<label>_..._<suffix>)")
    root = _dataset_root(path)
    key = _run_key(entities)
    folder = path.parent
    physio_files = sorted(p for p in folder.glob("*_physio.tsv.gz") if _run_key(parse_name(p.name)[0]) == key)
    events_files = [p for p in folder.glob("*_events.tsv") if _run_key(parse_name(p.name)[0]) == key]
    sub, ses = entities["sub"], entities.get("ses", "")
    subject_folder = folder.parent
    acq = _acq_times(subject_folder, sub, ses)
    meta = RecordingMeta(subject=sub, session=ses, dataset=_dataset_name(root))
    meta.extra.update({k: v for k, v in zip(RUN_ENTITIES, key, strict=True) if v and k not in ("sub", "ses")})
    meta.extra["bids_root"] = str(root)
    rec = Recording(meta)
    for pf in physio_files:
        streams, start = _read_physio(pf, root, allow_missing)
        rel = pf.relative_to(subject_folder).as_posix()
        if rel in acq and meta.start_time is None:
            meta.start_time = acq[rel] - start
        for s in streams:
            if s.name in rec.streams:
                raise DataFormatError(
                    pf, f"stream name {s.name!r} is used by another physio file of this run"
                )
            if s.device and not meta.device:
                meta.device = s.device
            rec.add_stream(s)
    for ef in events_files:
        intervals, events = _read_events(ef)
        rec.intervals.extend(intervals)
        rec.events.extend(events)
    if not rec.streams and not rec.intervals and not rec.events:
        raise DataFormatError(path, "this run has no physio or events files")
    return rec


def _dataset_name(root: Path) -> str:
    desc = root / "dataset_description.json"
    if desc.is_file():
        name = _load_json(desc).get("Name", "")
        return str(name)
    return ""


def iter_bids(
    root: str | Path,
    subject: str | None = None,
    session: str | None = None,
    task: str | None = None,
    *,
    allow_missing: bool = True,
) -> Iterator[Recording]:
    """Yield one :class:`Recording` per run of the BIDS dataset at ``root`` (see :func:`read_bids`)."""
    root = Path(root)
    if not (root / "dataset_description.json").is_file():
        raise DataFormatError(root, "is not a BIDS dataset: dataset_description.json is missing")
    desc = _load_json(root / "dataset_description.json")
    if "BIDSVersion" not in desc or "Name" not in desc:
        raise DataFormatError(root / "dataset_description.json", "needs Name and BIDSVersion")
    want = {
        "sub": subject.removeprefix("sub-") if subject else None,
        "ses": session.removeprefix("ses-") if session else None,
        "task": task.removeprefix("task-") if task else None,
    }
    seen: set[tuple[Path, tuple[str, ...]]] = set()
    files = sorted([*root.glob("sub-*/*/*_physio.tsv.gz"), *root.glob("sub-*/ses-*/*/*_physio.tsv.gz")])
    files += sorted([*root.glob("sub-*/*/*_events.tsv"), *root.glob("sub-*/ses-*/*/*_events.tsv")])
    for f in files:
        ents = parse_name(f.name)[0]
        if any(v is not None and ents.get(k) != v for k, v in want.items()):
            continue
        run = (f.parent, _run_key(ents))
        if run in seen:
            continue
        seen.add(run)
        yield read_bids_recording(f, allow_missing=allow_missing)


def read_bids(
    root: str | Path,
    subject: str | None = None,
    session: str | None = None,
    task: str | None = None,
    *,
    allow_missing: bool = True,
) -> list[Recording]:
    """Read the runs of a BIDS dataset of physiological recordings.

    Parameters
    ----------
    root
        Dataset folder (holds ``dataset_description.json``).
    subject, session, task
        Keep only runs with these labels (with or without the ``sub-``/``ses-``/``task-`` prefix).
    allow_missing
        Read ``n/a`` physio samples as NaN gaps (default) instead of refusing the file.

    Returns
    -------
    list of Recording
        One per run (``sub``/``ses``/``task``/``acq``/``run``), sorted by path.
    """
    return list(iter_bids(root, subject, session, task, allow_missing=allow_missing))
