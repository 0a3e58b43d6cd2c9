"""The processing chain behind one live session, split into swappable parts.

:class:`SessionEngine` composes a *source* (virtual patient or replay, one second at a time), a
:class:`VitalsTracker` (the values and signal-quality badges the dashboard shows), an *analyzer* (the detector a
session's :class:`attunexr.session.LiveSession` runs on its feature windows), a *controller* (proposals or automatic
steps within the clinician's bounds) and *safety* monitors. :mod:`attunexr.web._live_bridge` builds engines from the project's real components; the classes here are
the web app's own parts used when a component is not installed: replay of a real recording, a transparent
baseline-normalised arousal index, a rule-based proposer and basic monitors. Each says so in ``engine.info``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from attunexr.recording import Chunk, Recording

__all__ = [
    "ClientSource",
    "EngineOutput",
    "ReplaySource",
    "SessionEngine",
    "VitalsTracker",
]

logger = logging.getLogger(__name__)


@dataclass
class EngineOutput:
    """What one second of signals produced."""

    vitals: dict[str, float | None]
    quality: dict[str, str]
    estimates: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    suds_prompts: list[str] = field(default_factory=list)


class ChunkSource(Protocol):
    info: dict[str, Any]

    def next_second(self, t: float, level: int, paused: bool) -> list[Chunk] | None: ...

    def head_pose(self, t: float, values: list[float]) -> None: ...


class Analyzer(Protocol):
    """Estimates for the dashboard and the controller.

    A detector analyzer (:class:`attunexr.web._adapters.DetectorAnalyzer`) also has ``window``, ``hop``,
    ``feature_stream(subject, session)``, ``estimate(rows)`` and ``to_dashboard(estimate, row)``: the session's
    :class:`attunexr.session.LiveSession` runs it.
    """

    info: dict[str, Any]


class Controller(Protocol):
    info: dict[str, Any]

    def control(self, t: float, level: int, level_since: float, estimate: dict[str, Any] | None,
                quality: dict[str, str], suds: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def on_decision(self, proposal_id: str, approved: bool, actor: str = ...,
                    t: float | None = ...) -> dict[str, Any]: ...

    def on_level(self, level: int, t: float, actor: str = ...) -> list[str]: ...

    def set_bounds(self, changes: dict[str, Any], actor: str, t: float) -> dict[str, Any]: ...


class SafetyMonitors(Protocol):
    info: dict[str, Any]

    def check(self, t: float, vitals: dict[str, float | None], quality: dict[str, str],
              estimate: dict[str, Any] | None, suds: float | None,
              last_sample_t: dict[str, float] | None = ...) -> list[dict[str, Any]]: ...


class ReplaySource:
    """Replays a real :class:`Recording` one second at a time on the session clock (exposure does not change it)."""

    def __init__(self, recording: Recording, *, offset_s: float = 0.0) -> None:
        self.recording = recording
        self.t0 = recording.t_start + offset_s
        self.t_end = recording.t_end
        self.info = {"source": f"replay {recording.meta.dataset}:{recording.meta.subject}",
                     "source_kind": "replay",
                     "source_words": f"signals: a real recording replayed ({recording.meta.dataset}, "
                                     f"{recording.meta.subject})"}

    def next_second(self, t: float, level: int, paused: bool) -> list[Chunk] | None:
        a, b = self.t0 + t, self.t0 + t + 1.0
        if a >= self.t_end:
            return None
        out = []
        for s in self.recording.streams.values():
            i0, i1 = np.searchsorted(s.timestamps, [a, b], side="left")
            if i1 > i0:
                out.append(Chunk(s.name, s.kind, s.timestamps[i0:i1] - self.t0, s.values[i0:i1], s.rate))
        return out

    def head_pose(self, t: float, values: list[float]) -> None:
        return None


class ClientSource:
    """Signals sent by the VR client or a sensor bridge over the VR-client protocol (``samples`` messages).

    Chunks arrive on the client's clock; the first one fixes the offset to the session clock, so later chunks keep
    their relative timing. Each second the session takes what arrived; when nothing arrives the streams show as
    lost (quality), never as zeros.
    """

    def __init__(self) -> None:
        self._pending: list[Chunk] = []
        self._offset: float | None = None
        self._now = 0.0
        self.info = {"source": "VR client / sensor samples (live)", "source_kind": "client",
                     "source_words": "signals: live from the VR client and sensors"}

    def push(self, chunk: Chunk) -> None:
        if self._offset is None:
            self._offset = chunk.t_first - self._now
        self._pending.append(Chunk(chunk.stream, chunk.kind, chunk.timestamps - self._offset, chunk.values,
                                   chunk.rate, chunk.received_at))

    def next_second(self, t: float, level: int, paused: bool) -> list[Chunk] | None:
        self._now = t
        out, self._pending = self._pending, []
        return out

    def head_pose(self, t: float, values: list[float]) -> None:
        return None


class SensorSource:
    """Live sensors (:mod:`attunexr.sensors` sources: LSL streams, a BLE strap) driving a clinician session.

    Each source is started with the session and pumped into a buffer on the event loop; every second the session
    takes what arrived, on the session clock (the sources' ``clock_zero`` is the session start). A sensor that stops
    sending shows as lost in the quality badges, never as zeros.
    """

    def __init__(self, sources: list[Any], description: str, clock: Any = None, max_wait_s: float = 2.0) -> None:
        self.sources = sources
        self.clock = clock  # () -> the sensors' clock now; read at start as every source's clock zero
        self.max_wait_s = max_wait_s
        self._pending: deque[Chunk] = deque()
        self._latest: dict[str, float] = {}
        self._arrived = threading.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.errors: list[str] = []
        self.info = {"source": f"sensors ({description})", "source_kind": "sensors",
                     "source_words": f"signals: live sensors ({description})"}

    async def start(self) -> None:
        """Open every sensor (a missing one fails the start with its reason), then pump their chunks."""
        if self.clock is not None:
            zero = float(self.clock())
            for src in self.sources:
                if getattr(src, "clock_zero", 0.0) is None:
                    src.clock_zero = zero
        for src in self.sources:
            await src.start()
        for src in self.sources:
            self._tasks.append(asyncio.get_running_loop().create_task(self._pump(src), name=f"pump-{src.name}"))

    async def _pump(self, src: Any) -> None:
        try:
            async for chunk in src.chunks():
                with self._arrived:
                    self._pending.append(chunk)
                    if len(chunk):
                        self._latest[chunk.stream] = max(self._latest.get(chunk.stream, -1e18), chunk.t_last)
                    self._arrived.notify_all()
        except Exception as err:  # noqa: BLE001 - one sensor failing must not end the session; it shows as lost
            self.errors.append(f"{src.name}: {err}")
            logger.warning("sensor %s failed: %s", src.name, err)

    async def stop(self) -> None:
        for src in self.sources:
            with contextlib.suppress(Exception):
                await src.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def next_second(self, t: float, level: int, paused: bool) -> list[Chunk] | None:
        """The chunks that arrived; waits (at most ``max_wait_s``) until every sensor has reached the end of this
        second, so the session's clock follows the sensors' rather than running ahead of a late delivery."""
        with self._arrived:
            self._arrived.wait_for(
                lambda: bool(self._latest) and len(self._latest) >= len(self.sources)
                and min(self._latest.values()) >= t + 1.0,
                timeout=self.max_wait_s,
            )
            out = list(self._pending)
            self._pending.clear()
        return out

    def head_pose(self, t: float, values: list[float]) -> None:
        return None


class VitalsTracker:
    """Per-second heart rate, skin conductance and signal-quality badges for the dashboard.

    Heart rate comes from an ``hr`` stream or from inter-beat intervals; EDA is the mean of the second's samples.
    A stream is ``good`` when it delivered plausible values within the last 3 s, ``poor`` when values are out of
    physiological range (HR outside 30–220 bpm, EDA below 0.01 µS, a typical E4 contact-loss floor), ``lost``
    otherwise.
    """

    def __init__(self, beat_window_s: float = 8.0) -> None:
        self.last_seen: dict[str, float] = {}
        self.last_ok: dict[str, bool] = {}
        self.hr: float | None = None
        self.eda: float | None = None
        self.beat_window_s = beat_window_s
        self._wave: dict[str, deque[tuple[np.ndarray, np.ndarray, float]]] = {"ecg": deque(), "ppg": deque()}
        self._has_hr_stream = False

    def _hr_from_waveform(self, kind: str) -> float | None:
        """Heart rate from the last seconds of ECG (or PPG) with the project's beat detector (median RR)."""
        buf = self._wave[kind]
        if not buf:
            return None
        rate = buf[-1][2]
        x = np.concatenate([v for _, v, _ in buf])
        if len(x) < rate * 4:
            return None
        try:
            from attunexr.signals import ecg_peaks, ppg_peaks
        except ImportError:
            return None
        peaks = (ecg_peaks if kind == "ecg" else ppg_peaks)(np.asarray(x, dtype=float), float(rate))
        if len(peaks) < 3:
            return None
        rr = np.diff(peaks) / rate
        rr = rr[(rr > 0.27) & (rr < 2.0)]
        return float(60.0 / np.median(rr)) if len(rr) >= 2 else None

    def update(self, chunks: list[Chunk], t: float) -> tuple[dict[str, float | None], dict[str, str]]:
        for c in chunks:
            if len(c) == 0:
                continue
            v = c.values if c.values.ndim == 1 else c.values[:, 0]
            if c.kind == "hr":
                self._has_hr_stream = True
                self.hr = float(np.nanmean(v))
                self._seen("hr", t, 30 <= self.hr <= 220)
            elif c.kind == "ibi" and self.hr is None:
                ibi = float(np.nanmean(v))
                self.hr = 60.0 / ibi if ibi > 0 else None
                self._seen("hr", t, self.hr is not None and 30 <= self.hr <= 220)
            elif c.kind == "eda":
                self.eda = float(np.nanmean(v))
                self._seen("eda", t, self.eda >= 0.01)
            elif c.kind in ("ppg", "ecg", "acc", "temp", "head_pose", "resp"):
                self._seen(c.kind, t, bool(np.all(np.isfinite(v))))
                if c.kind in self._wave and c.rate:
                    buf = self._wave[c.kind]
                    buf.append((c.timestamps, v, float(c.rate)))
                    while buf and buf[-1][0][-1] - buf[0][0][0] > self.beat_window_s:
                        buf.popleft()
        if not self._has_hr_stream:
            for kind in ("ecg", "ppg"):
                if kind in self.last_seen and t - self.last_seen[kind] <= 3.0:
                    hr = self._hr_from_waveform(kind)
                    if hr is not None:
                        self.hr = hr
                        self._seen("hr", t, 30 <= hr <= 220)
                    break
        quality = {}
        for name in ("hr", "eda", *sorted(k for k in self.last_seen if k not in ("hr", "eda"))):
            seen = self.last_seen.get(name)
            if seen is None or t - seen > 3.0:
                quality[name] = "lost"
            else:
                quality[name] = "good" if self.last_ok.get(name, False) else "poor"
        vit = {"hr": self.hr if quality["hr"] != "lost" else None,
               "eda": self.eda if quality["eda"] != "lost" else None}
        return vit, quality

    def _seen(self, name: str, t: float, ok: bool) -> None:
        self.last_seen[name] = t
        self.last_ok[name] = ok


class SessionEngine:
    """Source + vitals + analyzer + controller + safety for one session, with the plan's hierarchy and bounds."""

    def __init__(self, *, scenario: str, levels: list[dict[str, Any]], source: ChunkSource, analyzer: Analyzer,
                 controller: Controller, safety: SafetyMonitors, start_level: int = 0, max_level: int | None = None,
                 session_length_s: float | None = None, suds_every_s: float | None = 120.0) -> None:
        self.scenario = scenario
        self.levels = levels
        self.source, self.analyzer, self.controller, self.safety = source, analyzer, controller, safety
        self.vitals = VitalsTracker()
        self.min_level = 0
        self.max_level = len(levels) - 1 if max_level is None else min(max_level, len(levels) - 1)
        self.start_level = self.clamp_level(start_level)
        self.session_length_s = session_length_s
        self.suds_every_s = suds_every_s
        self._next_suds = suds_every_s
        self._new_suds: float | None = None
        self._last_estimate: dict[str, Any] | None = None
        self.info: dict[str, Any] = {"scenario": scenario, **source.info, **analyzer.info, **controller.info,
                                     **safety.info}
        # what the dashboard shows a clinician (no module or class names)
        self.info["summary"] = [str(part.info[key]) for part, key in (
            (source, "source_words"), (analyzer, "model_words"), (controller, "controller_words"),
            (safety, "safety_words")) if key in part.info]

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def clamp_level(self, level: int) -> int:
        return max(self.min_level, min(int(level), self.max_level))

    def level_name(self, level: int) -> str:
        return str(self.levels[level]["name"])

    def level_params(self, level: int) -> dict[str, Any]:
        return {k: v for k, v in self.levels[level].items() if k != "name"}

    def next_second(self, t: float, level: int, paused: bool) -> list[Chunk] | None:
        return self.source.next_second(t, level, paused)

    def feed(self, chunks: list[Chunk], t: float, estimates: list[dict[str, Any]] | None = None) -> EngineOutput:
        """One second: vitals and badges, safety checks and SUDS prompts.

        ``estimates`` are those the session's :class:`attunexr.session.LiveSession` produced meanwhile (dashboard
        format).
        """
        vitals, quality = self.vitals.update(chunks, t)
        estimates = list(estimates or [])
        if estimates:
            self._last_estimate = estimates[-1]
        suds, self._new_suds = self._new_suds, None
        alerts = self.safety.check(t, vitals, quality, self._last_estimate, suds, dict(self.vitals.last_seen))
        for a in alerts:
            raw = a.pop("_alert", None)
            hook = getattr(self.controller, "on_alert", None)
            if raw is not None and hook is not None:
                hook(raw)
        prompts = []
        if self._next_suds is not None and t >= self._next_suds:
            prompts.append("scheduled")
            self._next_suds += self.suds_every_s or 0
        return EngineOutput(vitals=vitals, quality=quality, estimates=estimates, alerts=alerts,
                            suds_prompts=prompts)

    def control(self, t: float, level: int, level_since: float, estimate: dict[str, Any] | None,
                quality: dict[str, str], suds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        actions = self.controller.control(t, level, level_since, estimate, quality, suds)
        for a in actions:
            if "to_level" in a:
                a["to_level"] = self.clamp_level(a["to_level"])
        return [a for a in actions if a.get("to_level") != level or a["type"] == "alert"]

    def on_decision(self, proposal_id: str, approved: bool, actor: str, t: float) -> dict[str, Any]:
        return self.controller.on_decision(proposal_id, approved, actor, t)

    def on_level(self, level: int, t: float, actor: str) -> list[str]:
        return self.controller.on_level(level, t, actor)

    def set_bounds(self, changes: dict[str, Any], actor: str, t: float) -> dict[str, Any]:
        return self.controller.set_bounds(changes, actor, t)

    def on_suds(self, t: float, value: float) -> None:
        self._new_suds = value
        hook = getattr(self.controller, "on_suds", None)
        if hook is not None:
            hook(t, value)

    def on_pause(self, t: float, actor: str) -> None:
        hook = getattr(self.controller, "on_pause", None)
        if hook is not None:
            hook(t, actor)

    def on_resume(self, t: float, actor: str) -> None:
        hook = getattr(self.controller, "on_resume", None)
        if hook is not None:
            hook(t, actor)

    def on_stop(self, t: float, actor: str) -> None:
        hook = getattr(self.controller, "on_stop", None)
        if hook is not None:
            hook(t, actor)

    def head_pose(self, t: float, values: list[float]) -> None:
        self.source.head_pose(t, values)
