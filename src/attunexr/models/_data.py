"""Feature tables for training and evaluation, extracted with :mod:`attunexr.features` and cached on disk.

The cache file name holds a hash of the dataset, the window grid, the subjects and the source code of the
``io``, ``signals`` and ``features`` packages, so any code change re-extracts. The cache lives under
``$ATTUNEXR_CACHE/features`` (default ``~/.cache/attunexr/features``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

import attunexr
from attunexr.errors import ModelError
from attunexr.features import extract
from attunexr.recording import Recording

__all__ = [
    "CONTAINER_LABELS",
    "add_time_in_vr",
    "relabel_contained",
    "cache_dir",
    "code_fingerprint",
    "extract_table",
    "feature_table",
]

logger = logging.getLogger(__name__)

_CODE_PACKAGES = ("io", "signals", "features", "recording")


def cache_dir() -> Path:
    """Feature cache folder: ``$ATTUNEXR_CACHE/features`` or ``~/.cache/attunexr/features``."""
    root = os.environ.get("ATTUNEXR_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "attunexr"
    return base / "features"


def code_fingerprint() -> str:
    """Hash of the attunexr version and the source of the packages that shape a feature table."""
    h = hashlib.sha256(attunexr.__version__.encode() if hasattr(attunexr, "__version__") else b"")
    pkg_root = Path(attunexr.__file__).parent
    for pkg in _CODE_PACKAGES:
        for path in sorted((pkg_root / pkg).rglob("*.py")):
            h.update(str(path.relative_to(pkg_root)).encode())
            h.update(path.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def add_time_in_vr(table: pd.DataFrame, rec: Recording) -> pd.DataFrame:
    """Add ``time_in_vr`` = window end minus the onset of the recording's ``vr`` interval (NaN without one)."""
    onsets = [iv.onset for iv in rec.intervals if iv.label == "vr"]
    start = min(onsets) if onsets else np.nan
    table = table.copy()
    table["time_in_vr"] = table["t_end"].to_numpy(dtype=float) - start
    return table


#: Interval labels that span a whole exposure and contain the labelled states (never a class of their own).
CONTAINER_LABELS = frozenset({"vr"})


def relabel_contained(table: pd.DataFrame, rec: Recording, min_fraction: float = 0.5) -> pd.DataFrame:
    """Give windows labelled with a container interval (e.g. the whole ``vr`` ride) the label of the state
    interval (e.g. ``sick``/``not_sick``) covering at least ``min_fraction`` of the window, when there is one."""
    inner = [iv for iv in rec.intervals if iv.label not in CONTAINER_LABELS]
    if not inner or "label" not in table.columns:
        return table
    labels = table["label"].astype(object).to_numpy().copy()
    t0 = table["t_start"].to_numpy(dtype=float)
    t1 = table["t_end"].to_numpy(dtype=float)
    for i in np.flatnonzero(pd.Series(labels).isin(CONTAINER_LABELS).to_numpy() | pd.isna(labels)):
        best, cover = None, 0.0
        for iv in inner:
            c = iv.overlap(t0[i], t1[i])
            if c > cover:
                best, cover = iv.label, c
        if best is not None and cover >= min_fraction * (t1[i] - t0[i]):
            labels[i] = best
    table = table.copy()
    table["label"] = labels
    return table


def extract_table(
    recordings: Iterable[Recording],
    window: float,
    hop: float,
    on_recording: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Feature rows of every recording (``attunexr.features.extract``) plus ``time_in_vr``."""
    parts = []
    for rec in recordings:
        table = extract(rec, window=window, hop=hop)
        parts.append(add_time_in_vr(relabel_contained(table, rec), rec))
        if on_recording is not None:
            on_recording(rec.meta.subject)
    if not parts:
        raise ModelError("no recordings to extract features from")
    return pd.concat(parts, ignore_index=True)


def _subject_table(
    dataset: str, subject: str, data_dir: str | Path | None, window: float, hop: float
) -> pd.DataFrame:
    """Feature rows of one subject's recordings (a unit of work for a worker process)."""
    from attunexr.io.datasets import load_recordings

    return extract_table(load_recordings(dataset, subjects=[subject], data_dir=data_dir), window, hop)


def feature_table(
    dataset: str,
    window: float,
    hop: float,
    data_dir: str | Path | None = None,
    subjects: list[str] | None = None,
    cache: bool = True,
    on_recording: Callable[[str], None] | None = None,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, bool]:
    """The feature table of a dataset and whether it came from the cache.

    Parameters
    ----------
    dataset
        Dataset name for :func:`attunexr.io.datasets.load_recordings`.
    window, hop
        Window length and hop in seconds.
    subjects
        Restrict to these subjects (default: all).
    cache
        Read/write the on-disk cache.
    n_jobs
        Extract this many subjects at once in worker processes (joblib); the table is the same, in the same order.
    """
    from attunexr.io.datasets import get_dataset, load_recordings

    ds = get_dataset(dataset)
    subj = subjects if subjects is not None else ds.subjects(data_dir)
    key = hashlib.sha256(
        repr(
            (dataset, float(window), float(hop), sorted(subj), str(ds.root(data_dir)), code_fingerprint())
        ).encode()
    ).hexdigest()[:16]
    path = cache_dir() / f"{dataset}-{key}.parquet"
    if cache and path.is_file():
        logger.info("features of %s from cache %s", dataset, path)
        return pd.read_parquet(path), True
    if n_jobs > 1 and len(subj) > 1:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_subject_table)(dataset, s, data_dir, window, hop) for s in subj
        )
        tables = []
        for s, part in zip(subj, parts, strict=True):
            tables.append(part)
            if on_recording is not None:
                on_recording(s)
        table = pd.concat(tables, ignore_index=True)
    else:
        table = extract_table(
            load_recordings(dataset, subjects=subj, data_dir=data_dir), window, hop, on_recording
        )
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        table.to_parquet(tmp)
        os.replace(tmp, path)
        logger.info("cached features of %s in %s", dataset, path)
    return table, False
