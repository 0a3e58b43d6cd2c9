"""Session plans are wired to the project's real components; a missing model stops the start, never a stand-in."""

import pytest

from attunexr.errors import ConfigurationError, ModelError
from attunexr.exposure import ExposureController
from attunexr.web import build_engine


def test_plan_is_wired_to_the_registry_model_controller_and_safety_monitors() -> None:
    engine = build_engine({"scenario": "heights", "model": "stress", "seed": 1})
    assert engine.analyzer.info["model"].startswith("stress")
    assert isinstance(engine.controller.controller, ExposureController)
    assert "OverloadMonitor" in str(engine.info)


def test_a_plan_naming_an_unknown_model_does_not_start() -> None:
    with pytest.raises(ModelError, match="no-such-model"):
        build_engine({"scenario": "heights", "model": "no-such-model"})


async def test_a_ble_chest_strap_drives_the_session_source_with_real_byte_layouts() -> None:
    """Plan source ``ble:ADDRESS``: the strap's notifications (real GATT 0x2A37 layouts; no radio here, so the
    transport plays recorded bytes) become heart-rate and RR chunks on the session clock."""
    import asyncio

    from attunexr.sensors import HEART_RATE_MEASUREMENT_UUID, FakeBleTransport
    from attunexr.web._engine import SensorSource

    engine = build_engine({"scenario": "heights", "source": "ble:A0:9E:1A:12:34:56"})
    assert isinstance(engine.source, SensorSource)
    assert engine.info["source_kind"] == "sensors" and "chest strap" in engine.info["summary"][0]
    strap = engine.source.sources[0]
    packets = [bytes.fromhex("16 48 1F 03 2C 03"), bytes.fromhex("16 49 10 03"), bytes.fromhex("01 48")]
    strap.transport = FakeBleTransport({HEART_RATE_MEASUREMENT_UUID: packets}, interval=0.01)
    await engine.source.start()
    while not strap.transport.finished:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    chunks = await asyncio.to_thread(engine.source.next_second, 0.0, 0, False)
    await engine.source.stop()
    hr = [v for c in chunks if c.kind == "hr" for v in c.values.tolist()]
    rr = [v for c in chunks if c.kind == "ibi" for v in c.values.tolist()]
    assert hr == [72.0, 73.0] and strap.protocol_errors == 1
    assert rr == pytest.approx([799 / 1024, 812 / 1024, 784 / 1024])
    # on the session clock (zero = when the strap started; RR beats end up to a few seconds before a notification)
    assert all(-3.0 < c.t_first < 5.0 for c in chunks)
    with pytest.raises(ConfigurationError, match="/ecg"):
        build_engine({"scenario": "heights", "source": "ble:A0:9E:1A:12:34:56/raw"})
