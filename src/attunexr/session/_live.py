"""`LiveSession`: one asyncio pipeline per live session.

chunks → per-stream buffers (order, lateness, gaps) → features (incremental driver) → detector → state estimates
→ hooks (exposure controller, safety monitors) → subscribers (dashboard, VR client) and the recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from attunexr.errors import ConfigurationError, SignalError
from attunexr.features import Cue, CueResponse, CueRules, LiveCueScorer
from attunexr.recording import STREAM_KINDS, Chunk, Event, RecordingMeta
from attunexr.sensors import Source
from attunexr.session._buffer import StreamBuffer
from attunexr.session._messages import Command, HookContext, SessionUpdate, StateEstimate
from attunexr.session._recorder import SessionRecorder
from attunexr.session._subscription import ALL_TOPICS, Subscription
from attunexr.session._vitals import VitalsTracker

__all__ = ["DetectorLike", "FeatureStreamLike", "LiveSession", "SessionHook", "StatefulDetectorLike"]

logger = logging.getLogger(__name__)

_ID_COLUMNS = ("dataset", "subject", "session", "t_start", "t_end", "label")


class FeatureStreamLike(Protocol):
    """The incremental feature driver (:class:`attunexr.features.FeatureStream`)."""

    def push(self, chunk: Chunk) -> list[dict[str, Any]]: ...


class DetectorLike(Protocol):
    """A fitted detector (:func:`attunexr.models.load_model`)."""

    def estimate(self, rows: pd.DataFrame) -> list[Any]: ...


class SessionHook(Protocol):
    """A hook called for every estimate, event, quality change and acknowledgement.

    Exposure controllers and safety monitors implement it; commands they return are sent to the VR client
    (and logged). A hook sees its session only through ``update.context`` (:class:`HookContext`: id, clock,
    record, send a command). Exceptions are logged and counted, never allowed to stop the pipeline.
    """

    def __call__(self, update: SessionUpdate) -> Iterable[Command] | None: ...


def _default_features(
    window: float, hop: float, origin: float, meta: RecordingMeta, session_id: str
) -> FeatureStreamLike:
    from attunexr.features import FeatureStream

    return FeatureStream(
        window=window,
        hop=hop,
        origin=origin,
        dataset=meta.dataset or "live",
        subject=meta.subject,
        session=session_id,
    )


class StatefulDetectorLike(DetectorLike, Protocol):
    """A detector whose live state is an object the session owns (:class:`attunexr.models.DetectorState`)."""

    def new_state(self) -> Any: ...

    def estimate(self, rows: pd.DataFrame, state: Any = None) -> list[Any]: ...


class RecordDetectorLike(StatefulDetectorLike, Protocol):
    """A stateful detector that also estimates rows given as mappings (no table built per hop)."""

    def estimate_records(self, rows: Sequence[Mapping[str, object]], state: Any = None) -> list[Any]: ...


def _records(detector: StatefulDetectorLike | None) -> RecordDetectorLike | None:
    """The detector when it takes feature rows as mappings (``estimate_records``), else ``None``."""
    if detector is not None and callable(getattr(detector, "estimate_records", None)):
        return detector  # type: ignore[return-value]
    return None


def _as_estimator(
    detector: DetectorLike | Callable[[pd.DataFrame], list[Any]] | None,
) -> Callable[[pd.DataFrame], list[Any]] | None:
    if detector is None:
        return None
    est = getattr(detector, "estimate", None)
    if callable(est):
        return est  # type: ignore[no-any-return]
    if callable(detector):
        return detector
    raise ConfigurationError(
        "detector must have an .estimate(rows) method or be a callable rows -> estimates"
    )


def _stateful(detector: object) -> StatefulDetectorLike | None:
    """The detector when it keeps its live state in an object the session owns (``new_state()``), else ``None``."""
    if detector is not None and callable(getattr(detector, "new_state", None)) and callable(
        getattr(detector, "estimate", None)
    ):
        return detector  # type: ignore[return-value]
    return None


class LiveSession:
    """The live pipeline of one session.

    Parameters
    ----------
    session_id
        Identifier (random when omitted).
    meta
        Recording metadata (pseudonymous subject, dataset, site, device); stored encrypted by the recorder.
    window, hop, origin
        Feature windows: length, step and grid origin (window ends lie on ``origin + window + k * hop``).
    features
        Factory ``() -> FeatureStreamLike`` or an instance; default :class:`attunexr.features.FeatureStream`.
    detector
        Object with ``.estimate(rows_df)`` or a callable ``rows_df -> list[Estimate]``; ``None`` = features only.
        A detector with ``new_state()`` (the project's detectors) keeps its live state in an object this session
        owns (:attr:`detector_state`): created at :meth:`start`, passed to every ``estimate(rows, state=...)``
        and dropped at :meth:`stop`, so sessions sharing one fitted detector never share history.
    recorder
        A :class:`SessionRecorder` that receives every chunk, estimate, command, event and decision.
    hooks
        :class:`SessionHook` callables (exposure controller, safety monitors).
    queue_size
        Bound of the ingest queue; ``put`` waits when full (back-pressure), nothing is dropped.
    reorder_timeout, reorder_window
        How long an out-of-order chunk may wait for the chunk that belongs before it.
    stale_after
        Seconds without data after which a stream is reported lost (quality), not zero-filled.
    extra_topics
        Application topics subscribers may ask for besides :data:`ALL_TOPICS` (e.g. ``"dashboard"``); the
        application fills them with :meth:`publish`.
    """

    def __init__(
        self,
        session_id: str | None = None,
        *,
        meta: RecordingMeta | None = None,
        window: float = 60.0,
        hop: float = 10.0,
        origin: float = 0.0,
        features: Callable[[], FeatureStreamLike] | FeatureStreamLike | None = None,
        detector: DetectorLike | Callable[[pd.DataFrame], list[Any]] | None = None,
        recorder: SessionRecorder | None = None,
        hooks: Sequence[SessionHook] = (),
        queue_size: int = 256,
        reorder_timeout: float = 0.25,
        reorder_window: float = 2.0,
        stale_after: float = 3.0,
        tick_interval: float = 0.5,
        extra_topics: Iterable[str] = (),
        cue_rules: CueRules | None = None,
    ) -> None:
        if not (window > 0 and hop > 0):
            raise ConfigurationError(f"window and hop must be positive, got window={window}, hop={hop}")
        self.session_id = session_id or secrets.token_hex(8)
        self.meta = meta or RecordingMeta(subject="anonymous", session=self.session_id)
        self.window, self.hop, self.origin = float(window), float(hop), float(origin)
        if features is None:
            self.features: FeatureStreamLike = _default_features(
                self.window, self.hop, self.origin, self.meta, self.session_id
            )
        elif hasattr(features, "push"):
            self.features = features
        else:
            self.features = features()
        self._estimate = _as_estimator(detector)
        self._stateful = _stateful(detector)
        self._records = _records(self._stateful)
        #: this session's live state of the detector (``None`` before start and after stop)
        self.detector_state: Any = None
        self.recorder = recorder
        self.hooks: list[SessionHook] = list(hooks)
        #: what hooks see of this session (id, clock, record, send a command), never the session itself
        self.context = HookContext(self.session_id, self.now, self.record, self.send_command)
        self.reorder_timeout = reorder_timeout
        self.reorder_window = reorder_window
        self.stale_after = stale_after
        self.tick_interval = tick_interval
        self.topics = ALL_TOPICS | frozenset(extra_topics)
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue(queue_size)
        self.buffers: dict[str, StreamBuffer] = {}
        self.subscriptions: list[Subscription] = []
        self.estimates: deque[StateEstimate] = deque(maxlen=10_000)
        self.latencies_ms: deque[float] = deque(maxlen=100_000)
        self.rows_emitted = 0
        self.samples_in = 0
        self.hook_errors = 0
        self.pipeline_errors = 0
        self.state = "created"
        self._tasks: list[asyncio.Task[Any]] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._done = asyncio.Event()
        #: scores responses to cues (``cue`` messages) with the offline rules once each epoch has arrived
        self.cue_scorer = LiveCueScorer(cue_rules)
        self.cue_responses: list[CueResponse] = []
        #: vital signs and per-signal quality of every accepted chunk (the dashboard's and the gating's one tracker)
        self.vitals = VitalsTracker(stale_after=stale_after)
        self._progress = asyncio.Event()  # set whenever a chunk was processed or an attached source ended

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the pipeline (and the recorder's flusher)."""
        if self.state != "created":
            return
        if self._stateful is not None:
            self.detector_state = self._stateful.new_state()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._run(), name=f"session-{self.session_id}"))
        self._tasks.append(loop.create_task(self._ticker(), name=f"session-{self.session_id}-tick"))
        if self.recorder is not None:
            self.recorder.start()
        self.state = "running"
        self._publish("status", {"v": 1, "type": "status", "state": "running", "session_id": self.session_id})

    def attach(self, source: Source) -> asyncio.Task[None]:
        """Feed a source's chunks into this session until the source ends (LSL, BLE, VR client, replay, simulator:
        any :class:`attunexr.sensors.Source`). The returned task ends with the source."""

        async def pump() -> None:
            try:
                await source.start()
                async for chunk in source.chunks():
                    await self.put(chunk)
            finally:
                with contextlib.suppress(Exception):
                    await source.stop()
                self._progress.set()

        task = asyncio.get_running_loop().create_task(
            pump(), name=f"source-{getattr(source, 'name', 'source')}"
        )
        self._tasks.append(task)
        return task

    async def stop(self) -> None:
        """Drain queued chunks, release held ones, close subscribers and the recorder."""
        if self.state in ("stopped", "created"):
            if self.state == "created" and self.recorder is not None and not self.recorder.closed:
                await self.recorder.close()
            self.detector_state = None
            self.state = "stopped"
            return
        self.state = "stopping"
        await self._queue.put(None)
        await self._done.wait()
        for t in self._tasks:
            if not t.done():
                t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._flush_held(force=True)
        flush = getattr(self.features, "flush", None)
        if callable(flush):
            try:
                rows = flush()
                if rows:
                    self._on_rows(rows, None)
            except Exception:  # noqa: BLE001
                self.pipeline_errors += 1
                logger.exception("session %s: flushing the last windows failed", self.session_id)
        try:
            self._cue_responses(self.cue_scorer.flush())
        except Exception:  # noqa: BLE001
            self.pipeline_errors += 1
            logger.exception("session %s: scoring the last cues failed", self.session_id)
        end = {"v": 1, "type": "end", "session_id": self.session_id}
        self._publish("end", end)
        for s in self.subscriptions:
            s.close()
        if self.recorder is not None:
            await self.recorder.close()
        self.detector_state = None  # the session's detector state ends with it
        self.state = "stopped"

    async def __aenter__(self) -> LiveSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- input ----------------------------------------------------------------------------------------
    async def put(self, chunk: Chunk) -> None:
        """Queue a chunk for processing; waits while the queue is full (back-pressure)."""
        if not chunk.received_at:
            chunk.received_at = time.perf_counter()
        await self._queue.put(chunk)

    async def add_event(self, event: Event, source: str = "vr") -> None:
        """Record an event (e.g. a SUDS answer), tell the hooks and the subscribers."""
        payload = {"onset": event.onset, "label": event.label, "value": event.value, "source": source}
        if self.recorder is not None:
            self.recorder.append_record("event", payload, t=event.onset)
        self._publish(
            "event", {"v": 1, "type": "event", "t": event.onset, "label": event.label, "value": event.value}
        )
        self._run_hooks(SessionUpdate("event", event.onset, self.context, event=event))

    async def add_cue(self, cue: Cue, source: str = "vr") -> None:
        """Record a cue onset (a trauma scene, a spider appearing); its response is scored once its epoch has arrived."""
        payload = {"onset": cue.onset, "category": cue.category, "id": cue.cue_id, "source": source}
        if self.recorder is not None:
            self.recorder.append_record("cue", payload, t=cue.onset)
        self.cue_scorer.add_cue(cue)
        self._publish("event", {"v": 1, "type": "cue", "t": cue.onset, "category": cue.category, "id": cue.cue_id})
        self._run_hooks(SessionUpdate("cue", cue.onset, self.context, cue=cue))

    def _cue_responses(self, responses: list[CueResponse]) -> None:
        for r in responses:
            self.cue_responses.append(r)
            payload = {
                "onset": r.cue.onset, "category": r.cue.category, "id": r.cue.cue_id, "index": r.index,
                **{k: (v if math.isfinite(v) else None) for k, v in r.measures().items()},
                "quality": dict(r.quality),
            }
            if self.recorder is not None:
                self.recorder.append_record("cue_response", payload, t=r.cue.onset)
            self._run_hooks(SessionUpdate("cue_response", r.cue.onset, self.context, cue=r.cue, cue_response=r))

    def record(self, kind: str, payload: Any, t: float | None = None) -> None:
        """Log a decision, proposal, alert ... with its evidence and tell subscribers of ``decision``."""
        if self.recorder is not None:
            self.recorder.append_record(kind, payload, t=t)
        if kind in ("decision", "proposal", "alert"):
            self._publish("decision", {"v": 1, "type": kind, "t": t, "data": payload})

    def send_command(self, command: Command) -> str:
        """Send a command to the VR client (logged; delivery is never dropped); returns its id."""
        msg = command.to_message()
        if self.recorder is not None:
            self.recorder.append_record("command", msg, t=self.now())
        self._acks.setdefault(command.id, asyncio.get_running_loop().create_future())
        self._publish("command", msg)
        return command.id

    async def wait_ack(self, command_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the VR client's acknowledgement of a command."""
        fut = self._acks.setdefault(command_id, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    def acknowledge(self, command_id: str, status: str = "ok", detail: str = "") -> None:
        """Called by the protocol handler when the VR client acknowledges a command."""
        ack = {"command_id": command_id, "status": status, "detail": detail}
        if self.recorder is not None:
            self.recorder.append_record("ack", ack, t=self.now())
        fut = self._acks.get(command_id)
        if fut is not None and not fut.done():
            fut.set_result(ack)
        self._publish("ack", {"v": 1, "type": "ack", **ack})
        self._run_hooks(SessionUpdate("ack", self.now(), self.context, ack=ack))

    @property
    def backlog(self) -> int:
        """Chunks queued and not yet processed."""
        return self._queue.qsize()

    async def wait_progress(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) until the next chunk has been processed or an attached source ended.

        A consumer that works per second of session time (the clinician's dashboard) waits with it until
        :attr:`vitals` has samples up to the end of its second, instead of polling.
        """
        self._progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), timeout)

    def now(self) -> float:
        """Latest sample time seen on the session clock (NaN before any data)."""
        ts = [b.last_t for b in self.buffers.values() if b.last_t is not None]
        return max(ts) if ts else math.nan

    # --- output ---------------------------------------------------------------------------------------
    def subscribe(
        self, topics: Iterable[str] = ("estimate",), maxsize: int = 256, name: str = ""
    ) -> Subscription:
        """A new bounded mailbox for ``topics`` (see :data:`ALL_TOPICS`)."""
        topics = set(topics)
        unknown = topics - self.topics
        if unknown:
            raise ConfigurationError(f"unknown topics {sorted(unknown)}; use some of {sorted(self.topics)}")
        sub = Subscription(name or f"sub{len(self.subscriptions)}", topics, maxsize)
        self.subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        with contextlib.suppress(ValueError):
            self.subscriptions.remove(sub)

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Publish an application message (e.g. a dashboard update, a command in an app's own format).

        It reaches the subscribers of ``topic`` through their bounded mailboxes like the pipeline's own messages
        (``command`` and ``end`` are never dropped). It is not recorded: log what matters with :meth:`record`.
        """
        if topic not in self.topics:
            raise ConfigurationError(
                f"cannot publish on unknown topic {topic!r}; use one of {sorted(self.topics)}"
                " (add application topics with LiveSession(extra_topics=...))"
            )
        self._publish(topic, message)

    def _publish(self, topic: str, message: dict[str, Any]) -> None:
        for s in self.subscriptions:
            s.offer(topic, message)

    @property
    def dropped_messages(self) -> int:
        return sum(s.dropped for s in self.subscriptions)

    def stats(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms)
        return {
            "session_id": self.session_id,
            "state": self.state,
            "samples_in": self.samples_in,
            "rows": self.rows_emitted,
            "estimates": len(self.estimates),
            "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
            "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
            "dropped_messages": self.dropped_messages,
            "hook_errors": self.hook_errors,
            "pipeline_errors": self.pipeline_errors,
            "streams": [b.status() for b in self.buffers.values()],
        }

    # --- processing -----------------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while True:
                chunk = await self._queue.get()
                if chunk is None:
                    break
                try:
                    self.process(chunk)
                except SignalError as err:
                    logger.warning(
                        "session %s: rejected a chunk of %r: %s", self.session_id, chunk.stream, err
                    )
                except Exception:  # noqa: BLE001 - a failing stage must never stop a live session
                    self.pipeline_errors += 1
                    logger.exception(
                        "session %s: processing a chunk of %r failed (it is recorded; the session goes on)",
                        self.session_id,
                        chunk.stream,
                    )
                if (
                    self.recorder is not None
                    and self.recorder.pending_bytes > self.recorder.max_pending_bytes
                ):
                    await self.recorder.wait_capacity()
        finally:
            self._done.set()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            self._flush_held(force=False)
            now = time.monotonic()
            for b in self.buffers.values():
                if not b.stale and now - b.last_arrival > self.stale_after:
                    b.stale = True
                    self._quality_change(b, "lost")

    def _flush_held(self, force: bool) -> None:
        for b in list(self.buffers.values()):
            if b.held:
                ready, gaps = b.tick(force=force)
                try:
                    self._after_buffer(b, ready, gaps)
                except Exception:  # noqa: BLE001 - a failing stage must never stop a live session
                    self.pipeline_errors += 1
                    logger.exception(
                        "session %s: processing released chunks of %r failed", self.session_id, b.name
                    )

    def process(self, chunk: Chunk) -> None:
        """Run one chunk through the pipeline synchronously (used by the queue consumer)."""
        if chunk.kind not in STREAM_KINDS:
            raise SignalError(f"unknown stream kind {chunk.kind!r}")
        if len(chunk) == 0:
            return
        if not np.all(np.isfinite(chunk.timestamps)):
            raise SignalError(f"chunk of {chunk.stream!r} has non-finite timestamps")
        if self.recorder is not None:
            self.recorder.append_chunk(chunk)
        self.samples_in += len(chunk)
        self.vitals.push(chunk)
        self._progress.set()
        buf = self.buffers.get(chunk.stream)
        if buf is None:
            buf = StreamBuffer(
                chunk.stream, chunk.kind, chunk.rate, self.reorder_timeout, self.reorder_window
            )
            self.buffers[chunk.stream] = buf
            self._quality_change(buf, "ok")
        was_stale = buf.stale
        ready, gaps = buf.push(chunk)
        if was_stale:
            self._quality_change(buf, "ok")
        self._after_buffer(buf, ready, gaps)

    def _after_buffer(self, buf: StreamBuffer, ready: list[Chunk], gaps: list[tuple[float, float]]) -> None:
        for g in gaps:
            self._quality_change(buf, "gap", gap=g)
        wants_samples = self._wants("samples")
        for c in ready:
            if wants_samples:
                self._publish(
                    "samples",
                    {
                        "v": 1,
                        "type": "samples",
                        "stream": c.stream,
                        "kind": c.kind,
                        "n": len(c),
                        "t": c.timestamps.tolist(),
                        "values": c.values.tolist(),
                    },
                )
            try:
                self._cue_responses(self.cue_scorer.push(c))
                rows = self.features.push(c)
                if rows:
                    self._on_rows(rows, c)
            except Exception:  # noqa: BLE001 - one failing chunk must not cost the others or stop the session
                self.pipeline_errors += 1
                logger.exception(
                    "session %s: features/detector failed on a chunk of %r (recorded; the session goes on)",
                    self.session_id,
                    c.stream,
                )

    def _wants(self, topic: str) -> bool:
        return any(topic in s.topics for s in self.subscriptions)

    def _quality_change(self, buf: StreamBuffer, status: str, gap: tuple[float, float] | None = None) -> None:
        q = {
            "v": 1,
            "type": "quality",
            "stream": buf.name,
            "kind": buf.kind,
            "status": status,
            "t": buf.last_t,
            "gap": list(gap) if gap else None,
            "gap_seconds": round(buf.gap_seconds, 3),
            "late_samples": buf.late_samples,
        }
        if self.recorder is not None:
            self.recorder.append_record("quality", q, t=buf.last_t)
        self._publish("quality", q)
        self._run_hooks(
            SessionUpdate("quality", buf.last_t if buf.last_t is not None else math.nan, self.context, quality=q)
        )

    def _ids(self) -> dict[str, object]:
        return {"dataset": self.meta.dataset or "live", "subject": self.meta.subject, "session": self.session_id}

    def _rows_frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        df = pd.DataFrame.from_records(rows)
        for k, v in self._ids().items():
            if k not in df.columns:
                df.insert(0, k, v)
        return df

    def _with_ids(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows with the session's dataset, subject and session ids where a row has none (as :meth:`_rows_frame`)."""
        ids = self._ids()
        return [{**{k: v for k, v in ids.items() if k not in r}, **r} for r in rows]

    def _on_rows(self, rows: list[dict[str, Any]], trigger: Chunk | None) -> None:
        self.rows_emitted += len(rows)
        if self._estimate is None:
            for r in rows:
                if self.recorder is not None:
                    self.recorder.append_record("features", r, t=float(r.get("t_end", math.nan)))
            return
        if self._stateful is not None and self.detector_state is None:
            self.detector_state = self._stateful.new_state()  # rows processed without start() (process() called directly)
        if self._records is not None:  # one row per hop: no table built (the same estimates, see estimate_records)
            estimates = self._records.estimate_records(self._with_ids(rows), state=self.detector_state)
        elif self._stateful is not None:
            estimates = self._stateful.estimate(self._rows_frame(rows), state=self.detector_state)
        else:
            estimates = self._estimate(self._rows_frame(rows))
        trig = getattr(trigger, "sent_at", None)
        for row, est in zip(rows, estimates, strict=False):
            quality = {k: float(v) for k, v in row.items() if k.startswith("q_") or k == "quality_ok"}
            latency = (
                (time.perf_counter() - trigger.received_at) * 1000.0
                if trigger and trigger.received_at
                else 0.0
            )
            se = StateEstimate(
                t_end=float(est.t_end),
                probability=float(est.probability),
                lower=float(est.lower),
                upper=float(est.upper),
                abstained=bool(est.abstained),
                reason=str(est.reason),
                model=str(getattr(est, "model", "")),
                quality=quality,
                contributions=dict(getattr(est, "contributions", {}) or {}),
                latency_ms=latency,
                trigger=trig,
            )
            self.estimates.append(se)
            self._publish("estimate", se.to_message())
            if trigger is not None:
                self.latencies_ms.append(latency)
            if self.recorder is not None:
                self.recorder.append_record("estimate", se, t=se.t_end)
            self._run_hooks(SessionUpdate("estimate", se.t_end, self.context, estimate=se, row=row))

    def _run_hooks(self, update: SessionUpdate) -> None:
        for hook in self.hooks:
            try:
                commands = hook(update)
            except Exception:  # noqa: BLE001 - a hook must never stop the session
                self.hook_errors += 1
                logger.exception("session %s: hook %r failed on %s", self.session_id, hook, update.kind)
                continue
            for cmd in commands or ():
                if isinstance(cmd, Command):
                    self.send_command(cmd)

    def __repr__(self) -> str:
        return f"<LiveSession {self.session_id} {self.state} streams={list(self.buffers)} estimates={len(self.estimates)}>"
