"""Live sources behind one async interface: LSL, Bluetooth LE heart-rate straps, VR clients, file replay, simulators.

Every source has ``start()``, ``stop()`` and ``chunks()`` (an async iterator of
:class:`~attunexr.recording.Chunk` on the session clock), so a session can swap one for another and tests can feed
real byte layouts or real recordings instead of hardware. A session attaches any of them the same way
(:meth:`attunexr.session.LiveSession.attach`): :class:`LSLSource`, :class:`BleHeartRateSource` (several at once as a
:class:`SensorGroup`), :class:`ClientSource` (samples a VR client sends), :class:`ReplaySource` (a recording) and
:class:`SteppedSource` (a simulator that responds to the exposure, e.g. a virtual patient).
"""

from attunexr.sensors._base import ChunkSource, IteratorSource, QueueSource, Source
from attunexr.sensors._ble import BleakTransport, BleHeartRateSource, BleTransport, FakeBleTransport
from attunexr.sensors._ble_parsers import (
    HEART_RATE_MEASUREMENT_UUID,
    PMD_CONTROL_UUID,
    PMD_DATA_UUID,
    PMD_START_ECG,
    PMD_STOP_ECG,
    EcgFrame,
    HeartRateMeasurement,
    parse_heart_rate_measurement,
    parse_pmd_ecg_frame,
)
from attunexr.sensors._client import ClientSource
from attunexr.sensors._group import SensorGroup
from attunexr.sensors._lsl import LSL_TYPE_KINDS, LSLSource, LSLStreamInfo, discover_lsl_streams, lsl_clock
from attunexr.sensors._replay import ReplaySource
from attunexr.sensors._stepped import ExposureDriven, SteppedSource

#: The simulator hook: any (async) iterable of chunks, e.g. a virtual patient, becomes a source.
SimulatorSource = IteratorSource

__all__ = [
    "HEART_RATE_MEASUREMENT_UUID",
    "LSL_TYPE_KINDS",
    "PMD_CONTROL_UUID",
    "PMD_DATA_UUID",
    "PMD_START_ECG",
    "PMD_STOP_ECG",
    "BleHeartRateSource",
    "BleTransport",
    "BleakTransport",
    "ChunkSource",
    "ClientSource",
    "EcgFrame",
    "ExposureDriven",
    "FakeBleTransport",
    "HeartRateMeasurement",
    "IteratorSource",
    "LSLSource",
    "LSLStreamInfo",
    "QueueSource",
    "ReplaySource",
    "SensorGroup",
    "SimulatorSource",
    "Source",
    "SteppedSource",
    "discover_lsl_streams",
    "lsl_clock",
    "parse_heart_rate_measurement",
    "parse_pmd_ecg_frame",
]
