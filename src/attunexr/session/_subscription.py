"""Per-subscriber bounded queues: a slow subscriber loses its oldest messages, never stalls the pipeline."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

__all__ = ["ALL_TOPICS", "Subscription"]

#: Topics a subscriber can ask for.
ALL_TOPICS = frozenset(
    {"estimate", "samples", "quality", "event", "command", "decision", "ack", "status", "end"}
)
#: Topics that are never dropped (commands must reach the VR client, the end must be seen).
CRITICAL_TOPICS = frozenset({"command", "end"})


class Subscription:
    """A bounded mailbox of JSON-ready messages for one subscriber (dashboard, VR client ...).

    When full, the oldest non-critical message is dropped and counted (``dropped``, ``dropped_samples``);
    commands and the end message are always kept.
    """

    def __init__(self, name: str, topics: Iterable[str], maxsize: int = 256) -> None:
        self.name = name
        self.topics = frozenset(topics)
        self.maxsize = maxsize
        self.dropped = 0
        self.dropped_samples = 0
        self.closed = False
        self._queue: deque[dict[str, Any]] = deque()
        self._critical: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()

    def offer(self, topic: str, message: dict[str, Any]) -> None:
        if self.closed or topic not in self.topics:
            return
        if topic in CRITICAL_TOPICS:
            self._critical.append(message)
        else:
            if len(self._queue) >= self.maxsize:
                old = self._queue.popleft()
                self.dropped += 1
                self.dropped_samples += int(old.get("n", 0)) if old.get("type") == "samples" else 0
            self._queue.append(message)
        self._ready.set()

    def get_nowait(self) -> dict[str, Any] | None:
        if self._critical:
            return self._critical.popleft()
        if self._queue:
            return self._queue.popleft()
        self._ready.clear()
        return None

    async def get(self) -> dict[str, Any] | None:
        """Next message, or ``None`` once the subscription is closed and empty."""
        while True:
            msg = self.get_nowait()
            if msg is not None:
                return msg
            if self.closed:
                return None
            await self._ready.wait()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def __len__(self) -> int:
        return len(self._queue) + len(self._critical)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            msg = await self.get()
            if msg is None:
                return
            yield msg
