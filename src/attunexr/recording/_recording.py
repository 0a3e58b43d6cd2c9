"""`Recording`: streams, events and labelled intervals of one session of one person, on one clock."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import SignalError
from attunexr.recording._chunk import Chunk
from attunexr.recording._stream import Stream

__all__ = ["Event", "Interval", "Recording", "RecordingMeta"]


@dataclass(frozen=True)
class Event:
    """An instant on the recording clock (a button press, a SUDS answer, a marker)."""

    onset: float
    label: str
    value: float | None = None


@dataclass(frozen=True)
class Interval:
    """A labelled span ``[onset, onset + duration)`` on the recording clock (a task, a rest, a sick period)."""

    onset: float
    duration: float
    label: str

    @property
    def end(self) -> float:
        return self.onset + self.duration

    def overlap(self, tmin: float, tmax: float) -> float:
        """Seconds of ``[tmin, tmax)`` covered by this interval."""
        return max(0.0, min(self.end, tmax) - max(self.onset, tmin))


@dataclass
class RecordingMeta:
    """Who, where and with what. ``subject`` is always a pseudonym, never a name.

    ``start_time`` is the absolute time (Unix seconds, UTC) of clock zero, or ``None`` if unknown.
    """

    subject: str
    dataset: str = ""
    session: str = ""
    site: str = ""
    device: str = ""
    start_time: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(eq=False)
class Recording:
    """A session of one person: streams, events and labelled intervals on one clock in seconds.

    Clock zero is ``meta.start_time``; every timestamp in every stream, event and interval is seconds from it.
    """

    meta: RecordingMeta
    streams: dict[str, Stream] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, stream in self.streams.items():
            if name != stream.name:
                raise SignalError(f"recording: stream stored under {name!r} is named {stream.name!r}")

    # --- streams -------------------------------------------------------------------------------------
    def add_stream(self, stream: Stream) -> None:
        if stream.name in self.streams:
            raise SignalError(f"recording {self.meta.subject!r} already has a stream named {stream.name!r}")
        self.streams[stream.name] = stream

    def pick(self, kind: str) -> Stream | None:
        """The first stream of ``kind``, or ``None``."""
        return next((s for s in self.streams.values() if s.kind == kind), None)

    def kinds(self) -> set[str]:
        return {s.kind for s in self.streams.values()}

    @property
    def t_start(self) -> float:
        starts = [s.t_start for s in self.streams.values() if s.n_samples]
        return min(starts) if starts else 0.0

    @property
    def t_end(self) -> float:
        ends = [s.t_end for s in self.streams.values() if s.n_samples]
        return max(ends) if ends else 0.0

    @property
    def duration(self) -> float:
        return self.t_end - self.t_start

    def crop(self, tmin: float, tmax: float) -> Recording:
        """Streams, events and intervals within ``[tmin, tmax)`` (same clock; nothing is shifted)."""
        return Recording(
            meta=self.meta,
            streams={n: s.crop(tmin, tmax) for n, s in self.streams.items()},
            events=[e for e in self.events if tmin <= e.onset < tmax],
            intervals=[
                Interval(max(i.onset, tmin), min(i.end, tmax) - max(i.onset, tmin), i.label)
                for i in self.intervals
                if i.overlap(tmin, tmax) > 0
            ],
        )

    # --- labels --------------------------------------------------------------------------------------
    def _containers(self) -> set[int]:
        """Indices of context intervals: those that fully contain an interval with another label.

        Nested intervals (e.g. a ``vr`` ride holding ``sick`` / ``not_sick`` spans) label time by the inner,
        more specific interval; the container labels only time that no inner interval covers.
        """
        out: set[int] = set()
        ivs = self.intervals
        for i, outer in enumerate(ivs):
            for j, inner in enumerate(ivs):
                if (
                    i != j
                    and inner.label != outer.label
                    and outer.onset <= inner.onset
                    and inner.end <= outer.end
                    and outer.duration > inner.duration
                ):
                    out.add(i)
                    break
        return out

    def label_at(self, t: NDArray[np.float64] | float) -> NDArray[np.object_]:
        """The interval label covering each time in ``t`` (``None`` where no interval covers it).

        Where intervals overlap, a later interval wins, and an inner interval always wins over a container
        (see :meth:`window_label`).
        """
        ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = np.full(ts.shape, None, dtype=object)
        containers = self._containers()
        order = [i for i in range(len(self.intervals)) if i in containers] + [
            i for i in range(len(self.intervals)) if i not in containers
        ]
        for i in order:
            iv = self.intervals[i]
            out[(ts >= iv.onset) & (ts < iv.end)] = iv.label
        return out

    def window_label(self, tmin: float, tmax: float, min_fraction: float = 0.5) -> str | None:
        """Label whose intervals together cover at least ``min_fraction`` of ``[tmin, tmax)`` (the largest cover wins).

        An interval that fully contains an interval with another label (a context such as the ``vr`` ride
        around ``sick`` / ``not_sick``) competes only where no inner interval overlaps the window.
        """
        containers = self._containers()
        inner_overlaps = any(
            iv.overlap(tmin, tmax) > 0 for k, iv in enumerate(self.intervals) if k not in containers
        )
        cover: dict[str, float] = {}
        for k, iv in enumerate(self.intervals):
            if k in containers and inner_overlaps:
                continue
            cover[iv.label] = cover.get(iv.label, 0.0) + iv.overlap(tmin, tmax)
        if not cover:
            return None
        label = max(cover, key=lambda lab: cover[lab])
        return label if cover[label] >= min_fraction * (tmax - tmin) else None

    # --- live ----------------------------------------------------------------------------------------
    def iter_chunks(self, chunk_seconds: float = 1.0, streams: Iterable[str] | None = None) -> Iterator[Chunk]:
        """Yield the recording as live chunks in time order (each chunk covers ``chunk_seconds`` of one stream)."""
        names = list(streams) if streams is not None else list(self.streams)
        if chunk_seconds <= 0:
            raise SignalError("chunk_seconds must be positive")
        t0, t1 = self.t_start, self.t_end
        edges = np.arange(t0, t1 + chunk_seconds, chunk_seconds)
        index = {n: np.searchsorted(self.streams[n].timestamps, edges, side="left") for n in names}
        for k in range(len(edges) - 1):
            for n in names:
                s = self.streams[n]
                i0, i1 = index[n][k], index[n][k + 1]
                if i1 > i0:
                    yield Chunk(s.name, s.kind, s.timestamps[i0:i1], s.values[i0:i1], s.rate)

    def __repr__(self) -> str:
        names = ", ".join(self.streams)
        return (
            f"<Recording {self.meta.dataset}:{self.meta.subject} {self.duration:.0f}s streams=[{names}] "
            f"intervals={len(self.intervals)} events={len(self.events)}>"
        )
