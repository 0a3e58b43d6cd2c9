"""attunexr's error types survive the trip from a worker process (parallel folds, parallel loading) to the caller."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from joblib import Parallel, delayed

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.io import read_empatica


def test_data_format_error_pickles_with_its_path_and_problem() -> None:
    err = pickle.loads(pickle.dumps(DataFormatError("/data/S05/EDA.csv", "bad header")))
    assert isinstance(err, DataFormatError) and isinstance(err, ValueError)
    assert (err.path, err.problem, str(err)) == (
        "/data/S05/EDA.csv",
        "bad header",
        "/data/S05/EDA.csv: bad header",
    )
    assert str(pickle.loads(pickle.dumps(DataFormatError(None, "empty message")))) == "empty message"
    assert (
        str(pickle.loads(pickle.dumps(ConfigurationError("normalize must be ..."))))
        == "normalize must be ..."
    )


def test_a_bad_file_read_in_a_worker_process_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "EDA.csv").write_text("nonsense\n1,2\n")
    with pytest.raises(DataFormatError, match=r"EDA\.csv: truncated"):
        Parallel(n_jobs=2)(delayed(read_empatica)(tmp_path) for _ in range(2))
