"""Fixtures for live-session tests: a master key, a short real recording, a simple real-features detector."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunexr.io import read_empatica
from attunexr.models import Estimate
from attunexr.privacy import MasterKey, generate_data_key
from attunexr.recording import Recording


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey(generate_data_key())


@pytest.fixture(scope="session")
def s02(stress_predict_dir: Path) -> Recording:
    """Stress-Predict S02 (Empatica E4), read with the project's reader."""
    return read_empatica(stress_predict_dir / "Raw_data" / "S02", dataset="stress-predict")


@pytest.fixture(scope="session")
def s02_short(s02: Recording) -> Recording:
    """The first 200 s of S02."""
    return s02.crop(s02.t_start, s02.t_start + 200.0)


def hr_detector(rows: pd.DataFrame) -> list[Estimate]:
    """A transparent detector on real features: logistic in mean heart rate, abstains on poor quality."""
    out = []
    for _, r in rows.iterrows():
        hr = float(r["hr_mean"])
        ok = bool(r.get("quality_ok", True)) and math.isfinite(hr)
        p = 1.0 / (1.0 + math.exp(-(hr - 80.0) / 8.0)) if math.isfinite(hr) else float("nan")
        out.append(
            Estimate(
                float(r["t_end"]),
                p,
                p - 0.05,
                p + 0.05,
                not ok,
                "" if ok else "poor_signal_quality",
                {"hr_mean": hr},
                "hr-logistic",
            )
        )
    return out


@pytest.fixture
def detector():
    return hr_detector


def assert_no_plaintext(path: Path, needles: list[bytes]) -> None:
    data = path.read_bytes()
    for n in needles:
        assert n not in data, f"{path} contains plaintext {n[:40]!r}"


__all__ = ["assert_no_plaintext", "hr_detector", "np"]


@pytest.fixture
async def live_server(tmp_path, master_key):
    """A real uvicorn server running :func:`create_live_app` on a free loopback port (same event loop)."""
    import asyncio

    import uvicorn

    from attunexr.session import SessionManager, create_live_app

    manager = SessionManager(
        detector=hr_detector, record_dir=tmp_path / "sessions", master_key=master_key, window=60.0, hop=10.0
    )
    app = create_live_app(manager)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}", manager
    server.should_exit = True
    await task
