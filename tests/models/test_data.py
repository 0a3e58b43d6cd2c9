"""Feature tables for training: extracting subjects in worker processes gives the same table as one process."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from attunexr.models._data import feature_table


def test_parallel_extraction_equals_sequential(stress_predict_dir: Path) -> None:
    subjects = ["S05", "S02", "S09"]
    seen: list[str] = []
    kw = {"data_dir": stress_predict_dir.parent, "subjects": subjects, "cache": False}
    one, cached1 = feature_table("stress-predict", 60.0, 10.0, **kw)  # type: ignore[arg-type]
    two, cached2 = feature_table("stress-predict", 60.0, 10.0, on_recording=seen.append, n_jobs=2, **kw)  # type: ignore[arg-type]
    assert not cached1 and not cached2
    assert seen == subjects  # progress reported per subject, in order
    assert list(pd.unique(two["subject"])) == subjects
    pd.testing.assert_frame_equal(one, two)
