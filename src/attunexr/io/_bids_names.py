"""BIDS naming shared by the BIDS reader and writer: entities, labels, physio column names.

Column names follow the BIDS physiological-recordings section (``cardiac``, ``respiratory``) and the names the
issue agreed on for wearables (``ppg``, ``eda``, ``temperature``, ``hr``, ``acc_x``/``acc_y``/``acc_z``).
"""

from __future__ import annotations

import re

from attunexr.recording import STREAM_KINDS

__all__ = [
    "BIDS_VERSION",
    "GAPS_ALLOWED",
    "COLUMN_KIND",
    "KIND_COLUMN",
    "RUN_ENTITIES",
    "bids_label",
    "column_kind",
    "parse_name",
]

#: The BIDS version written into ``dataset_description.json``.
BIDS_VERSION = "1.9.0"

#: Stream kind -> physio column name written for single-channel streams.
KIND_COLUMN: dict[str, str] = {
    "ecg": "cardiac",
    "ppg": "ppg",
    "eda": "eda",
    "resp": "respiratory",
    "temp": "temperature",
    "hr": "hr",
}

#: Recognised physio column names (and prefixes of ``<name>_<channel>`` columns) -> stream kind.
COLUMN_KIND: dict[str, str] = {
    "cardiac": "ecg",
    "ecg": "ecg",
    "ppg": "ppg",
    "pulse": "ppg",
    "eda": "eda",
    "respiratory": "resp",
    "resp": "resp",
    "temperature": "temp",
    "temp": "temp",
    "hr": "hr",
}

#: Stream kinds whose physio columns may hold ``n/a`` (eye trackers lose samples during blinks; BIDS eye-tracking
#: files write ``n/a`` there). Other signals must be complete unless the caller allows missing values.
GAPS_ALLOWED = frozenset({"gaze", "pupil", "head_pose"})

#: Entities that identify one run (all files of a run share them; physio files add ``recording``).
RUN_ENTITIES = ("sub", "ses", "task", "acq", "run")

_LABEL = re.compile(r"[^A-Za-z0-9]")


def bids_label(text: str) -> str:
    """``text`` reduced to the characters a BIDS label may hold (letters and digits)."""
    return _LABEL.sub("", text)


def parse_name(filename: str) -> tuple[dict[str, str], str, str]:
    """Split a BIDS file name into ``(entities, suffix, extension)``.

    ``sub-01_task-x_recording-ppg_physio.tsv.gz`` gives ``({"sub": "01", "task": "x", "recording": "ppg"},
    "physio", ".tsv.gz")``. Parts that are not ``key-value`` pairs are ignored except the last (the suffix).
    """
    stem, dot, ext = filename.partition(".")
    parts = stem.split("_")
    entities: dict[str, str] = {}
    for part in parts[:-1]:
        key, sep, value = part.partition("-")
        if sep and key and value:
            entities[key] = value
    return entities, parts[-1], dot + ext


def column_kind(column: str) -> tuple[str, str | None] | None:
    """The stream kind and channel of a physio column, or ``None`` if attunexr does not recognise it.

    ``"cardiac"`` -> ``("ecg", None)``; ``"acc_x"`` -> ``("acc", "x")``; ``"gaze_y"`` -> ``("gaze", "y")``.
    """
    if column in COLUMN_KIND:
        return COLUMN_KIND[column], None
    if column in STREAM_KINDS and column != "marker":
        return column, None
    for prefix in sorted({*COLUMN_KIND, *STREAM_KINDS}, key=len, reverse=True):
        if column.startswith(prefix + "_") and len(column) > len(prefix) + 1:
            kind = COLUMN_KIND.get(prefix, prefix)
            if kind == "marker":
                return None
            return kind, column[len(prefix) + 1 :]
    return None
