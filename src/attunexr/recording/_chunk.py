"""`Chunk`: a piece of one stream arriving live."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import SignalError

__all__ = ["Chunk"]


@dataclass(eq=False)
class Chunk:
    """Consecutive samples of one stream, as delivered by a live source.

    Parameters
    ----------
    stream
        Name of the stream it belongs to (e.g. ``"bvp"``).
    kind
        Stream kind (see :data:`attunexr.recording.STREAM_KINDS`).
    timestamps
        Sample times in seconds on the session clock, shape ``(n,)``.
    values
        Samples, shape ``(n,)`` or ``(n, n_channels)``.
    rate
        Nominal rate in Hz, ``None`` for irregular streams.
    received_at
        Monotonic time (``time.perf_counter()``) at which the chunk reached attunexr; used for latency figures.
    """

    stream: str
    kind: str
    timestamps: NDArray[np.float64]
    values: NDArray[np.float64]
    rate: float | None = None
    received_at: float = 0.0

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.timestamps.ndim != 1 or self.values.shape[:1] != self.timestamps.shape:
            raise SignalError(
                f"chunk of {self.stream!r}: {self.values.shape} values do not match {self.timestamps.shape} timestamps"
            )

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def t_first(self) -> float:
        return float(self.timestamps[0])

    @property
    def t_last(self) -> float:
        return float(self.timestamps[-1])
