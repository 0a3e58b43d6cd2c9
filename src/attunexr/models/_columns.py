"""Column access over feature rows held as a DataFrame (offline) or as mappings (a live session's new rows).

A live session gets one feature row per hop and estimates it at once; building a one-row DataFrame and reading
columns back through pandas costs more than the model itself. The detector reads its inputs through
:class:`Columns`, so the offline table and the live rows take the same code path and give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from attunexr.models._design import KEY_COLUMNS, recording_keys


class Columns(Protocol):
    """Read-only access to named columns of ``len(self)`` rows."""

    def __len__(self) -> int: ...

    def __contains__(self, name: object) -> bool: ...

    def floats(self, names: Sequence[str]) -> NDArray[np.float64]:
        """An ``(n, len(names))`` float matrix (an error if a value is not a number)."""
        ...

    def numeric(self, name: str) -> NDArray[np.float64]:
        """One column as floats; a value that is not a number becomes NaN."""
        ...

    def text(self, name: str) -> NDArray[np.object_]:
        """One column as strings."""
        ...

    def flags(self, name: str) -> NDArray[np.bool_]:
        """One column as booleans; a missing value is ``False``."""
        ...

    def keys(self) -> NDArray[np.object_]:
        """One key per row naming its recording (see :func:`attunexr.models._design.recording_keys`)."""
        ...


def _numeric(df: pd.DataFrame, col: str) -> NDArray[np.float64]:
    """Column ``col`` as floats; text that is not a number becomes NaN (fast path for numeric columns)."""
    s = df[col]
    if pd.api.types.is_numeric_dtype(s.dtype):
        return np.asarray(s.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    return np.asarray(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan), dtype=float)


class FrameColumns:
    """:class:`Columns` of a feature table."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def __len__(self) -> int:
        return len(self.df)

    def __contains__(self, name: object) -> bool:
        return name in self.df.columns

    def floats(self, names: Sequence[str]) -> NDArray[np.float64]:
        return np.asarray(self.df[list(names)].to_numpy(dtype=float), dtype=float)

    def numeric(self, name: str) -> NDArray[np.float64]:
        return _numeric(self.df, name)

    def text(self, name: str) -> NDArray[np.object_]:
        return np.asarray(self.df[name].astype(str).to_numpy(), dtype=object)

    def flags(self, name: str) -> NDArray[np.bool_]:
        return np.asarray(self.df[name].fillna(False).astype(bool).to_numpy(), dtype=bool)

    def keys(self) -> NDArray[np.object_]:
        return recording_keys(self.df)


def as_columns(rows: pd.DataFrame | Columns) -> Columns:
    """``rows`` as :class:`Columns` (a feature table is wrapped, column access passes through)."""
    return FrameColumns(rows) if isinstance(rows, pd.DataFrame) else rows


def _float(v: object) -> float:
    if v is None:
        return math.nan
    return float(v)  # type: ignore[arg-type]


def _coerce(v: object) -> float:
    try:
        return _float(v)
    except (TypeError, ValueError):
        return math.nan


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


class RecordColumns:
    """:class:`Columns` of feature rows given as mappings (a column missing from a row reads as missing)."""

    def __init__(self, rows: Sequence[Mapping[str, object]]) -> None:
        self.rows = rows
        self._names: set[str] = set().union(*(r.keys() for r in rows)) if rows else set()

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def floats(self, names: Sequence[str]) -> NDArray[np.float64]:
        out = np.empty((len(self.rows), len(names)), dtype=float)
        for i, r in enumerate(self.rows):
            out[i] = [_float(r.get(c)) for c in names]
        return out

    def numeric(self, name: str) -> NDArray[np.float64]:
        return np.array([_coerce(r.get(name)) for r in self.rows], dtype=float)

    def text(self, name: str) -> NDArray[np.object_]:
        return np.array([str(r.get(name, math.nan)) for r in self.rows], dtype=object)

    def flags(self, name: str) -> NDArray[np.bool_]:
        return np.array([False if _missing(v := r.get(name)) else bool(v) for r in self.rows], dtype=bool)

    def keys(self) -> NDArray[np.object_]:
        cols = [c for c in KEY_COLUMNS if c in self._names]
        if not cols:
            return np.full(len(self.rows), "recording", dtype=object)
        return np.array(["/".join(str(r.get(c, math.nan)) for c in cols) for r in self.rows], dtype=object)
