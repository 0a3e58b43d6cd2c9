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
    """

    def __init__(
        self,
        recording: Recording,
        speed: float = 1.0,
        chunk_seconds: float = 1.0,
        streams: Iterable[str] | None = None,
        tmin: float | None = None,
        tmax: float | None = None,
    ) -> None:
        super().__init__()
        if not speed > 0:
            raise ConfigurationError(f"replay speed must be positive, got {speed!r}")
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
        self.speed = float(speed)
        self.chunk_seconds = float(chunk_seconds)
        self.stream_names = [n for n in names if recording.streams[n].n_samples]
        self.name = f"replay:{recording.meta.dataset}:{recording.meta.subject}"

    async def chunks(self) -> AsyncIterator[Chunk]:
        if not self._started:
            await self.start()
        t0 = self.recording.t_start
        wall0 = time.perf_counter()
        realtime = math.isfinite(self.speed)
        for chunk in self.recording.iter_chunks(self.chunk_seconds, self.stream_names):
            if self.stopped:
                return
            if realtime:
                due = wall0 + (chunk.t_last - t0) / self.speed
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            chunk.received_at = time.perf_counter()
            yield chunk
