"""Replay a :class:`~attunexr.recording.Recording` as live chunks at 1x to Nx speed."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Iterable

from attunexr.errors import ConfigurationError
from attunexr.recording import Chunk, Recording
from attunexr.sensors._base import ChunkSource

__all__ = ["ReplaySource"]

logger = logging.getLogger(__name__)


class ReplaySource(ChunkSource):
    """Deliver a recording chunk by chunk, each when its last sample would have been measured.

    Parameters
    ----------
    recording
        Any recording (a dataset subject, a BIDS file, a finished session).
    speed
        1.0 = real time, 20.0 = twenty times faster, ``math.inf`` = as fast as the consumer takes them.
    chunk_seconds
        Seconds of signal per chunk (per stream), as a device would batch them.
    streams
        Names of the streams to replay (default: all).
    tmin, tmax
        Part of the recording to replay (recording clock).
    clock_zero
        Recording time that becomes 0 on the session clock (every timestamp is shifted by it); ``None`` keeps the
        recording's own clock. A clinician session replays on its session clock: ``clock_zero=tmin`` (or the
        recording's start).

    ``speed`` may change while the replay runs (a demo that speeds up after its warm-up): the pace changes from the
    next chunk on, nothing is skipped or repeated.
    """

    def __init__(
        self,
        recording: Recording,
        speed: float = 1.0,
        chunk_seconds: float = 1.0,
        streams: Iterable[str] | None = None,
        tmin: float | None = None,
        tmax: float | None = None,
        clock_zero: float | None = None,
    ) -> None:
        super().__init__()
        names = list(streams) if streams is not None else list(recording.streams)
        missing = [n for n in names if n not in recording.streams]
        if missing:
            raise ConfigurationError(
                f"recording has no stream(s) {missing}; it has {sorted(recording.streams)}"
            )
        if tmin is not None or tmax is not None:
            recording = recording.crop(
                recording.t_start if tmin is None else tmin, recording.t_end + 1 if tmax is None else tmax
            )
        self.recording = recording
        self._speed = 1.0
        self.speed = speed
        self.clock_zero = clock_zero
        self._anchor: tuple[float, float] | None = None  # (recording time, wall time) the pace counts from
        self.chunk_seconds = float(chunk_seconds)
        self.stream_names = [n for n in names if recording.streams[n].n_samples]
        self.name = f"replay:{recording.meta.dataset}:{recording.meta.subject}"

    @property
    def speed(self) -> float:
        """Recording seconds delivered per wall-clock second (``math.inf``: as fast as they are taken)."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not value > 0:
            raise ConfigurationError(f"replay speed must be positive, got {value!r}")
        self._speed = float(value)
        self._anchor = None  # the next chunk re-anchors the pace

    async def chunks(self) -> AsyncIterator[Chunk]:
        if not self._started:
            await self.start()
        t_prev = self.recording.t_start
        zero = self.clock_zero
        for chunk in self.recording.iter_chunks(self.chunk_seconds, self.stream_names):
            if self.stopped:
                return
            if math.isfinite(self._speed):
                if self._anchor is None:
                    self._anchor = (t_prev, time.perf_counter())
                t_ref, wall_ref = self._anchor
                delay = wall_ref + (chunk.t_last - t_ref) / self._speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            t_prev = chunk.t_last
            if zero is not None:
                chunk = Chunk(chunk.stream, chunk.kind, chunk.timestamps - zero, chunk.values, chunk.rate)
            chunk.received_at = time.perf_counter()
            yield chunk
