"""Time-indexed sample buffers that grow at the end and are trimmed at the start (mne-lsl style ring buffers)."""

from __future__ import annotations

import numpy as np

from attunexr.signals import ArrayBuffer, FloatArray

__all__ = ["SampleBuffer"]


class SampleBuffer:
    """Timestamps plus named columns of processed samples.

    Offline, one buffer holds a whole stream; live, :meth:`trim_before` keeps only what open windows need.
    :attr:`t` and :attr:`cols` are views valid until the next :meth:`append`.
    """

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self._t = ArrayBuffer()
        self._cols = {c: ArrayBuffer() for c in columns}
        self.t: FloatArray = self._t.view
        self.cols: dict[str, FloatArray] = {c: b.view for c, b in self._cols.items()}

    def __len__(self) -> int:
        return len(self._t)

    def _refresh(self) -> None:
        self.t = self._t.view
        self.cols = {c: b.view for c, b in self._cols.items()}

    def append(self, t: FloatArray, cols: dict[str, FloatArray]) -> None:
        if t.size == 0:
            return
        self._t.append(t)
        for c, b in self._cols.items():
            b.append(cols[c])
        self._refresh()

    def trim_before(self, t: float) -> None:
        """Forget samples earlier than ``t``."""
        n = int(np.searchsorted(self.t, t, side="left"))
        if n:
            self._t.drop_front(n)
            for b in self._cols.values():
                b.drop_front(n)
            self._refresh()

    def bounds(self, t0: float, t1: float) -> tuple[int, int]:
        """Index range (into :attr:`t` and :attr:`cols`) of the samples with ``t0 <= t < t1``."""
        i0 = int(np.searchsorted(self.t, t0, side="left"))
        i1 = int(np.searchsorted(self.t, t1, side="left"))
        return i0, i1

    @property
    def first_t(self) -> float:
        return float(self.t[0]) if len(self) else float("nan")

    @property
    def last_t(self) -> float:
        return float(self.t[-1]) if len(self) else float("-inf")
