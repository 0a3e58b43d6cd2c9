"""Fixtures for the simulator tests: a real stress detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from attunexr.errors import ModelError


@pytest.fixture(scope="session")
def stress_detector(stress_predict_dir: Path) -> Any:
    """The registered ``stress`` model; while none is registered, an ``ArousalDetector`` fitted here on real
    Stress-Predict windows (six subjects; conformal alpha 0.3 so it commits more often)."""
    from attunexr.models import ArousalDetector, load_model

    try:
        return load_model("stress")
    except ModelError:
        pass
    from attunexr.features import extract
    from attunexr.io.datasets import get_dataset

    ds = get_dataset("stress-predict")
    df = pd.concat([extract(ds.load(s, stress_predict_dir.parent)) for s in ds.subjects(stress_predict_dir.parent)[1:7]],
                   ignore_index=True)
    y = df["label"].map({"stroop": 1, "interview": 1, "hyperventilation": 1, "rest": 0, "baseline": 0})
    keep = y.notna()
    det = ArousalDetector(alpha=0.3, features=["hr_mean", "rmssd", "scl_mean", "scr_rate", "resp_rate"])
    return det.fit(df[keep], y[keep].to_numpy())
