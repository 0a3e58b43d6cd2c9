"""A Bluetooth LE heart-rate strap as a live source, with a pluggable transport (bleak or a fake for tests)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

import numpy as np

from attunexr.errors import ConfigurationError, ProtocolError
from attunexr.recording import Chunk
from attunexr.sensors._base import ChunkSource
from attunexr.sensors._ble_parsers import (
    HEART_RATE_MEASUREMENT_UUID,
    PMD_CONTROL_UUID,
    PMD_DATA_UUID,
    PMD_START_ECG,
    PMD_STOP_ECG,
    parse_heart_rate_measurement,
    parse_pmd_ecg_frame,
)

__all__ = ["BleHeartRateSource", "BleTransport", "BleakTransport", "FakeBleTransport"]

logger = logging.getLogger(__name__)

NotifyCallback = Callable[[bytes], None]


class BleTransport(Protocol):
    """What :class:`BleHeartRateSource` needs from a Bluetooth stack (like an httpx transport)."""

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def start_notify(self, characteristic: str, callback: NotifyCallback) -> None: ...

    async def write(self, characteristic: str, data: bytes) -> None: ...


class BleakTransport:
    """The real transport: a :class:`bleak.BleakClient` connected to ``address``."""

    def __init__(self, address: str, timeout: float = 20.0) -> None:
        self.address = address
        self.timeout = timeout
        self._client: object | None = None

    async def connect(self) -> None:
        from bleak import BleakClient  # imported here: needs a Bluetooth stack only when used

        client = BleakClient(self.address, timeout=self.timeout)
        await client.connect()
        self._client = client

    async def disconnect(self) -> None:
        if self._client is not None:
            await self._client.disconnect()  # type: ignore[attr-defined]

    async def start_notify(self, characteristic: str, callback: NotifyCallback) -> None:
        await self._client.start_notify(characteristic, lambda _c, data: callback(bytes(data)))  # type: ignore[union-attr]

    async def write(self, characteristic: str, data: bytes) -> None:
        await self._client.write_gatt_char(characteristic, data, response=True)  # type: ignore[union-attr]


class FakeBleTransport:
    """A transport that plays recorded notification bytes, for tests and demos without a radio.

    Parameters
    ----------
    notifications
        Characteristic UUID -> list of raw notification payloads, delivered in order.
    interval
        Seconds between notifications (0 = as fast as possible).
    """

    def __init__(self, notifications: dict[str, Sequence[bytes]], interval: float = 0.0) -> None:
        self.notifications = {k.lower(): list(v) for k, v in notifications.items()}
        self.interval = interval
        self.writes: list[tuple[str, bytes]] = []
        self.connected = False
        self._tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> None:
        self.connected = True

    async def disconnect(self) -> None:
        self.connected = False
        for t in self._tasks:
            t.cancel()

    async def write(self, characteristic: str, data: bytes) -> None:
        self.writes.append((characteristic.lower(), bytes(data)))

    async def start_notify(self, characteristic: str, callback: NotifyCallback) -> None:
        payloads = self.notifications.get(characteristic.lower(), [])

        async def play() -> None:
            for p in payloads:
                if not self.connected:
                    return
                callback(p)
                await asyncio.sleep(self.interval)

        self._tasks.append(asyncio.get_running_loop().create_task(play()))

    @property
    def finished(self) -> bool:
        return all(t.done() for t in self._tasks)


class BleHeartRateSource(ChunkSource):
    """Heart rate, RR intervals and (Polar H10) raw ECG from a Bluetooth LE chest strap.

    Yields ``hr`` chunks (bpm, one per notification), ``ibi`` chunks (RR intervals in s, timestamp = end of beat)
    and, with ``ecg=True``, ``ecg`` chunks at 130 Hz in microvolts. Times are on the session clock:
    ``time.time() - clock_zero`` at arrival; ECG sample times follow the sensor clock, anchored at the first frame.
    Malformed packets are logged, counted in ``protocol_errors`` and skipped.

    Parameters
    ----------
    transport
        A :class:`BleTransport`; default :class:`BleakTransport` for ``address``.
    address
        Bluetooth address of the strap (for the default transport).
    ecg
        Also start the Polar PMD ECG stream.
    clock_zero
        Unix time of session clock zero (default: when the source starts).
    """

    def __init__(
        self,
        transport: BleTransport | None = None,
        address: str | None = None,
        ecg: bool = False,
        clock_zero: float | None = None,
        name: str = "ble",
    ) -> None:
        super().__init__()
        if transport is None:
            if not address:
                raise ConfigurationError("BleHeartRateSource needs a Bluetooth address or a transport")
            transport = BleakTransport(address)
        self.transport = transport
        self.ecg = ecg
        self.clock_zero = clock_zero
        self.name = name
        self.protocol_errors = 0
        self._queue: asyncio.Queue[Chunk | None] = asyncio.Queue()
        self._last_beat: float | None = None
        self._ecg_anchor: tuple[int, float] | None = None
        self._ecg_rate = 130.0

    def _now(self) -> float:
        assert self.clock_zero is not None
        return time.time() - self.clock_zero

    def _on_hr(self, data: bytes) -> None:
        try:
            m = parse_heart_rate_measurement(data)
        except ProtocolError as err:
            self.protocol_errors += 1
            logger.warning("%s: skipped a malformed heart-rate packet: %s", self.name, err)
            return
        now, received = self._now(), time.perf_counter()
        self._queue.put_nowait(
            Chunk("hr", "hr", np.array([now]), np.array([float(m.heart_rate)]), None, received)
        )
        if m.rr_intervals:
            rr = np.asarray(m.rr_intervals)
            if self._last_beat is None or now - (self._last_beat + rr.sum()) > 2.0:
                # first beats, or beats were missed: the last interval ends at arrival
                ends = now - (np.cumsum(rr[::-1])[::-1] - rr)
            else:
                # consecutive beats follow each other (arrival times jitter more than beat times)
                ends = self._last_beat + np.cumsum(rr)
            self._last_beat = float(ends[-1])
            self._queue.put_nowait(Chunk("ibi", "ibi", ends, rr, None, received))

    def _on_ecg(self, data: bytes) -> None:
        try:
            frame = parse_pmd_ecg_frame(data)
        except ProtocolError as err:
            self.protocol_errors += 1
            logger.warning("%s: skipped a malformed ECG frame: %s", self.name, err)
            return
        if frame.samples_uv.size == 0:
            return
        if self._ecg_anchor is None:
            self._ecg_anchor = (frame.timestamp_ns, self._now())
        t_last = self._ecg_anchor[1] + (frame.timestamp_ns - self._ecg_anchor[0]) / 1e9
        n = frame.samples_uv.size
        ts = t_last - (n - 1 - np.arange(n)) / self._ecg_rate
        self._queue.put_nowait(Chunk("ecg", "ecg", ts, frame.samples_uv, self._ecg_rate, time.perf_counter()))

    async def start(self) -> None:
        if self._started:
            return  # idempotent: a session may start an already started source
        await super().start()
        if self.clock_zero is None:
            self.clock_zero = time.time()
        await self.transport.connect()
        await self.transport.start_notify(HEART_RATE_MEASUREMENT_UUID, self._on_hr)
        if self.ecg:
            await self.transport.start_notify(PMD_DATA_UUID, self._on_ecg)
            await self.transport.write(PMD_CONTROL_UUID, PMD_START_ECG)

    async def stop(self) -> None:
        if not self.stopped:
            try:
                if self.ecg:
                    await self.transport.write(PMD_CONTROL_UUID, PMD_STOP_ECG)
                await self.transport.disconnect()
            finally:
                await super().stop()
                self._queue.put_nowait(None)

    async def chunks(self) -> AsyncIterator[Chunk]:
        if not self._started:
            await self.start()
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item
