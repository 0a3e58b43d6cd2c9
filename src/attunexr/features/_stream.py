"""Live driver: :class:`FeatureStream` turns chunks into feature rows as windows complete."""

from __future__ import annotations

import logging

import numpy as np

from attunexr.features._grid import check_grid, first_index, window_end
from attunexr.features._processors import KEEP_NAN, StreamProcessor, make_processor
from attunexr.features._window import compute_features
from attunexr.recording import Chunk
from attunexr.signals import FloatArray

__all__ = ["FeatureStream"]

logger = logging.getLogger(__name__)


def _gates(proc: StreamProcessor) -> bool:
    """Whether a stream holds back windows: all but irregular beat-event streams (IBI, device heart rate)."""
    return not (proc.rate is None and proc.kind in ("ibi", "hr"))


class _Pending:
    """Reorder buffer of one stream: samples wait here until they are ``lateness`` seconds old."""

    def __init__(self) -> None:
        self.t: list[FloatArray] = []
        self.v: list[FloatArray] = []
        self.max_seen = float("-inf")
        self.committed = float("-inf")

    def add(self, t: FloatArray, v: FloatArray) -> int:
        keep = t > self.committed
        dropped = int(t.size - keep.sum())
        if dropped:
            t, v = t[keep], v[keep]
        if t.size:
            self.t.append(t)
            self.v.append(v)
            self.max_seen = max(self.max_seen, float(t.max()))
        return dropped

    def take(self, horizon: float) -> tuple[FloatArray, FloatArray] | None:
        if not self.t:
            return None
        if len(self.t) == 1:
            t, v = self.t[0], self.v[0]
        else:
            t = np.concatenate(self.t)
            v = np.concatenate(self.v)
        if t.size > 1 and np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        n = int(np.searchsorted(t, horizon, side="right"))
        if n == 0:
            self.t, self.v = [t], [v]
            return None
        self.t, self.v = ([t[n:]], [v[n:]]) if n < t.size else ([], [])
        self.committed = float(t[n - 1])
        return t[:n], v[:n]


class FeatureStream:
    """Incremental feature extraction: push chunks in any sizes, get the rows :func:`extract` would give.

    Each stream goes through the same causal stages as offline; processed samples sit in buffers that keep only
    what open windows need. Window ends lie on ``origin + window + k * hop``. A window is emitted once every stream
    seen so far has committed data past its end (plus the beat detectors' look-ahead, about 1 s), except streams
    that have *stalled* (no data for ``stall_timeout`` seconds of the leading stream's clock); those contribute what
    they have, and their features show up as NaN with low quality.

    **Lateness**: samples are committed ``lateness`` seconds (of that stream's own clock) after the newest sample
    seen, so a chunk that arrives out of order but no later than that is sorted in by timestamp. Samples older than
    what was already committed are dropped and counted in :attr:`dropped_samples`. Irregular beat-event streams
    (IBI, device heart rate without a rate) never hold back a window; what they delivered before a window is
    emitted is committed for it.

    Parameters
    ----------
    window, hop
        Window length and step in seconds.
    origin
        Grid origin on the session clock.
    lateness
        Reorder allowance in seconds (default 1 s).
    stall_timeout
        Seconds after which a silent stream stops holding back windows (default 10 s).
    dataset, subject, session
        Copied into every row.
    """

    def __init__(
        self,
        window: float = 60.0,
        hop: float = 10.0,
        origin: float = 0.0,
        lateness: float = 1.0,
        stall_timeout: float = 10.0,
        dataset: str = "",
        subject: str = "",
        session: str = "",
    ) -> None:
        check_grid(window, hop, origin)
        self.window = float(window)
        self.hop = float(hop)
        self.origin = float(origin)
        self.lateness = float(lateness)
        self.stall_timeout = float(stall_timeout)
        self.ids = {"dataset": dataset, "subject": subject, "session": session}
        self.processors: dict[str, StreamProcessor] = {}
        self._by_name: dict[str, StreamProcessor] = {}
        self._ignored: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._next_k: int | None = None
        self.dropped_samples = 0

    # --- public ------------------------------------------------------------------------------------
    def push(self, chunk: Chunk) -> list[dict[str, object]]:
        """Add a chunk; return the rows of the windows it completed (possibly none)."""
        proc = self._processor(chunk)
        if proc is None or len(chunk) == 0:
            return []
        t, values = chunk.timestamps, chunk.values
        if chunk.kind not in KEEP_NAN:
            # lost samples (NaN, e.g. BIDS n/a) are gaps: a stream delivering only gaps counts as stalled
            fin = np.isfinite(values) if values.ndim == 1 else np.all(np.isfinite(values), axis=1)
            if not fin.all():
                t, values = t[fin], values[fin]
                if t.size == 0:
                    return []
        pend = self._pending[chunk.stream]
        dropped = pend.add(t, values)
        if dropped:
            self.dropped_samples += dropped
            logger.warning(
                "stream %r: %d samples arrived after their data was committed; dropped", chunk.stream, dropped
            )
        got = pend.take(pend.max_seen - self.lateness)
        if got is not None:
            proc.update(*got)
        return self._emit(final=False)

    def flush(self) -> list[dict[str, object]]:
        """Commit everything pending and emit every remaining window that ends by the end of the data."""
        for name, pend in self._pending.items():
            got = pend.take(float("inf"))
            if got is not None:
                self._by_name[name].update(*got)
        return self._emit(final=True)

    @property
    def next_window_end(self) -> float | None:
        """End time of the next window to be emitted (``None`` before any data)."""
        if self._next_k is None:
            return None
        return window_end(self.origin, self.window, self.hop, self._next_k)

    # --- internals -----------------------------------------------------------------------------------
    def _processor(self, chunk: Chunk) -> StreamProcessor | None:
        proc = self._by_name.get(chunk.stream)
        if proc is not None:
            return proc
        if chunk.stream in self._ignored:
            return None
        if chunk.kind in self.processors:
            logger.info(
                "stream %r ignored: %r already provides %s",
                chunk.stream,
                self.processors[chunk.kind].name,
                chunk.kind,
            )
            self._ignored.add(chunk.stream)
            return None
        new = make_processor(chunk.stream, chunk.kind, chunk.rate)
        if new is None:
            self._ignored.add(chunk.stream)
            return None
        self.processors[chunk.kind] = new
        self._by_name[chunk.stream] = new
        self._pending[chunk.stream] = _Pending()
        return new

    def _leader(self) -> float:
        return max(
            (self._pending[n].max_seen for n, p in self._by_name.items() if _gates(p)), default=float("inf")
        )

    def _ready(self, t_end: float) -> bool:
        leader = self._leader()
        for name, proc in self._by_name.items():
            if not _gates(proc):
                continue
            if proc.final_until() >= t_end:
                continue
            if self._pending[name].max_seen < leader - self.stall_timeout:
                continue
            return False
        return True

    def _commit_ungated(self, t_end: float) -> None:
        """Commit what streams that never hold back a window have delivered up to ``t_end``.

        Their ``lateness`` allowance ends when the window is emitted: without this, the last beats before ``t_end``
        could still wait in the reorder buffer and the row would differ from :func:`extract`.
        """
        leader = self._leader()
        for name, proc in self._by_name.items():
            # a stalled stream (in a gap or gone) will not deliver the rest of its lateness allowance either
            if not _gates(proc) or self._pending[name].max_seen < leader - self.stall_timeout:
                got = self._pending[name].take(t_end)
                if got is not None:
                    proc.update(*got)

    def _emit(self, final: bool) -> list[dict[str, object]]:
        started = [p for p in self.processors.values() if p.n_seen]
        if not started:
            return []
        if self._next_k is None:
            self._next_k = first_index(self.origin, self.window, self.hop, min(p.first_t for p in started))
        t_last = max(p.end_t for p in started)
        rows: list[dict[str, object]] = []
        while True:
            t_end = window_end(self.origin, self.window, self.hop, self._next_k)
            if t_end > t_last + 1e-9 or not (final or self._ready(t_end)):
                break
            self._commit_ungated(t_end)
            t_start = t_end - self.window
            row: dict[str, object] = {**self.ids, "t_start": t_start, "t_end": t_end}
            row.update(compute_features(self.processors, t_start, t_end))
            rows.append(row)
            self._next_k += 1
            keep_from = window_end(self.origin, self.window, self.hop, self._next_k) - self.window
            for p in self.processors.values():
                p.trim_before(keep_from)
        return rows
