"""Lab Streaming Layer (LSL) inlets as live sources: resolve by name or type, clock sync, reconnect.

LSL timestamps are on the sender's ``local_clock``; with ``proc_clocksync`` the inlet maps them to this machine's
LSL clock and ``proc_dejitter`` smooths them for regular streams (Kothe et al., "The Lab Streaming Layer for
synchronized multimodal recording", 2024). The session clock is this LSL clock minus ``clock_zero``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from attunexr.errors import ConfigurationError
from attunexr.recording import STREAM_KINDS, Chunk
from attunexr.sensors._base import ChunkSource

__all__ = ["LSL_TYPE_KINDS", "LSLSource", "LSLStreamInfo", "discover_lsl_streams", "lsl_clock"]

logger = logging.getLogger(__name__)

#: LSL stream ``type`` (case-insensitive) -> attunexr stream kind.
LSL_TYPE_KINDS: dict[str, str] = {
    "ecg": "ecg",
    "ppg": "ppg",
    "bvp": "ppg",
    "eda": "eda",
    "gsr": "eda",
    "temp": "temp",
    "temperature": "temp",
    "acc": "acc",
    "accelerometer": "acc",
    "hr": "hr",
    "heartrate": "hr",
    "ibi": "ibi",
    "rr": "ibi",
    "resp": "resp",
    "respiration": "resp",
    "gaze": "gaze",
    "pupil": "pupil",
    "headpose": "head_pose",
    "head_pose": "head_pose",
    "mocap": "head_pose",
}


def lsl_clock() -> float:
    """This machine's LSL clock (``pylsl.local_clock()``), in seconds."""
    import pylsl

    return float(pylsl.local_clock())


@dataclass(frozen=True)
class LSLStreamInfo:
    """An LSL stream seen on the network: what a session plan can choose as its signal source."""

    name: str
    type: str
    kind: str | None
    rate: float | None
    channels: int
    source_id: str


def discover_lsl_streams(wait: float = 1.0) -> list[LSLStreamInfo]:
    """The numeric LSL streams visible from this machine within ``wait`` seconds (``kind`` is ``None`` when the
    LSL type maps to no attunexr stream kind; such a stream needs an explicit kind)."""
    import pylsl

    out = []
    for info in pylsl.resolve_streams(wait_time=wait):
        if info.channel_format() == pylsl.cf_string:
            continue
        rate = info.nominal_srate()
        out.append(LSLStreamInfo(info.name(), info.type(), LSL_TYPE_KINDS.get(info.type().lower().replace(" ", "")),
                                 float(rate) if rate > 0 else None, info.channel_count(), info.source_id()))
    return sorted(out, key=lambda i: (i.name, i.source_id))


class LSLSource(ChunkSource):
    """Pull chunks from one LSL stream found by name or type.

    Parameters
    ----------
    name, type
        LSL stream name or type to resolve (name takes precedence; give at least one).
    stream
        Name of the stream in the session (default: the LSL name, lower-cased).
    kind
        attunexr stream kind (default: derived from the LSL type through :data:`LSL_TYPE_KINDS`).
    clock_zero
        LSL clock value of session clock zero (default: ``lsl_clock()`` when the source starts).
    resolve_timeout
        Seconds to wait for the stream at start before failing.
    pull_interval
        Seconds of samples gathered per chunk.
    reconnect
        Keep resolving again when the outlet disappears; chunks resume when it returns.
    """

    def __init__(
        self,
        name: str | None = None,
        type: str | None = None,  # noqa: A002 - LSL's own term
        stream: str | None = None,
        kind: str | None = None,
        clock_zero: float | None = None,
        resolve_timeout: float = 5.0,
        pull_interval: float = 0.1,
        reconnect: bool = True,
    ) -> None:
        super().__init__()
        if not name and not type:
            raise ConfigurationError("LSLSource needs an LSL stream name or type to resolve")
        if kind is not None and kind not in STREAM_KINDS:
            raise ConfigurationError(f"unknown stream kind {kind!r}; use one of {sorted(STREAM_KINDS)}")
        self.lsl_name = name
        self.lsl_type = type
        self.stream = stream
        self.kind = kind
        self.clock_zero = clock_zero
        self.resolve_timeout = resolve_timeout
        self.pull_interval = pull_interval
        self.reconnect = reconnect
        self.name = f"lsl:{name or type}"
        self.reconnects = 0
        self.rate: float | None = None
        self.channels: tuple[str, ...] = ()
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._inlet: object | None = None

    # --- resolution -----------------------------------------------------------------------------------
    def _resolve(self, timeout: float) -> object | None:
        import pylsl

        if self.lsl_name:
            found = pylsl.resolve_byprop("name", self.lsl_name, 1, timeout)
        else:
            found = pylsl.resolve_byprop("type", self.lsl_type, 1, timeout)
        return found[0] if found else None

    def _open(self, info: object) -> object:
        import pylsl

        inlet = pylsl.StreamInlet(
            info, max_buflen=360, recover=False, processing_flags=pylsl.proc_clocksync | pylsl.proc_dejitter
        )
        full = inlet.info(timeout=self.resolve_timeout)
        if full.channel_format() == pylsl.cf_string:
            inlet.close_stream()
            raise ConfigurationError(
                f"LSL stream {full.name()!r} carries strings; only numeric streams are supported"
            )
        lsl_type = full.type()
        if self.kind is None:
            kind = LSL_TYPE_KINDS.get(lsl_type.lower().replace(" ", ""))
            if kind is None:
                inlet.close_stream()
                raise ConfigurationError(
                    f"LSL stream {full.name()!r} has type {lsl_type!r}, which attunexr cannot map to a stream kind; "
                    f"pass kind= (one of {sorted(STREAM_KINDS)})"
                )
            self.kind = kind
        if self.stream is None:
            self.stream = full.name().lower()
        rate = full.nominal_srate()
        self.rate = float(rate) if rate > 0 else None
        n = full.channel_count()
        self.channels = tuple(f"ch{i}" for i in range(n)) if n > 1 else ()
        inlet.open_stream(timeout=self.resolve_timeout)
        return inlet

    async def start(self) -> None:
        if self._started:
            return  # idempotent: a session may start an already started source
        await super().start()
        self._loop = asyncio.get_running_loop()
        if self.clock_zero is None:
            self.clock_zero = lsl_clock()
        info = await asyncio.to_thread(self._resolve, self.resolve_timeout)
        if info is None:
            raise ConfigurationError(
                f"no LSL stream with {'name ' + repr(self.lsl_name) if self.lsl_name else 'type ' + repr(self.lsl_type)} "
                f"found within {self.resolve_timeout:g} s; is the outlet running on this network?"
            )
        self._inlet = await asyncio.to_thread(self._open, info)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    # --- acquisition thread ---------------------------------------------------------------------------
    def _emit(self, item: Chunk | None) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _run(self) -> None:
        from pylsl.util import LostError

        assert self.clock_zero is not None
        inlet: Any = self._inlet
        while not self._halt.is_set():
            if inlet is None:
                info = self._resolve(min(1.0, self.resolve_timeout))
                if info is None:
                    continue
                try:
                    inlet = self._open(info)
                except Exception as err:  # outlet vanished again while opening
                    logger.warning("%s: reopening failed (%s); retrying", self.name, err)
                    inlet = None
                    continue
                self.reconnects += 1
                logger.info("%s: outlet is back; receiving again", self.name)
            try:
                samples, stamps = inlet.pull_chunk(
                    timeout=self.pull_interval, max_samples=65536, as_numpy=True
                )
            except LostError:
                logger.warning("%s: the outlet disappeared", self.name)
                with contextlib.suppress(Exception):  # already gone
                    inlet.close_stream()
                inlet = None
                if not self.reconnect:
                    break
                continue
            if stamps is None or len(stamps) == 0:
                continue
            values = np.asarray(samples, dtype=np.float64)
            if values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]
            ts = np.asarray(stamps, dtype=np.float64) - self.clock_zero
            assert self.stream is not None and self.kind is not None
            self._emit(Chunk(self.stream, self.kind, ts, values, self.rate, time.perf_counter()))
        if inlet is not None:
            with contextlib.suppress(Exception):
                inlet.close_stream()
        self._inlet = None
        self._emit(None)

    async def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)
        await super().stop()

    async def chunks(self) -> AsyncIterator[Chunk]:
        if not self._started:
            await self.start()
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item
