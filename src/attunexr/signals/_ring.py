"""A growable sample buffer: append at the end, drop from the front, amortised O(1) per sample.

Live buffers hold the last minute or so of a stream; concatenating a new array on every chunk would copy the whole
minute each time. This buffer writes new samples into spare capacity and compacts (moves the live part to the
front) only when the capacity runs out, so each sample is copied a bounded number of times.
"""

from __future__ import annotations

import numpy as np

from attunexr.signals._types import FloatArray

__all__ = ["ArrayBuffer"]


class ArrayBuffer:
    """One-dimensional float buffer.

    :attr:`view` is a view of the live samples; it is valid until the next :meth:`append` (which may move data).
    """

    def __init__(self, capacity: int = 256) -> None:
        self._a: FloatArray = np.empty(max(16, capacity), dtype=np.float64)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def view(self) -> FloatArray:
        return self._a[self._start : self._end]

    def append(self, x: FloatArray) -> None:
        k = int(x.shape[0])
        if self._end + k > self._a.shape[0]:
            live = self._end - self._start
            need = live + k
            if need > self._a.shape[0] // 2:
                new = np.empty(max(2 * need, 16), dtype=np.float64)
                new[:live] = self._a[self._start : self._end]
                self._a = new
            else:
                self._a[:live] = self._a[self._start : self._end].copy()
            self._start, self._end = 0, live
        self._a[self._end : self._end + k] = x
        self._end += k

    def drop_front(self, n: int) -> None:
        """Forget the first ``n`` live samples."""
        self._start = min(self._end, self._start + max(0, n))
