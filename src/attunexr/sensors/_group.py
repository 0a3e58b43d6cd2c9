"""Several sensors driving one session as one source, on one clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from attunexr.errors import ConfigurationError
from attunexr.recording import Chunk
from attunexr.sensors._base import ChunkSource, Source

__all__ = ["SensorGroup"]

logger = logging.getLogger(__name__)


class SensorGroup(ChunkSource):
    """Several live sources (LSL streams, a BLE strap ...) merged into one source of a session.

    Every member gets the same clock zero when the group starts (read once from ``clock``; members whose
    ``clock_zero`` is already set keep theirs), so their chunks share one session clock. Starting fails, with the
    member's reason, when any member cannot start (a stream that is not on the network): a session does not begin
    without the sensors its plan names. Once running, a member that fails is logged in :attr:`errors` and the
    others go on: its streams then show as lost in the session's signal quality, never as zeros.

    Parameters
    ----------
    sources
        The members (at least one).
    name
        Name of the group in logs and on the dashboard, e.g. ``"LSL BVP, EDA"``.
    clock
        ``() -> now`` on the members' clock (:func:`attunexr.sensors.lsl_clock`, :func:`time.time` for BLE).
    """

    def __init__(self, sources: Sequence[Source], name: str = "sensors",
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        if not sources:
            raise ConfigurationError("a sensor group needs at least one source")
        self.sources = list(sources)
        self.name = name
        self.clock = clock
        self.errors: list[str] = []
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Open every member (a missing one fails the start with its reason), then pump their chunks."""
        if self._started:
            return
        if self.clock is not None:
            zero = float(self.clock())
            for src in self.sources:
                if hasattr(src, "clock_zero") and src.clock_zero is None:
                    src.clock_zero = zero
        started: list[Source] = []
        try:
            for src in self.sources:
                await src.start()
                started.append(src)
        except BaseException:
            for src in started:
                with contextlib.suppress(Exception):
                    await src.stop()
            raise
        await super().start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._pump(src), name=f"pump-{src.name}") for src in self.sources]

    async def _pump(self, src: Source) -> None:
        try:
            async for chunk in src.chunks():
                self._queue.put_nowait(chunk)
        except Exception as err:  # noqa: BLE001 - one sensor failing must not end the session; it shows as lost
            self.errors.append(f"{src.name}: {err}")
            logger.warning("sensor %s failed: %s", src.name, err)
        finally:
            self._queue.put_nowait(None)

    async def stop(self) -> None:
        for src in self.sources:
            with contextlib.suppress(Exception):
                await src.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await super().stop()
        self._queue.put_nowait(None)

    async def chunks(self) -> AsyncIterator[Chunk]:
        """The members' chunks in arrival order, until every member has ended or the group is stopped."""
        if not self._started:
            await self.start()
        running = len(self.sources)
        while running > 0 and not self.stopped:
            item = await self._queue.get()
            if item is None:
                running -= 1
                continue
            yield item
