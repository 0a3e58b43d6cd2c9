"""Shared fixtures. Real data comes from ATTUNEXR_DATA; under CI=true a missing dataset is a failure, never a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attunexr.io import data_root

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _require(path: Path) -> Path:
    if not path.is_dir():
        msg = f"real dataset folder {path} is missing; set ATTUNEXR_DATA to the folder holding the datasets"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder holding the real datasets (``stress-predict/``, ``vr-cybersickness/``)."""
    return _require(data_root())


@pytest.fixture(scope="session")
def stress_predict_dir(data_dir: Path) -> Path:
    return _require(data_dir / "stress-predict")


@pytest.fixture(scope="session")
def vr_cybersickness_dir(data_dir: Path) -> Path:
    return _require(data_dir / "vr-cybersickness")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save files a person should look at (screenshots, reports)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
