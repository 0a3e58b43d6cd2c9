"""Offline driver: features of a whole recording on the window grid."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from attunexr.errors import SignalError
from attunexr.features._columns import FEATURE_COLUMNS, ID_COLUMNS, QUALITY_COLUMNS
from attunexr.features._grid import check_grid, first_index, window_end
from attunexr.features._processors import StreamProcessor, make_processor
from attunexr.features._window import compute_features
from attunexr.recording import Recording

__all__ = ["extract", "extract_many", "processors_for"]

logger = logging.getLogger(__name__)

_ALL_COLUMNS = list(ID_COLUMNS) + list(FEATURE_COLUMNS) + list(QUALITY_COLUMNS)
_TEXT_COLUMNS = ("dataset", "subject", "session", "label")


def _empty_table() -> pd.DataFrame:
    """A table with no window but the column types of one with windows (floats, text, a boolean flag).

    Without them every column would be ``object``, and pandas (3.x) concatenation then turns the float columns of the
    other recordings into ``object`` too, breaking numeric code downstream (``np.isfinite`` on the column).
    """
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in _ALL_COLUMNS})
    for c in _TEXT_COLUMNS:
        frame[c] = frame[c].astype(str)
    frame["quality_ok"] = frame["quality_ok"].astype(bool)
    return frame


def processors_for(recording: Recording) -> dict[str, StreamProcessor]:
    """Run each stream (the first of each kind) through its processing stage once, whole."""
    procs: dict[str, StreamProcessor] = {}
    for stream in recording.streams.values():
        if stream.kind in procs or stream.n_samples == 0:
            continue
        proc = make_processor(stream.name, stream.kind, stream.rate)
        if proc is None:
            continue
        proc.update(stream.timestamps, stream.values)
        if proc.n_seen:
            procs[stream.kind] = proc
    return procs


def extract(
    recording: Recording, window: float = 60.0, hop: float = 10.0, origin: float = 0.0
) -> pd.DataFrame:
    """Features of every window of a recording.

    Windows are ``[t_end - window, t_end)`` with ``t_end = origin + window + k * hop`` (seconds on the recording
    clock), from the first window ending after the first sample to the last one ending by the end of the data.
    :class:`attunexr.features.FeatureStream` fed the same data chunk by chunk emits the same rows.

    Parameters
    ----------
    recording
        The recording.
    window, hop
        Window length and step in seconds.
    origin
        Grid origin on the recording clock.

    Returns
    -------
    pandas.DataFrame
        One row per window: :data:`ID_COLUMNS`, :data:`FEATURE_COLUMNS`, :data:`QUALITY_COLUMNS`. ``label`` is the
        interval label covering at least half the window (``None`` otherwise).
    """
    check_grid(window, hop, origin)
    procs = processors_for(recording)
    meta = recording.meta
    if not procs:
        raise SignalError(
            f"recording {meta.dataset}:{meta.subject} has no stream attunexr can compute features from "
            f"(kinds present: {sorted(recording.kinds())})"
        )
    t_first = min(p.first_t for p in procs.values())
    t_last = max(p.end_t for p in procs.values())
    rows: list[dict[str, object]] = []
    k = first_index(origin, window, hop, t_first)
    while (t_end := window_end(origin, window, hop, k)) <= t_last + 1e-9:
        t_start = t_end - window
        row: dict[str, object] = {
            "dataset": meta.dataset,
            "subject": meta.subject,
            "session": meta.session,
            "t_start": t_start,
            "t_end": t_end,
            "label": recording.window_label(t_start, t_end),
        }
        row.update(compute_features(procs, t_start, t_end))
        rows.append(row)
        k += 1
    logger.info("%s:%s: %d windows", meta.dataset, meta.subject, len(rows))
    if not rows:
        return _empty_table()
    return pd.DataFrame(rows, columns=_ALL_COLUMNS)


def _extract_args(args: tuple[Recording, float, float]) -> pd.DataFrame:
    return extract(args[0], args[1], args[2])


def extract_many(
    recordings: Iterable[Recording],
    window: float = 60.0,
    hop: float = 10.0,
    n_jobs: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Features of many recordings, concatenated (one :func:`extract` per recording).

    Parameters
    ----------
    recordings
        Recordings (a list or a lazy iterable such as :func:`attunexr.io.datasets.load_recordings`).
    window, hop
        Window length and step in seconds.
    n_jobs
        Worker processes (1 = in this process).
    progress
        Show a rich progress bar on stderr.
    """
    check_grid(window, hop, 0.0)
    recs: Sequence[Recording] = recordings if isinstance(recordings, Sequence) else list(recordings)
    frames: list[pd.DataFrame] = []
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("features", total=len(recs))
        if n_jobs > 1 and len(recs) > 1:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                for frame in pool.map(_extract_args, [(r, window, hop) for r in recs]):
                    frames.append(frame)
                    bar.advance(task)
        else:
            for rec in recs:
                frames.append(extract(rec, window, hop))
                bar.advance(task)
    frames = [f for f in frames if len(f)] or [_empty_table()]
    return pd.concat(frames, ignore_index=True)
