"""A recorded ride's head motion streamed through the VR-client protocol (real WebSocket server) gives, in the
session, the same cybersickness estimates and forecasts as the offline pipeline on the same ride."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunexr.io.datasets import get_dataset
from attunexr.models import MotionSicknessModel, fit_motion_model, motion_table, ride_rows
from attunexr.recording import Recording
from attunexr.safety import CybersicknessMonitor
from attunexr.session import HeadMotionSickness, SessionManager, VRClient, create_live_app

#: the ride streamed live: a participant with gaps (empty gyro cells) in the file
RIDE = "PA100_Reverse_Optical_Flow"
#: rides the small test model is fitted on (other participants; real data, fitted here so the test stands alone)
TRAIN_SUBJECTS = ("PA1", "PA2", "PA3", "PA4", "PA5", "PA6", "PA7", "PA8")


@pytest.fixture(scope="module")
def ride(vr_fms_motion_dir: Path) -> Recording:
    return get_dataset("vr-fms-motion").load_session(RIDE, vr_fms_motion_dir.parent)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def model(vr_fms_motion_dir: Path) -> MotionSicknessModel:
    ds = get_dataset("vr-fms-motion")
    sessions = [s for subj in TRAIN_SUBJECTS for s in ds.sessions(vr_fms_motion_dir.parent, subj)]  # type: ignore[attr-defined]
    return fit_motion_model(motion_table(vr_fms_motion_dir.parent, sessions))


async def _stream_ride(
    ride: Recording, model: MotionSicknessModel, tmp_path: Path, master_key
) -> HeadMotionSickness:
    import uvicorn

    manager = SessionManager(record_dir=tmp_path / "sessions", master_key=master_key, window=20.0, hop=5.0)
    server = uvicorn.Server(
        uvicorn.Config(create_live_app(manager), host="127.0.0.1", port=0, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    host = f"127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        live = HeadMotionSickness(model, mssq=float(ride.meta.extra["mssq"]), monitor=CybersicknessMonitor())
        session, token = await manager.open_session(ride.meta, detector=live, hooks=[live])
        imu = ride.streams["head_imu"]
        fms = {e.onset: e.value for e in ride.events if e.label == "fms"}
        client = VRClient(f"ws://{host}/live/ws/vr", token, binary=False)
        await client.connect(t_now=float(imu.timestamps[-1]) + 1.0)
        for t, v in zip(imu.timestamps, imu.values, strict=True):
            if t in fms:
                await client.send_event(float(t), "fms", fms[t])
            acc = v[:3].tolist() if np.isfinite(v[:3]).all() else None
            gyro = v[3:].tolist() if np.isfinite(v[3:]).all() else None
            await client.send_head_pose(float(t), [0.0, 1.6, 0.0], [0.0, 0.0, 0.0, 1.0], acc, gyro)
        ride_end = float(ride.meta.extra["ride_end"])
        for _ in range(500):
            if live.outputs and live.outputs[-1]["t_end"] >= ride_end:
                break
            await asyncio.sleep(0.02)
        assert client.errors.empty()
        await client.close()
        await manager.close_session(session.session_id)
        return live
    finally:
        server.should_exit = True
        await task


async def test_recorded_ride_live_equals_offline(
    ride: Recording, model: MotionSicknessModel, tmp_path, master_key
) -> None:
    offline_rows = ride_rows(ride)
    offline = model.assess(offline_rows).assign(t_end=offline_rows["t_end"].to_numpy())
    live = await _stream_ride(ride, model, tmp_path, master_key)
    got = pd.DataFrame(live.outputs)
    got = got[got["t_end"] <= float(ride.meta.extra["ride_end"]) + 1e-9].reset_index(drop=True)
    assert len(got) == len(offline) >= 35
    assert np.array_equal(got["t_end"].to_numpy(), offline["t_end"].to_numpy())
    assert np.allclose(got["p_sick_now"], offline["p_sick_now"], rtol=0, atol=1e-9)
    assert np.allclose(got["p_cross_60s"], offline["p_cross_60s"], rtol=0, atol=1e-9)
    # the estimates vary over the ride (not a constant), and the monitor saw the FMS answers
    assert offline["p_sick_now"].std() > 0.01
    assert live._fms is not None and math.isfinite(live._fms[1])
