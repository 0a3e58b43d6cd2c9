"""Write a :class:`Recording` as a BIDS dataset of physiological recordings.

Layout (BIDS 1.9, "Physiological recordings" and "Task events")::

    root/dataset_description.json, participants.tsv, README
    root/sub-<s>/[ses-<x>/]sub-<s>[_ses-<x>]_scans.tsv                   acq_time of each physio file
    root/sub-<s>/[ses-<x>/]<datatype>/<run>_recording-<stream>_physio.tsv.gz   one stream per file
    root/sub-<s>/[ses-<x>/]<datatype>/<run>_recording-<stream>_physio.json     SamplingFrequency, StartTime, Columns
    root/sub-<s>/[ses-<x>/]<datatype>/<run>_events.tsv (+ .json)             intervals and events

One physio file holds one sampling rate, so every stream gets its own file, told apart by the ``recording-<label>``
entity. ``StartTime`` is the time of the first sample relative to the events' onset zero (the recording clock zero).
Streams that are not on a regular grid (inter-beat intervals, eye tracking with its own timestamps, wearables whose
sample times wander by more than half a period) get a first column ``timestamp`` in seconds on the recording clock,
as BIDS does for eye-tracking physio files; irregular streams are marked ``"IrregularSampling": true`` and carry
their mean rate as ``SamplingFrequency``.

Writing is atomic: every file is first written into a staging folder inside ``root`` and moved into place only
when all of them were written; on any error nothing in ``root`` changes.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from attunexr import __version__
from attunexr.errors import ConfigurationError, DataFormatError, SignalError
from attunexr.io._bids_names import BIDS_VERSION, GAPS_ALLOWED, KIND_COLUMN, bids_label
from attunexr.recording import Recording, Stream

__all__ = ["write_bids", "write_bids_all"]

logger = logging.getLogger(__name__)

#: Largest deviation (seconds) of a stream's timestamps from ``t0 + i / rate`` for it to be written without a
#: timestamp column; anything larger (drift-corrected wearables, jittered devices) keeps its own sample times.
_GRID_TOLERANCE = 1e-6


def _columns(stream: Stream) -> list[str]:
    if stream.values.ndim == 1:
        return [KIND_COLUMN.get(stream.kind, stream.kind)]
    prefix = stream.kind
    names = [bids_label(ch) or f"ch{i}" for i, ch in enumerate(stream.channels)]
    if len(set(names)) != len(names):
        names = [f"ch{i}" for i in range(len(names))]
    return [f"{prefix}_{n}" for n in names]


def _on_grid(stream: Stream) -> bool:
    """Whether the stream's timestamps are ``t0 + i / rate`` (within :data:`_GRID_TOLERANCE`)."""
    if stream.rate is None:
        return False
    ideal = stream.timestamps[0] + np.arange(stream.n_samples) / stream.rate
    off = float(np.max(np.abs(stream.timestamps - ideal)))
    if off > _GRID_TOLERANCE:
        logger.info(
            "stream %r is up to %.3g s off a %g Hz grid: writing its timestamps",
            stream.name,
            off,
            stream.rate,
        )
    return off <= _GRID_TOLERANCE


def _physio_bytes(stream: Stream, allow_missing: bool, with_time: bool) -> bytes:
    values = stream.values.reshape(stream.n_samples, -1)
    if np.isinf(values).any():
        row = int(np.nonzero(np.isinf(values).any(axis=1))[0][0])
        raise SignalError(
            f"stream {stream.name!r} has an infinite value at sample {row}; BIDS cannot store it"
        )
    if not (allow_missing or stream.kind in GAPS_ALLOWED) and np.isnan(values).any():
        row = int(np.nonzero(np.isnan(values).any(axis=1))[0][0])
        raise SignalError(
            f"stream {stream.name!r} has a NaN value at sample {row}; BIDS physio files written by "
            "attunexr must be complete (pass allow_missing=True to write n/a)"
        )
    cells = ["{:.10g}"] * values.shape[1]
    if with_time:
        cells.insert(0, "{:.9f}")
        values = np.column_stack([stream.timestamps, values])
    if values.shape[1] == 1:
        text = "\n".join(map("{:.10g}".format, values[:, 0].tolist()))
    else:
        fmt = "\t".join(cells).format
        text = "\n".join(fmt(*row) for row in values.tolist())
    text += "\n"
    if "nan" in text:
        text = text.replace("nan", "n/a")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(text.encode("ascii"))
    return buf.getvalue()


def _mean_rate(stream: Stream) -> float:
    span = float(stream.timestamps[-1] - stream.timestamps[0])
    return (stream.n_samples - 1) / span if stream.n_samples > 1 and span > 0 else 1.0


def _physio_sidecar(stream: Stream, columns: list[str], with_time: bool) -> dict[str, object]:
    side: dict[str, object] = {
        "SamplingFrequency": float(stream.rate) if stream.rate else round(_mean_rate(stream), 9),
        "StartTime": round(float(stream.timestamps[0]), 9),
        "Columns": ["timestamp", *columns] if with_time else columns,
    }
    if with_time:
        side["timestamp"] = {
            "Description": "Sample time on the recording clock (zero = events onset zero)",
            "Units": "s",
        }
    if stream.rate is None:
        side["IrregularSampling"] = True
    for col, ch in zip(columns, stream.channels or (None,), strict=False):
        what = f"{stream.kind} ({stream.name}{', channel ' + ch if ch else ''})"
        side[col] = {"Description": what, "Units": stream.unit}
    side["StreamName"] = stream.name
    if stream.device:
        side["ManufacturersModelName"] = stream.device
    return side


def _fmt(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.10g}"


def _events_rows(recording: Recording) -> list[tuple[float, list[str]]]:
    rows: list[tuple[float, list[str]]] = []
    for iv in recording.intervals:
        rows.append((iv.onset, [_fmt(iv.onset), _fmt(iv.duration), iv.label, "n/a"]))
    for ev in recording.events:
        rows.append((ev.onset, [_fmt(ev.onset), "0", ev.label, _fmt(ev.value)]))
    for _, cells in rows:
        for cell in cells:
            if "\t" in cell or "\n" in cell:
                raise ConfigurationError(
                    f"label {cell!r} contains a tab or newline; BIDS TSV cells cannot hold them"
                )
    rows.sort(key=lambda r: r[0])
    return rows


def _tsv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    if not rows:
        raise DataFormatError(path, "empty TSV file; expected a header row")
    return rows[0], rows[1:]


def _merge_tsv(path: Path, key: str, new: dict[str, dict[str, str]], drop_prefix: str | None = None) -> bytes:
    """Rows of the TSV at ``path`` (if any) updated with ``new`` (keyed by column ``key``).

    Existing rows whose key starts with ``drop_prefix`` and that are not in ``new`` are removed.
    """
    header, rows = ([key], []) if not path.exists() else _read_tsv(path)
    if key not in header:
        raise DataFormatError(path, f"has no {key!r} column")
    for values in new.values():
        header += [c for c in values if c not in header]
    table = {r[header.index(key)]: dict(zip(header, r, strict=False)) for r in rows}
    if drop_prefix is not None:
        table = {k: v for k, v in table.items() if k in new or not k.startswith(drop_prefix)}
    for k, values in new.items():
        table.setdefault(k, {key: k}).update(values)
    return _tsv(header, [[row.get(c, "n/a") for c in header] for row in table.values()])


def write_bids(
    recording: Recording,
    root: str | Path,
    *,
    subject: str | None = None,
    session: str | None = None,
    task: str | None = None,
    datatype: str = "beh",
    dataset_name: str | None = None,
    overwrite: bool = False,
    allow_missing: bool = False,
) -> list[Path]:
    """Write ``recording`` into the BIDS dataset at ``root`` (created if needed) and return the files written.

    Parameters
    ----------
    recording
        The recording; every stream, interval and event is written.
    root
        Dataset folder. An existing dataset keeps its ``dataset_description.json``; ``participants.tsv`` and the
        subject's ``scans.tsv`` gain rows.
    subject, session, task
        BIDS labels (letters and digits only). Defaults: ``recording.meta.subject``, ``recording.meta.session``,
        ``recording.meta.extra["task"]`` or the dataset name, else ``"physio"``.
    datatype
        Folder under the subject; ``"beh"`` for physiology recorded without imaging.
    dataset_name
        ``Name`` in a new ``dataset_description.json`` (default: the recording's dataset).
    overwrite
        Replace the files of an existing run with the same entities; otherwise that is an error.
    allow_missing
        Write NaN samples as ``n/a`` instead of refusing them. Eye-tracking kinds (gaze, pupil, head pose) may
        always hold ``n/a`` (blinks, lost tracking).

    Returns
    -------
    list of Path
        The files created or updated, in ``root``.

    Notes
    -----
    Follows the BIDS specification 1.9, sections "Physiological recordings" and "Task events"; the result passes
    the official ``bids-validator`` 1.x.
    """
    root = Path(root)
    sub = bids_label(subject if subject is not None else recording.meta.subject.removeprefix("sub-"))
    ses = bids_label(session if session is not None else recording.meta.session.removeprefix("ses-"))
    task_default = str(recording.meta.extra.get("task") or recording.meta.dataset or "physio")
    tsk = bids_label(task if task is not None else task_default)
    if not sub or not tsk:
        raise ConfigurationError(
            f"BIDS labels need letters or digits: subject {subject or recording.meta.subject!r}, task {tsk!r}"
        )
    if not datatype.isalnum():
        raise ConfigurationError(f"datatype {datatype!r} is not a BIDS datatype folder name")
    if not recording.streams and not recording.intervals and not recording.events:
        raise SignalError(f"recording {recording.meta.subject!r} is empty: nothing to write")

    subdir = Path(f"sub-{sub}") / (f"ses-{ses}" if ses else "")
    prefix = f"sub-{sub}" + (f"_ses-{ses}" if ses else "") + f"_task-{tsk}"
    files: dict[Path, bytes] = {}
    scans: dict[str, dict[str, str]] = {}
    used: set[str] = set()
    clock0 = recording.meta.start_time
    for stream in recording.streams.values():
        if stream.n_samples == 0:
            logger.warning("stream %r has no samples; not written to BIDS", stream.name)
            continue
        with_time = not _on_grid(stream)
        label = bids_label(stream.name) or stream.kind
        if label in used:
            raise ConfigurationError(f"two streams map to the BIDS label recording-{label}; rename one")
        used.add(label)
        columns = _columns(stream)
        base = subdir / datatype / f"{prefix}_recording-{label}_physio"
        data_name = base.with_name(base.name + ".tsv.gz")
        files[data_name] = _physio_bytes(stream, allow_missing, with_time)
        side = _physio_sidecar(stream, columns, with_time)
        files[base.with_name(base.name + ".json")] = (json.dumps(side, indent=2) + "\n").encode()
        if clock0 is not None:
            t = datetime.fromtimestamp(clock0 + float(stream.timestamps[0]), tz=UTC)
            scans[data_name.relative_to(subdir).as_posix()] = {
                "acq_time": t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            }

    rows = _events_rows(recording)
    events_name = subdir / datatype / f"{prefix}_events.tsv"
    files[events_name] = _tsv(["onset", "duration", "trial_type", "value"], [r for _, r in rows])
    events_side = {
        "onset": {"Description": "Seconds from clock zero of the recording", "Units": "s"},
        "duration": {"Description": "Length of a labelled interval; 0 for instants", "Units": "s"},
        "trial_type": {"Description": "Interval or event label"},
        "value": {"Description": "Value attached to an event (a rating, a marker code); n/a if none"},
    }
    files[events_name.with_suffix(".json")] = (json.dumps(events_side, indent=2) + "\n").encode()

    existing = [root / p for p in files if (root / p).exists()]
    if existing and not overwrite:
        raise DataFormatError(existing[0], "already exists; pass overwrite=True to replace this run")

    # dataset-level files
    description = root / "dataset_description.json"
    if description.exists():
        try:
            desc = json.loads(description.read_text())
        except json.JSONDecodeError as err:
            raise DataFormatError(description, f"is not valid JSON: {err}") from err
        if not isinstance(desc, dict) or "BIDSVersion" not in desc:
            raise DataFormatError(description, "has no BIDSVersion; is this folder a BIDS dataset?")
    else:
        desc = {
            "Name": dataset_name or recording.meta.dataset or "attunexr physiological recordings",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [{"Name": "attunexr", "Version": __version__}],
        }
        files[Path("dataset_description.json")] = (json.dumps(desc, indent=2) + "\n").encode()
    if not (root / "README").exists() and not (root / "README.md").exists():
        files[Path("README")] = (
            f"{desc.get('Name', 'Dataset')}\n\nPhysiological recordings written by attunexr {__version__} "
            "following BIDS (physio files under sub-*/[ses-*/]beh/).\n"
        ).encode()
    files[Path("participants.tsv")] = _merge_tsv(
        root / "participants.tsv", "participant_id", {f"sub-{sub}": {}}
    )
    if scans:
        scans_name = subdir / (f"sub-{sub}" + (f"_ses-{ses}" if ses else "") + "_scans.tsv")
        files[scans_name] = _merge_tsv(
            root / scans_name,
            "filename",
            scans,
            drop_prefix=f"{datatype}/{prefix}_recording-" if overwrite else None,
        )

    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".attunexr-staging-", dir=root))
    try:
        for rel, payload in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(payload)
        for rel in files:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, root / rel)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_root and not any(root.iterdir()):
            root.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    if overwrite:  # streams the replaced run had and this one has not
        for stale in (root / subdir / datatype).glob(f"{prefix}_recording-*_physio.*"):
            if stale.relative_to(root) not in files:
                logger.info("removing %s left from the replaced run", stale)
                stale.unlink()
    logger.info("wrote %d BIDS files for sub-%s into %s", len(files), sub, root)
    return [root / rel for rel in files]


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link an existing file into the staging copy (``write_bids`` replaces files, never edits them in
    place, so the original stays intact); copy where links are not possible."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_bids_all(recordings: Iterable[Recording], root: str | Path, **options: Any) -> list[Path]:
    """Write several recordings (e.g. every subject of a dataset) into one BIDS dataset, all or nothing.

    The recordings are written with :func:`write_bids` into a staging copy of ``root`` beside it; only when every
    one of them was read and written does the copy take the place of ``root``. If reading or writing any of them
    fails (a damaged file of a later subject, an existing run without ``overwrite``), ``root`` is left exactly as
    it was: a new dataset folder is not created, an existing one gains nothing.

    Parameters
    ----------
    recordings
        The recordings, or a generator that loads them one at a time (an error it raises rolls back too).
    root
        Dataset folder.
    **options
        Passed to :func:`write_bids` for every recording (``task``, ``overwrite``, ...).

    Returns
    -------
    list of Path
        The files created or updated, in ``root``.
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f"{root} exists and is not a folder; choose another output folder")
    parent = root.resolve().parent
    missing = [d for d in (parent, *parent.parents) if not d.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}.attunexr-export-", dir=parent))
    staging = work / "dataset"
    done = False
    try:
        if root.exists():
            shutil.copytree(root, staging, copy_function=_link_or_copy, symlinks=True)
        written: list[Path] = []
        for recording in recordings:
            written += write_bids(recording, staging, **options)
        if not written:
            raise SignalError("no recordings to write")
        if root.exists():
            old = work / "previous"
            os.replace(root, old)  # two renames on one file system: ``root`` is whole before and after
            os.replace(staging, root)
        else:
            os.replace(staging, root)
        done = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not done:
            for d in missing:  # folders created for the export go too (innermost first)
                with contextlib.suppress(OSError):
                    d.rmdir()
    logger.info("wrote %d BIDS files for %s", len(written), root)
    return [root / p.relative_to(staging) for p in dict.fromkeys(written)]
