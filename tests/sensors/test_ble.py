"""Bluetooth LE heart-rate strap parsers and source, fed the byte layouts of GATT 0x2A37 and Polar PMD (no radio)."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest

from attunexr.errors import ProtocolError
from attunexr.sensors import (
    HEART_RATE_MEASUREMENT_UUID,
    PMD_CONTROL_UUID,
    PMD_DATA_UUID,
    PMD_START_ECG,
    PMD_STOP_ECG,
    BleHeartRateSource,
    FakeBleTransport,
    parse_heart_rate_measurement,
    parse_pmd_ecg_frame,
)


def test_notes_example_packet() -> None:
    m = parse_heart_rate_measurement(bytes.fromhex("16 48 1F 03 2C 03"))
    assert m.heart_rate == 72
    assert m.contact is True
    assert m.energy_expended is None
    assert m.rr_intervals == pytest.approx((799 / 1024, 812 / 1024))
    assert round(m.rr_intervals[0], 3) == 0.780 and round(m.rr_intervals[1], 3) == 0.793


def test_uint16_hr_energy_and_many_rr() -> None:
    rr = [700, 710, 720, 730, 740, 750, 760, 770, 780]
    data = (
        bytes([0x01 | 0x04 | 0x08 | 0x10]) + struct.pack("<HH", 300, 1234) + struct.pack(f"<{len(rr)}H", *rr)
    )
    m = parse_heart_rate_measurement(data)
    assert m.heart_rate == 300
    assert m.contact is False  # supported but not detected
    assert m.energy_expended == 1234
    assert m.rr_intervals == pytest.approx(tuple(v / 1024 for v in rr))


def test_contact_not_supported_and_no_rr() -> None:
    m = parse_heart_rate_measurement(bytes([0x00, 61]))
    assert (m.heart_rate, m.contact, m.rr_intervals) == (61, None, ())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (bytes([0x01, 0x48]), "16-bit heart rate"),
        (bytes([0x08, 0x48, 0x01]), "energy expended"),
        (bytes([0x10, 0x48, 0x1F, 0x03, 0x2C]), "RR intervals"),
        (bytes([0x00, 0x48, 0x00]), "trailing"),
    ],
)
def test_truncated_or_malformed_hr_packets(data: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        parse_heart_rate_measurement(data)


def _pmd_frame(ts_ns: int, samples: list[int], mtype: int = 0, ftype: int = 0) -> bytes:
    body = b"".join(int(s).to_bytes(3, "little", signed=True) for s in samples)
    return bytes([mtype]) + ts_ns.to_bytes(8, "little") + bytes([ftype]) + body


def test_pmd_ecg_frame() -> None:
    samples = [-2400, -1, 0, 1, 2700, 8_388_607, -8_388_608]
    frame = parse_pmd_ecg_frame(_pmd_frame(599_634_000_123_456_789, samples))
    assert frame.timestamp_ns == 599_634_000_123_456_789
    np.testing.assert_array_equal(frame.samples_uv, samples)
    assert frame.timestamp_unix == pytest.approx(946684800 + 599_634_000.123456789)
    # a byte-exact frame: type 0, timestamp, frame type 0, samples 0x000001 = 1 and 0xFFFFFF = -1
    raw = bytes.fromhex("00" + "0100000000000000" + "00" + "010000" + "FFFFFF")
    np.testing.assert_array_equal(parse_pmd_ecg_frame(raw).samples_uv, [1, -1])


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (bytes(5), "at least 10"),
        (_pmd_frame(1, [1, 2])[:-1], "whole number of int24"),
        (_pmd_frame(1, [1], mtype=2), "measurement type"),
        (_pmd_frame(1, [1], ftype=0x80), "frame type"),
    ],
)
def test_pmd_malformed(data: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        parse_pmd_ecg_frame(data)


async def test_source_with_fake_transport_decodes_real_layouts() -> None:
    hr_packets = [
        bytes.fromhex("16 48 1F 03 2C 03"),
        bytes.fromhex("16 49 10 03"),
        bytes.fromhex("01 48"),  # truncated: counted and skipped, the source keeps going
        bytes([0x1E, 75]) + struct.pack("<H", 42) + struct.pack("<3H", 800, 810, 820),
    ]
    n = 73
    ecg_frames = [
        _pmd_frame(10**15 + k * int(n / 130 * 1e9), list(range(k * n, (k + 1) * n))) for k in range(3)
    ]
    transport = FakeBleTransport(
        {HEART_RATE_MEASUREMENT_UUID: hr_packets, PMD_DATA_UUID: ecg_frames}, interval=0.01
    )
    source = BleHeartRateSource(transport, ecg=True, clock_zero=0.0)
    chunks = []
    await source.start()
    assert transport.writes[0] == (PMD_CONTROL_UUID, PMD_START_ECG)

    async def collect() -> None:
        async for c in source.chunks():
            chunks.append(c)

    task = asyncio.create_task(collect())
    while not transport.finished:
        await asyncio.sleep(0.01)
    await source.stop()
    await task
    assert transport.writes[-1] == (PMD_CONTROL_UUID, PMD_STOP_ECG)
    assert source.protocol_errors == 1
    hr = np.concatenate([c.values for c in chunks if c.kind == "hr"])
    np.testing.assert_array_equal(hr, [72, 73, 75])
    ibi = [c for c in chunks if c.kind == "ibi"]
    rr = np.concatenate([c.values for c in ibi])
    np.testing.assert_allclose(rr, np.array([799, 812, 784, 800, 810, 820]) / 1024)
    beat_times = np.concatenate([c.timestamps for c in ibi])
    assert np.all(np.diff(beat_times) > 0)
    ecg = [c for c in chunks if c.kind == "ecg"]
    values = np.concatenate([c.values for c in ecg])
    np.testing.assert_array_equal(values, np.arange(3 * n))
    ts = np.concatenate([c.timestamps for c in ecg])
    np.testing.assert_allclose(np.diff(ts), 1 / 130, atol=2e-6)
    assert all(c.rate == 130.0 for c in ecg)
