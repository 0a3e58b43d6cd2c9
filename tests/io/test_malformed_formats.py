"""Malformed BIDS and CSV inputs give a DataFormatError naming the file and the problem.

Each case starts from a valid export of a real Stress-Predict segment and breaks one thing. (Damaged EDF, XDF and
BITalino files are covered in test_edf.py, test_xdf.py and test_bitalino.py.)
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from attunexr.errors import DataFormatError
from attunexr.io import read_bids, read_csv_signals, read_empatica, write_bids

PHYSIO = "sub-S03/beh/sub-S03_task-stress_recording-eda_physio"
ACC = "sub-S03/beh/sub-S03_task-stress_recording-acc_physio"
EVENTS = "sub-S03/beh/sub-S03_task-stress_events.tsv"


@pytest.fixture(scope="module")
def valid_root(stress_predict_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S03").crop(0.0, 120.0)
    root = tmp_path_factory.mktemp("valid") / "ds"
    write_bids(rec, root, task="stress")
    assert read_bids(root)  # the unbroken export reads
    return root


def _gz_text(path: Path) -> str:
    with gzip.open(path, "rt") as fh:
        return fh.read()


def _gz_write(path: Path, text: str) -> None:
    with gzip.open(path, "wt") as fh:
        fh.write(text)


def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    side = json.loads(path.read_text())
    change(side)
    path.write_text(json.dumps(side))


def _physio_gz(root: Path, name: str = PHYSIO) -> Path:
    return root / f"{name}.tsv.gz"


def _physio_json(root: Path, name: str = PHYSIO) -> Path:
    return root / f"{name}.json"


BREAKS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated gzip": (
        lambda r: (_physio_gz(r).write_bytes(_physio_gz(r).read_bytes()[:200]), _physio_gz(r))[1],
        r"truncated or corrupt gzip data",
    ),
    "truncated last row": (
        lambda r: (_gz_write(_physio_gz(r, ACC), _gz_text(_physio_gz(r, ACC))[:-12]), _physio_gz(r, ACC))[1],
        r"line \d+ has [12] tab-separated fields but the sidecar's Columns lists 3 \(the file looks truncated\)",
    ),
    "header row in physio": (
        lambda r: (_gz_write(_physio_gz(r), "eda\n" + _gz_text(_physio_gz(r))), _physio_gz(r))[1],
        r"line 1 holds 'eda', not a number; BIDS physio files have no header row",
    ),
    "infinite sample": (
        lambda r: (
            _gz_write(_physio_gz(r), _gz_text(_physio_gz(r)).replace("\n", "\ninf\n", 1)),
            _physio_gz(r),
        )[1],
        r"line 2 has an infinite sample",
    ),
    "non-numeric sample": (
        lambda r: (
            _gz_write(_physio_gz(r), _gz_text(_physio_gz(r)).replace("\n", "\n0.1x\n", 1)),
            _physio_gz(r),
        )[1],
        r"line 2, column 1: '0.1x' is not a number",
    ),
    "plain text instead of gzip": (
        lambda r: (_physio_gz(r).write_text("0.1\n0.2\n"), _physio_gz(r))[1],
        r"is not gzip-compressed",
    ),
    "sidecar without SamplingFrequency": (
        lambda r: (_edit_json(_physio_json(r), lambda s: s.pop("SamplingFrequency")), _physio_json(r))[1],
        r"has no 'SamplingFrequency'",
    ),
    "sidecar without StartTime": (
        lambda r: (_edit_json(_physio_json(r), lambda s: s.pop("StartTime")), _physio_json(r))[1],
        r"has no 'StartTime'",
    ),
    "sidecar rate not a number": (
        lambda r: (
            _edit_json(_physio_json(r), lambda s: s.update(SamplingFrequency="4 Hz")),
            _physio_json(r),
        )[1],
        r"SamplingFrequency '4 Hz' is not a positive number of Hz",
    ),
    "sidecar negative rate": (
        lambda r: (_edit_json(_physio_json(r), lambda s: s.update(SamplingFrequency=-4)), _physio_json(r))[1],
        r"SamplingFrequency -4 is not a positive number",
    ),
    "sidecar Columns count differs": (
        lambda r: (
            _edit_json(_physio_json(r, ACC), lambda s: s.update(Columns=["acc_x", "acc_y"])),
            _physio_gz(r, ACC),
        )[1],
        r"line 1 has 3 tab-separated fields but the sidecar's Columns lists 2",
    ),
    "sidecar Columns not a list": (
        lambda r: (_edit_json(_physio_json(r), lambda s: s.update(Columns="eda")), _physio_json(r))[1],
        r"Columns must be a non-empty list of column names",
    ),
    "sidecar not JSON": (
        lambda r: (_physio_json(r).write_text("{'SamplingFrequency': 4}"), _physio_json(r))[1],
        r"is not valid JSON",
    ),
    "sidecar missing": (
        lambda r: (_physio_json(r).unlink(), _physio_json(r))[1],
        r"is missing: .*needs a JSON sidecar",
    ),
    "sidecar unknown columns": (
        lambda r: (_edit_json(_physio_json(r), lambda s: s.update(Columns=["gsr_level"])), _physio_json(r))[
            1
        ],
        r"none of the Columns \['gsr_level'\] is a recognised signal",
    ),
    "events without onset header": (
        lambda r: ((r / EVENTS).write_text("start\tduration\ttrial_type\n1\t2\tx\n"), r / EVENTS)[1],
        r"header must start with onset, duration",
    ),
    "events onset not a number": (
        lambda r: ((r / EVENTS).write_text("onset\tduration\ttrial_type\nsoon\t2\tx\n"), r / EVENTS)[1],
        r"line 2: onset 'soon' is not a number",
    ),
    "events NaN onset": (
        lambda r: ((r / EVENTS).write_text("onset\tduration\ttrial_type\nNaN\t2\tx\n"), r / EVENTS)[1],
        r"line 2: onset is 'NaN'",
    ),
    "events ragged row": (
        lambda r: ((r / EVENTS).write_text("onset\tduration\ttrial_type\n1\t2\n"), r / EVENTS)[1],
        r"line 2 has 2 fields but the header has 3",
    ),
    "events negative duration": (
        lambda r: ((r / EVENTS).write_text("onset\tduration\ttrial_type\n1\t-2\tx\n"), r / EVENTS)[1],
        r"line 2: negative duration",
    ),
    "no dataset_description": (
        lambda r: ((r / "dataset_description.json").unlink(), r)[1],
        r"is not a BIDS dataset: dataset_description.json is missing",
    ),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_broken_bids_is_refused_naming_file_and_problem(case: str, valid_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(valid_root, root)
    breaker, problem = BREAKS[case]
    bad_file = breaker(root)
    with pytest.raises(DataFormatError) as info:
        read_bids(root)
    assert info.value.path == str(bad_file), (case, str(info.value))
    assert re.search(problem, info.value.problem), (case, str(info.value))
    assert str(bad_file) in str(info.value)


def test_bids_n_a_samples_are_gaps_by_default(valid_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(valid_root, root)
    lines = _gz_text(_physio_gz(root)).split("\n")
    n = len([ln for ln in lines if ln])
    lines[40:60] = ["n/a"] * 20  # 5 s lost at 4 Hz, written as the BIDS specification says
    _gz_write(_physio_gz(root), "\n".join(lines))
    eda = read_bids(root)[0].streams["eda"]
    assert eda.n_samples == n and np.flatnonzero(np.isnan(eda.values)).tolist() == list(range(40, 60))
    with pytest.raises(DataFormatError, match=r"line 41 has a missing \(n/a, NaN\) sample"):
        read_bids(root, allow_missing=False)


def test_csv_empty_and_n_a_cells_are_gaps(real_csv_text: str, tmp_path: Path) -> None:
    lines = real_csv_text.split("\n")
    head = lines[1].split(",")
    lines[1] = ",".join([head[0], "n/a", "", "NaN"])
    path = tmp_path / "acc.csv"
    path.write_text("\n".join(lines))
    acc = read_csv_signals(path, rate=32.0).streams["acc"]
    assert acc.n_samples == 60 * 32 and np.isnan(acc.values[0]).all() and np.isfinite(acc.values[1:]).all()


# --- generic CSV -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_csv_text(stress_predict_dir: Path) -> str:
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S03").crop(300.0, 360.0)
    acc = rec.streams["acc"]
    rows = np.column_stack([acc.timestamps, acc.values])
    return "time,acc_x,acc_y,acc_z\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in rows) + "\n"


def test_csv_reads_real_accelerometer(real_csv_text: str, tmp_path: Path) -> None:
    path = tmp_path / "acc.csv"
    path.write_text(real_csv_text)
    rec = read_csv_signals(path, rate=32.0)
    acc = rec.streams["acc"]
    assert acc.kind == "acc" and acc.channels == ("x", "y", "z") and acc.n_samples == 60 * 32
    assert acc.timestamps[0] == pytest.approx(300.0) and acc.rate == 32.0


CSV_BREAKS: dict[str, tuple[Callable[[str], str], str]] = {
    "truncated": (
        lambda t: t[:-12],
        r"line \d+ has [123] fields but the header has 4 \(the file looks truncated\)",
    ),
    "no header": (lambda t: t.split("\n", 1)[1], r"wrong header: the first row holds numbers"),
    "duplicate header": (
        lambda t: t.replace("acc_y", "acc_x", 1),
        r"wrong header: column names must be present and unique",
    ),
    "extra field": (
        lambda t: t.replace("\n", ",1\n", 3).replace("acc_z,1", "acc_z", 1),
        r"line 2 has 5 fields but the header has 4",
    ),
    "infinite value": (
        lambda t: t.replace("\n", "\n", 1)[: t.index("\n") + 1] + "300.0,inf,0,0\n" + t.split("\n", 2)[2],
        r"line 2, column 'acc_x': infinite value",
    ),
    "text value": (
        lambda t: t[: t.index("\n") + 1] + "300.0,high,0,0\n" + t.split("\n", 2)[2],
        r"line 2, column 'acc_x': 'high' is not a number",
    ),
    "time goes back": (lambda t: _swap_lines(t, 10, 11), r"line 11: time [\d.]+ s does not increase after"),
    "repeated time": (lambda t: _repeat_time(t, 20), r"line 20: time [\d.]+ s does not increase"),
}


def _swap_lines(text: str, a: int, b: int) -> str:
    lines = text.split("\n")
    lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
    return "\n".join(lines)


def _repeat_time(text: str, line: int) -> str:
    lines = text.split("\n")
    prev = lines[line - 2].split(",")[0]
    lines[line - 1] = ",".join([prev, *lines[line - 1].split(",")[1:]])
    return "\n".join(lines)


@pytest.mark.parametrize("case", list(CSV_BREAKS))
def test_broken_csv_is_refused_naming_file_and_problem(case: str, real_csv_text: str, tmp_path: Path) -> None:
    breaker, problem = CSV_BREAKS[case]
    path = tmp_path / "signals.csv"
    broken = breaker(real_csv_text)
    assert broken != real_csv_text
    path.write_text(broken)
    with pytest.raises(DataFormatError) as info:
        read_csv_signals(path, rate=32.0)
    assert info.value.path == str(path)
    assert re.search(problem, info.value.problem), (case, str(info.value))
