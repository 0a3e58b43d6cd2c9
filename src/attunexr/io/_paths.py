"""Where the real datasets live: ``--data-dir``, then ``ATTUNEXR_DATA``, then ``../shared/data`` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

from attunexr.errors import DatasetNotFoundError

__all__ = ["data_root", "dataset_dir"]

_CHECKOUT = Path(__file__).resolve().parents[3]


def data_root(data_dir: str | Path | None = None) -> Path:
    """The folder that holds the datasets (it may not exist; :func:`dataset_dir` checks)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("ATTUNEXR_DATA")
    if env:
        return Path(env).expanduser()
    for candidate in (_CHECKOUT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return _CHECKOUT.parent / "shared" / "data"


def dataset_dir(folder: str, data_dir: str | Path | None = None, *, origin: str = "", how: str = "") -> Path:
    """The folder of one dataset, or a :class:`DatasetNotFoundError` saying where it comes from."""
    root = data_root(data_dir)
    path = root / folder
    if not path.is_dir():
        hint = f" It comes from {origin}." if origin else ""
        todo = f" {how}" if how else ""
        raise DatasetNotFoundError(
            f"dataset folder {path} does not exist.{hint}{todo} "
            f"Point attunexr at it with --data-dir DIR or the ATTUNEXR_DATA environment variable."
        )
    return path
