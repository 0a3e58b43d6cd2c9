"""Per-stream ordering, gap and lateness bookkeeping, and a short ring buffer of recent samples.

Chunks may arrive late or out of order (several transports, retries). A regular stream's chunk that starts after
a hole is held for up to ``reorder_timeout`` seconds (or until ``reorder_window`` seconds of signal are waiting) so a
late chunk can fill the hole; then it is released and the hole becomes a *gap* in the stream's quality. Samples
older than what was already released are *late*: they are recorded but never fed to features twice.
Nothing is ever zero-filled.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attunexr.recording import Chunk

__all__ = ["StreamBuffer"]

_seq = itertools.count()


@dataclass
class StreamBuffer:
    """Ordering and quality state of one stream in a live session."""

    name: str
    kind: str
    rate: float | None
    reorder_timeout: float = 0.25
    reorder_window: float = 2.0
    keep_seconds: float = 30.0
    last_t: float | None = None
    last_arrival: float = 0.0
    n_samples: int = 0
    late_samples: int = 0
    gaps: list[tuple[float, float]] = field(default_factory=list)
    stale: bool = False
    _held: list[tuple[float, int, float, Chunk]] = field(default_factory=list)
    _recent: deque[Chunk] = field(default_factory=deque)

    @property
    def gap_seconds(self) -> float:
        return float(sum(b - a for a, b in self.gaps))

    def _tolerance(self) -> float:
        return 1.5 / self.rate + 0.01 if self.rate else float("inf")

    def _accept(self, chunk: Chunk, out: list[Chunk], gap_events: list[tuple[float, float]]) -> None:
        if self.last_t is not None and not self.rate:
            # irregular (beats, events): no holes to detect; the feature driver sorts in what is late
            self.late_samples += int((chunk.timestamps <= self.last_t).sum())
        elif self.last_t is not None:
            if chunk.t_last <= self.last_t:
                self.late_samples += len(chunk)
                return
            if chunk.t_first <= self.last_t:
                keep = chunk.timestamps > self.last_t
                self.late_samples += int((~keep).sum())
                chunk = Chunk(
                    chunk.stream,
                    chunk.kind,
                    chunk.timestamps[keep],
                    chunk.values[keep],
                    chunk.rate,
                    chunk.received_at,
                )
            elif self.rate and chunk.t_first - self.last_t > self._tolerance():
                gap = (self.last_t + 1.0 / self.rate, chunk.t_first)
                self.gaps.append(gap)
                gap_events.append(gap)
        self.last_t = chunk.t_last if self.last_t is None else max(self.last_t, chunk.t_last)
        self.n_samples += len(chunk)
        out.append(chunk)
        self._recent.append(chunk)
        while self._recent and self._recent[0].t_last < chunk.t_last - self.keep_seconds:
            self._recent.popleft()

    def push(self, chunk: Chunk, now: float | None = None) -> tuple[list[Chunk], list[tuple[float, float]]]:
        """Take a chunk; return the chunks that are ready in time order and any gaps found."""
        now = time.monotonic() if now is None else now
        self.last_arrival = now
        self.stale = False
        if not np.all(np.diff(chunk.timestamps) >= 0):
            order = np.argsort(chunk.timestamps, kind="stable")
            chunk = Chunk(
                chunk.stream,
                chunk.kind,
                chunk.timestamps[order],
                chunk.values[order],
                chunk.rate,
                chunk.received_at,
            )
        out: list[Chunk] = []
        gaps: list[tuple[float, float]] = []
        if self.rate and (
            (self.last_t is None and (self.reorder_timeout > 0 or self._held))
            or (self.last_t is not None and chunk.t_first - self.last_t > self._tolerance())
        ):
            # a hole before this chunk (or the very first chunk): wait briefly for what belongs before it
            heapq.heappush(self._held, (chunk.t_first, next(_seq), now, chunk))
        else:
            self._accept(chunk, out, gaps)
        self._release(now, out, gaps, force=False)
        return out, gaps

    def _release(self, now: float, out: list[Chunk], gaps: list[tuple[float, float]], force: bool) -> None:
        while self._held:
            t_first, _, arrived, chunk = self._held[0]
            contiguous = self.last_t is not None and t_first - self.last_t <= self._tolerance()
            waited_out = now - arrived >= self.reorder_timeout
            ref = self.last_t if self.last_t is not None else t_first
            too_much = self._held_span() - ref > self.reorder_window
            if contiguous or waited_out or too_much or force or chunk.t_last <= (self.last_t or -np.inf):
                heapq.heappop(self._held)
                self._accept(chunk, out, gaps)
            else:
                break

    def _held_span(self) -> float:
        return max(c.t_last for *_, c in self._held)

    def tick(
        self, now: float | None = None, force: bool = False
    ) -> tuple[list[Chunk], list[tuple[float, float]]]:
        """Release held chunks whose wait is over (call periodically and at the end of a session)."""
        now = time.monotonic() if now is None else now
        out: list[Chunk] = []
        gaps: list[tuple[float, float]] = []
        self._release(now, out, gaps, force)
        return out, gaps

    @property
    def held(self) -> int:
        return len(self._held)

    def get_data(self, winsize: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The last ``winsize`` seconds of released samples as ``(timestamps, values)``."""
        if not self._recent:
            return np.zeros(0), np.zeros(0)
        ts = np.concatenate([c.timestamps for c in self._recent])
        vs = np.concatenate([c.values for c in self._recent])
        keep = ts > ts[-1] - winsize
        return ts[keep], vs[keep]

    def status(self) -> dict[str, Any]:
        return {
            "stream": self.name,
            "kind": self.kind,
            "last_t": self.last_t,
            "samples": self.n_samples,
            "late_samples": self.late_samples,
            "gaps": len(self.gaps),
            "gap_seconds": round(self.gap_seconds, 3),
            "stale": self.stale,
        }
