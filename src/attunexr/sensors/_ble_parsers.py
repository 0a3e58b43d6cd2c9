"""Byte-level parsers for Bluetooth LE heart-rate straps.

* Heart Rate Measurement characteristic (GATT 0x2A37, Heart Rate Service 0x180D), Bluetooth SIG
  "Heart Rate Service 1.0": flags byte, heart rate (uint8 or uint16), optional energy expended (uint16, kJ),
  optional RR intervals (uint16 little-endian, units of 1/1024 s).
* Polar H10 raw ECG through the Polar Measurement Data (PMD) service: frame = measurement type byte (0 = ECG),
  uint64 little-endian timestamp in ns since 2000-01-01T00:00:00 (of the last sample), frame type byte
  (0 = uncompressed), then int24 little-endian samples in microvolts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ProtocolError

__all__ = [
    "HEART_RATE_MEASUREMENT_UUID",
    "HEART_RATE_SERVICE_UUID",
    "PMD_CONTROL_UUID",
    "PMD_DATA_UUID",
    "PMD_SERVICE_UUID",
    "POLAR_EPOCH_UNIX",
    "PMD_START_ECG",
    "PMD_STOP_ECG",
    "EcgFrame",
    "HeartRateMeasurement",
    "parse_heart_rate_measurement",
    "parse_pmd_ecg_frame",
]

HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
#: Request to start ECG streaming at 130 Hz, 14-bit resolution.
PMD_START_ECG = bytes.fromhex("02 00 00 01 82 00 01 01 0E 00")
PMD_STOP_ECG = bytes.fromhex("03 00")
#: Unix time of 2000-01-01T00:00:00Z, the Polar timestamp epoch.
POLAR_EPOCH_UNIX = 946684800.0

_FLAG_HR_UINT16 = 0x01
_FLAG_CONTACT_DETECTED = 0x02
_FLAG_CONTACT_SUPPORTED = 0x04
_FLAG_ENERGY = 0x08
_FLAG_RR = 0x10


@dataclass(frozen=True)
class HeartRateMeasurement:
    """One decoded 0x2A37 notification.

    Attributes
    ----------
    heart_rate
        Beats per minute.
    contact
        ``True``/``False`` when the strap reports skin contact, ``None`` when it does not support the feature.
    energy_expended
        Cumulative energy in kJ, when present.
    rr_intervals
        Beat-to-beat intervals in seconds, oldest first.
    """

    heart_rate: int
    contact: bool | None
    energy_expended: int | None = None
    rr_intervals: tuple[float, ...] = field(default_factory=tuple)


def parse_heart_rate_measurement(data: bytes | bytearray) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement (0x2A37) value; :class:`ProtocolError` if it is truncated or malformed."""
    buf = bytes(data)
    if not buf:
        raise ProtocolError(
            "heart rate measurement: empty notification (expected at least flags and heart rate)"
        )
    flags = buf[0]
    pos = 1
    hr_size = 2 if flags & _FLAG_HR_UINT16 else 1
    if len(buf) < pos + hr_size:
        raise ProtocolError(
            f"heart rate measurement truncated: flags 0x{flags:02x} announce a {8 * hr_size}-bit heart rate "
            f"but the packet has {len(buf)} byte(s)"
        )
    hr = int.from_bytes(buf[pos : pos + hr_size], "little")
    pos += hr_size
    contact: bool | None = bool(flags & _FLAG_CONTACT_DETECTED) if flags & _FLAG_CONTACT_SUPPORTED else None
    energy: int | None = None
    if flags & _FLAG_ENERGY:
        if len(buf) < pos + 2:
            raise ProtocolError(
                f"heart rate measurement truncated: flags 0x{flags:02x} announce energy expended at byte {pos} "
                f"but the packet has {len(buf)} byte(s)"
            )
        energy = int.from_bytes(buf[pos : pos + 2], "little")
        pos += 2
    rest = buf[pos:]
    rr: tuple[float, ...] = ()
    if flags & _FLAG_RR:
        if len(rest) % 2:
            raise ProtocolError(
                f"heart rate measurement truncated: {len(rest)} byte(s) of RR intervals is not a whole number of "
                "uint16 values"
            )
        raw = np.frombuffer(rest, dtype="<u2")
        rr = tuple(float(v) / 1024.0 for v in raw)
    elif rest:
        raise ProtocolError(
            f"heart rate measurement has {len(rest)} unexpected trailing byte(s) (flags 0x{flags:02x} announce none)"
        )
    return HeartRateMeasurement(hr, contact, energy, rr)


@dataclass(frozen=True)
class EcgFrame:
    """One decoded Polar PMD ECG frame.

    Attributes
    ----------
    timestamp_ns
        Sensor time of the last sample in ns since 2000-01-01T00:00:00Z.
    samples_uv
        ECG samples in microvolts, oldest first.
    """

    timestamp_ns: int
    samples_uv: NDArray[np.float64]

    @property
    def timestamp_unix(self) -> float:
        return POLAR_EPOCH_UNIX + self.timestamp_ns / 1e9


def parse_pmd_ecg_frame(data: bytes | bytearray) -> EcgFrame:
    """Decode a Polar H10 PMD data notification holding raw ECG; :class:`ProtocolError` if malformed."""
    buf = bytes(data)
    if len(buf) < 10:
        raise ProtocolError(
            f"PMD frame truncated: {len(buf)} byte(s), expected at least 10 (type, 8-byte timestamp, frame type)"
        )
    if buf[0] != 0x00:
        raise ProtocolError(f"PMD frame has measurement type 0x{buf[0]:02x}, expected 0x00 (ECG)")
    if buf[9] != 0x00:
        raise ProtocolError(
            f"PMD ECG frame type 0x{buf[9]:02x} is not supported; expected 0x00 (uncompressed int24)"
        )
    payload = buf[10:]
    if len(payload) % 3:
        raise ProtocolError(
            f"PMD ECG frame truncated: {len(payload)} payload byte(s) is not a whole number of int24 samples"
        )
    ts = int.from_bytes(buf[1:9], "little")
    raw = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    vals = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
    vals = np.where(vals & 0x800000, vals - 0x1000000, vals)
    return EcgFrame(ts, vals.astype(np.float64))
