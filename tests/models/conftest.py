"""Fixtures for the model tests: real feature tables, extracted once per session (cached on disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunexr.models import get_task, targets
from attunexr.models._data import feature_table

#: A small subject set for the fold-heavy tests (LOSO over all 35 subjects belongs in benchmarks).
STRESS_SUBJECTS = ["S02", "S03", "S05", "S07", "S09", "S11", "S13"]


@pytest.fixture(scope="session")
def stress_table(stress_predict_dir: Path) -> pd.DataFrame:
    """Feature rows (60 s windows, 10 s hop) of all Stress-Predict subjects."""
    task = get_task("stress")
    table, _ = feature_table("stress-predict", task.window, task.hop, data_dir=stress_predict_dir.parent)
    return table


@pytest.fixture(scope="session")
def stress_small(stress_table: pd.DataFrame) -> pd.DataFrame:
    return stress_table[stress_table["subject"].isin(STRESS_SUBJECTS)].reset_index(drop=True)


@pytest.fixture(scope="session")
def stress_y(stress_small: pd.DataFrame) -> np.ndarray:
    task = get_task("stress")
    return targets(stress_small["label"], task.positive, task.negative)


@pytest.fixture(scope="session")
def vr_table(vr_cybersickness_dir: Path) -> pd.DataFrame:
    """Feature rows (20 s windows, 5 s hop) of the VR cybersickness recordings, with ``time_in_vr``."""
    task = get_task("cybersickness")
    table, _ = feature_table("vr-cybersickness", task.window, task.hop, data_dir=vr_cybersickness_dir.parent)
    return table
