"""Sources whose signals respond to the exposure: a simulator stepped one second at a time."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

from attunexr.errors import ConfigurationError
from attunexr.recording import Chunk
from attunexr.sensors._base import ChunkSource

__all__ = ["ExposureDriven", "SteppedSource"]

#: ``step(t, level, paused) -> chunks of [t, t + 1)`` on the session clock, or ``None`` when the source has ended.
StepFn = Callable[[float, int, bool], "list[Chunk] | None"]


@runtime_checkable
class ExposureDriven(Protocol):
    """A source whose signals depend on the exposure (a virtual patient): the session tells it the level and
    whether the exposure is paused (the safe scene)."""

    def set_level(self, level: int) -> None: ...

    def set_paused(self, paused: bool) -> None: ...


class SteppedSource(ChunkSource):
    """Chunks made one second at a time by ``step(t, level, paused)``, delivered at ``speed`` x real time.

    The simulator hook for sources that respond to the exposure: the session calls :meth:`set_level` and
    :meth:`set_paused`, and each following second is made with the new values. Second ``t`` is delivered when
    its end would have been measured (``t + 1`` session seconds after the start, divided by ``speed``). ``step``
    runs in a worker thread, so a slow simulator never holds up the event loop that serves the session.

    Parameters
    ----------
    step
        Makes the chunks of one second, or returns ``None`` when the source has ended.
    speed
        Session seconds per wall-clock second (1.0 = real time, ``math.inf`` = as fast as they are taken); may
        change while running (the pace changes from the next second on).
    level, name
        The level at the start, and the source's name in logs.
    """

    def __init__(self, step: StepFn, *, speed: float = 1.0, level: int = 0, name: str = "stepped") -> None:
        super().__init__()
        self.step = step
        self.level = int(level)
        self.paused = False
        self.name = name
        self._speed = 1.0
        self.speed = speed
        self._anchor: tuple[float, float] | None = None

    @property
    def speed(self) -> float:
        """Session seconds per wall-clock second."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not value > 0:
            raise ConfigurationError(f"speed must be positive, got {value!r}")
        self._speed = float(value)
        self._anchor = None

    def set_level(self, level: int) -> None:
        self.level = int(level)

    def set_paused(self, paused: bool) -> None:
        self.paused = bool(paused)

    async def chunks(self) -> AsyncIterator[Chunk]:
        if not self._started:
            await self.start()
        t = 0.0
        while not self.stopped:
            if math.isfinite(self._speed):
                if self._anchor is None:
                    self._anchor = (t, time.perf_counter())
                t_ref, wall_ref = self._anchor
                delay = wall_ref + (t + 1.0 - t_ref) / self._speed - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            if self.stopped:
                return
            # a simulator's step may take a while (waveforms for a block of seconds): off the event loop
            out = await asyncio.to_thread(self.step, t, self.level, self.paused)
            if out is None:
                return
            now = time.perf_counter()
            for chunk in out:
                chunk.received_at = now
                yield chunk
            t += 1.0
