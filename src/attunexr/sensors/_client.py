"""Samples a VR client (or a sensor bridge) sends over the VR-client protocol, as a session source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from attunexr.recording import Chunk
from attunexr.sensors._base import QueueSource

__all__ = ["ClientSource"]


class ClientSource(QueueSource):
    """Signals pushed by the VR client or a sensor bridge (protocol ``samples`` messages) into a session.

    Chunks arrive on the client's clock; the first one fixes the offset to the session clock (``session_clock()``
    when it arrives), so later chunks keep their relative timing. A client catching up (a burst of recorded
    seconds) is handed on one chunk at a time, so the session's processing never holds up the event loop that
    serves the client's own connection. When nothing arrives the session shows the
    streams as lost (signal quality), never as zeros. :meth:`put` waits while the queue is full: a client that
    sends faster than the session processes is slowed down, nothing is dropped.

    Parameters
    ----------
    session_clock
        ``() -> now`` on the session clock (the session's seconds since its start); ``None``: 0.
    """

    def __init__(self, session_clock: Callable[[], float] | None = None, name: str = "vr-client",
                 maxsize: int = 4096) -> None:
        super().__init__(name=name, maxsize=maxsize)
        self.session_clock = session_clock
        self.offset: float | None = None

    async def put(self, chunk: Chunk) -> None:
        """Hand over one chunk (client clock); it enters the session on the session clock."""
        if self.offset is None:
            now = float(self.session_clock()) if self.session_clock is not None else 0.0
            self.offset = chunk.t_first - now
        await super().put(Chunk(chunk.stream, chunk.kind, chunk.timestamps - self.offset, chunk.values,
                                chunk.rate, chunk.received_at))

    async def chunks(self) -> AsyncIterator[Chunk]:
        async for chunk in super().chunks():
            yield chunk
            await asyncio.sleep(0)  # let the session process it before the next one (no burst on the loop)
