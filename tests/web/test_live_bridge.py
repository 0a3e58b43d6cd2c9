"""Session plans are wired to the project's real components; a missing model stops the start, never a stand-in;
every plan source is an :mod:`attunexr.sensors` source that the session's LiveSession attaches."""

import asyncio

import pytest

from attunexr.errors import ConfigurationError, ModelError
from attunexr.exposure import ExposureController
from attunexr.sensors import ClientSource, ReplaySource, SensorGroup, Source, SteppedSource
from attunexr.session import LiveSession
from attunexr.web import build_session


def test_plan_is_wired_to_the_registry_model_controller_and_safety_monitors() -> None:
    setup = build_session({"scenario": "heights", "model": "stress", "seed": 1})
    assert setup.analyzer.info["model"].startswith("stress")
    assert isinstance(setup.controller.controller, ExposureController)
    assert "OverloadMonitor" in str(setup.info)
    assert isinstance(setup.source, SteppedSource) and setup.patient is not None
    assert isinstance(build_session({"scenario": "heights", "source": "client"}).source, ClientSource)
    replay = build_session({"scenario": "heights", "source": "replay:stress-predict:S02"}).source
    assert isinstance(replay, ReplaySource) and replay.clock_zero == replay.recording.t_start


def test_a_plan_naming_an_unknown_model_does_not_start() -> None:
    with pytest.raises(ModelError, match="no-such-model"):
        build_session({"scenario": "heights", "model": "no-such-model"})


async def test_a_ble_chest_strap_drives_the_session_with_real_byte_layouts() -> None:
    """Plan source ``ble:ADDRESS``: the strap's notifications (real GATT 0x2A37 layouts; no radio here, so the
    transport plays recorded bytes) reach the session's LiveSession as heart-rate and RR chunks on the session
    clock, through :meth:`LiveSession.attach` like every other source."""
    from attunexr.sensors import HEART_RATE_MEASUREMENT_UUID, FakeBleTransport

    setup = build_session({"scenario": "heights", "source": "ble:A0:9E:1A:12:34:56"})
    assert isinstance(setup.source, SensorGroup) and isinstance(setup.source, Source)
    assert setup.info["source_kind"] == "sensors" and "chest strap" in setup.info["summary"][0]
    strap = setup.source.sources[0]
    packets = [bytes.fromhex("16 48 1F 03 2C 03"), bytes.fromhex("16 49 10 03"), bytes.fromhex("01 48")]
    strap.transport = FakeBleTransport({HEART_RATE_MEASUREMENT_UUID: packets}, interval=0.01)  # type: ignore[attr-defined]
    live = LiveSession("ble-test", detector=None)
    await live.start()
    await setup.source.start()
    live.attach(setup.source)
    while not strap.transport.finished:  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    await setup.source.stop()
    await live.stop()
    assert strap.protocol_errors == 1  # type: ignore[attr-defined]
    assert live.buffers["hr"].n_samples == 2 and live.buffers["ibi"].n_samples == 3
    vit = live.vitals.read(live.vitals.clock)
    assert vit.hr == pytest.approx(73.0) and vit.quality["hr"] == "good" and vit.quality["eda"] == "lost"
    # on the session clock (zero = when the strap started; RR beats end up to a few seconds before a notification)
    assert -3.0 < live.vitals.last_seen["hr"] < 5.0
    with pytest.raises(ConfigurationError, match="/ecg"):
        build_session({"scenario": "heights", "source": "ble:A0:9E:1A:12:34:56/raw"})
