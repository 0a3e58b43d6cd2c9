"""Fixtures for FHIR export tests: one real Stress-Predict subject, its features and a detector's estimates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from attunexr.features import extract
from attunexr.io.datasets import get_dataset
from attunexr.recording import Recording

SUBJECT = "S05"


@pytest.fixture(scope="session")
def s05(stress_predict_dir: Path) -> Recording:
    """Stress-Predict S05, whole session (E4: BVP, EDA, TEMP, ACC, HR, IBI)."""
    return get_dataset("stress-predict").load(SUBJECT, data_dir=stress_predict_dir.parent)


@pytest.fixture(scope="session")
def s05_features(s05: Recording) -> pd.DataFrame:
    return extract(s05, window=60.0, hop=10.0)


@pytest.fixture(scope="session")
def s05_estimates(s05_features: pd.DataFrame) -> list:
    from attunexr.models import load_model

    return load_model("stress").estimate(s05_features)
