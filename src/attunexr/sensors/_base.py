"""The one async source interface every live sensor implements, and sources built from queues and iterators."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Protocol, runtime_checkable

from attunexr.errors import ConfigurationError
from attunexr.recording import Chunk

__all__ = ["ChunkSource", "IteratorSource", "QueueSource", "Source"]

logger = logging.getLogger(__name__)


@runtime_checkable
class Source(Protocol):
    """A live source of :class:`~attunexr.recording.Chunk` objects on the session clock.

    ``start`` opens the device or connection, ``chunks`` yields chunks until the source ends or ``stop`` is called.
    Implementations are interchangeable: a session does not know whether chunks come from LSL, Bluetooth, a VR
    client, a file or a simulator.
    """

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def chunks(self) -> AsyncIterator[Chunk]: ...


class ChunkSource(abc.ABC):
    """Base class with the ``start``/``stop`` bookkeeping shared by the sources."""

    name: str = "source"

    def __init__(self) -> None:
        self._started = False
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @abc.abstractmethod
    def chunks(self) -> AsyncIterator[Chunk]:
        """The chunks of this source, in arrival order, until it stops."""

    async def __aenter__(self) -> ChunkSource:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class IteratorSource(ChunkSource):
    """Wrap any (async) iterable of chunks, e.g. a virtual patient from :mod:`attunexr.simulation`.

    Parameters
    ----------
    chunks
        An async iterable or a plain iterable of :class:`Chunk`.
    name
        Name of the source in logs.
    """

    def __init__(self, chunks: AsyncIterable[Chunk] | Iterable[Chunk], name: str = "iterator") -> None:
        super().__init__()
        self._it = chunks
        self.name = name

    async def chunks(self) -> AsyncIterator[Chunk]:
        if not self._started:
            await self.start()
        if isinstance(self._it, AsyncIterable):
            async for chunk in self._it:
                if self.stopped:
                    return
                if not chunk.received_at:
                    chunk.received_at = time.perf_counter()
                yield chunk
        else:
            for chunk in self._it:
                if self.stopped:
                    return
                if not chunk.received_at:
                    chunk.received_at = time.perf_counter()
                yield chunk
                await asyncio.sleep(0)


_END = object()


class QueueSource(ChunkSource):
    """A source fed by ``put`` calls from elsewhere (a WebSocket handler, a thread via ``put_threadsafe``).

    Parameters
    ----------
    maxsize
        Bound of the queue; ``put`` waits when it is full (back-pressure), it never drops.
    """

    def __init__(self, name: str = "queue", maxsize: int = 1024) -> None:
        super().__init__()
        if maxsize < 1:
            raise ConfigurationError("QueueSource maxsize must be at least 1")
        self.name = name
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        if self._started:
            return  # idempotent: a session may start an already started source
        await super().start()
        self._loop = asyncio.get_running_loop()

    async def put(self, chunk: Chunk) -> None:
        if not chunk.received_at:
            chunk.received_at = time.perf_counter()
        await self._queue.put(chunk)

    def put_threadsafe(self, chunk: Chunk) -> None:
        """Hand a chunk over from another thread (blocks that thread while the queue is full)."""
        if self._loop is None:
            raise ConfigurationError("start the QueueSource before feeding it from a thread")
        asyncio.run_coroutine_threadsafe(self.put(chunk), self._loop).result()

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_END)

    async def chunks(self) -> AsyncIterator[Chunk]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            assert isinstance(item, Chunk)
            yield item
            if self.stopped and self._queue.empty():
                return
