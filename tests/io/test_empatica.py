"""Empatica E4 CSV reader: real Stress-Predict folders and broken copies of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from attunexr.errors import DataFormatError
from attunexr.io import read_empatica

SMALL_FILES = ("EDA.csv", "TEMP.csv", "HR.csv", "IBI.csv")


@pytest.fixture
def e4_copy(stress_predict_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of S02's small E4 files (the shared data is never touched)."""
    dst = tmp_path / "S02"
    dst.mkdir()
    for name in SMALL_FILES:
        shutil.copy(stress_predict_dir / "Raw_data" / "S02" / name, dst / name)
    return dst


def test_reads_real_folder_on_one_clock(stress_predict_dir: Path) -> None:
    folder = stress_predict_dir / "Raw_data" / "S02"
    rec = read_empatica(folder, subject="S02", dataset="stress-predict")
    assert set(rec.streams) == {"bvp", "eda", "temp", "acc", "hr", "ibi"}
    assert {n: s.rate for n, s in rec.streams.items() if s.rate} == {
        "bvp": 64.0,
        "eda": 4.0,
        "temp": 4.0,
        "acc": 32.0,
        "hr": 1.0,
    }
    header_starts = {
        n: float((folder / f).open().readline().split(",", 1)[0])
        for n, f in (("eda", "EDA.csv"), ("hr", "HR.csv"), ("bvp", "BVP.csv"))
    }
    assert rec.meta.start_time == min(header_starts.values())
    # HR starts 10 s after the other signals in E4 exports: offsets are kept, not flattened
    assert rec.streams["hr"].t_start == pytest.approx(header_starts["hr"] - rec.meta.start_time)
    acc = rec.streams["acc"].values
    assert acc.shape[1] == 3 and 0.8 < np.median(np.linalg.norm(acc, axis=1)) < 1.2  # gravity, in g
    ibi = rec.streams["ibi"]
    assert ibi.rate is None and np.all(np.diff(ibi.timestamps) > 0)
    assert 0.3 < np.median(ibi.values) < 1.5
    n_eda = len((folder / "EDA.csv").read_text().splitlines()) - 2
    assert rec.streams["eda"].n_samples == n_eda


def _rewrite(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")


def _broken(path: Path, match: str) -> DataFormatError:
    with pytest.raises(DataFormatError, match=match) as info:
        read_empatica(path.parent)
    assert info.value.path == str(path), "the error must name the broken file"
    return info.value


def test_truncated_csv(e4_copy: Path) -> None:
    path = e4_copy / "EDA.csv"
    _rewrite(path, path.read_text().splitlines()[:2])
    _broken(path, "truncated")


def test_truncated_multicolumn_row(stress_predict_dir: Path, tmp_path: Path) -> None:
    lines = (stress_predict_dir / "Raw_data" / "S02" / "ACC.csv").read_text().splitlines()[:500]
    lines[-1] = lines[-1].rsplit(",", 1)[0]  # cut mid-row, as a copy interrupted mid-write would
    path = tmp_path / "ACC.csv"
    _rewrite(path, lines)
    _broken(path, "malformed sample row")


def test_wrong_header(e4_copy: Path) -> None:
    path = e4_copy / "TEMP.csv"
    lines = path.read_text().splitlines()
    _rewrite(path, ["time,temperature", *lines[1:]])
    _broken(path, "wrong header")


def test_wrong_rate(e4_copy: Path) -> None:
    path = e4_copy / "EDA.csv"
    lines = path.read_text().splitlines()
    _rewrite(path, [lines[0], "-4.0", *lines[2:]])
    _broken(path, "sampling rate")


def test_wrong_column_count(e4_copy: Path, tmp_path: Path) -> None:
    shutil.copy(e4_copy / "EDA.csv", e4_copy / "ACC.csv")  # one column where ACC needs three
    _broken(e4_copy / "ACC.csv", "columns")


def test_nan_and_empty_samples_are_gaps(e4_copy: Path) -> None:
    path = e4_copy / "EDA.csv"
    lines = path.read_text().splitlines()
    n = len(lines) - 2
    lines[100] = "nan"
    lines[200] = ""
    lines[300] = "n/a"
    _rewrite(path, lines)
    eda = read_empatica(e4_copy).streams["eda"]
    assert eda.n_samples == n  # lost samples keep their place: later times do not shift
    assert np.flatnonzero(np.isnan(eda.values)).tolist() == [98, 198, 298]
    assert eda.timestamps[-1] - eda.timestamps[0] == pytest.approx((n - 1) / 4.0)


def test_infinite_sample(e4_copy: Path) -> None:
    path = e4_copy / "EDA.csv"
    lines = path.read_text().splitlines()
    lines[100] = "inf"
    _rewrite(path, lines)
    err = _broken(path, "infinite")
    assert "line 101" in str(err)


def test_non_monotonic_ibi(e4_copy: Path) -> None:
    path = e4_copy / "IBI.csv"
    lines = path.read_text().splitlines()
    lines[10], lines[11] = lines[11], lines[10]
    _rewrite(path, lines)
    _broken(path, "not increasing")


def test_nan_ibi_is_a_gap(e4_copy: Path) -> None:
    path = e4_copy / "IBI.csv"
    lines = path.read_text().splitlines()
    n = len(lines) - 1
    lines[5] = lines[5].split(",")[0] + ",nan"
    _rewrite(path, lines)
    ibi = read_empatica(e4_copy).streams["ibi"]
    assert ibi.n_samples == n - 1 and np.all(np.isfinite(ibi.values))  # the beat without an interval is left out
    lines[5] = "nan," + lines[6].split(",")[1]
    _rewrite(path, lines)
    _broken(path, "beat time at line 6")


def test_ibi_wrong_header(e4_copy: Path) -> None:
    path = e4_copy / "IBI.csv"
    lines = path.read_text().splitlines()
    _rewrite(path, [lines[0].replace("IBI", "HR"), *lines[1:]])
    _broken(path, "wrong header")


def test_missing_required_file(e4_copy: Path) -> None:
    (e4_copy / "TEMP.csv").unlink()
    with pytest.raises(DataFormatError, match="missing") as info:
        read_empatica(e4_copy, require=("EDA.csv", "TEMP.csv"))
    assert info.value.path == str(e4_copy / "TEMP.csv")


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="none of"):
        read_empatica(tmp_path)


def test_gzipped_files_read_like_plain_ones(e4_copy: Path, tmp_path: Path) -> None:
    import gzip

    plain = read_empatica(e4_copy)
    gz = tmp_path / "gz"
    gz.mkdir()
    for name in SMALL_FILES:
        (gz / f"{name}.gz").write_bytes(gzip.compress((e4_copy / name).read_bytes()))
    rec = read_empatica(gz, require=("EDA.csv", "IBI.csv"))
    assert set(rec.streams) == set(plain.streams)
    for name, stream in plain.streams.items():
        np.testing.assert_array_equal(rec.streams[name].values, stream.values)
        np.testing.assert_array_equal(rec.streams[name].timestamps, stream.timestamps)
    (gz / "EDA.csv.gz").write_bytes(b"plain text, not gzip")
    with pytest.raises(DataFormatError, match="gzip"):
        read_empatica(gz)


def test_empty_ibi_means_no_beats_and_duplicates_can_be_dropped(e4_copy: Path) -> None:
    ibi = (e4_copy / "IBI.csv").read_text().splitlines()
    (e4_copy / "IBI.csv").write_text("")
    rec = read_empatica(e4_copy)
    assert "ibi" not in rec.streams and "eda" in rec.streams
    # every beat listed twice in interleaved blocks (an E4 export quirk)
    body = ibi[1:]
    half = len(body) // 2
    (e4_copy / "IBI.csv").write_text("\n".join([ibi[0], *body[:half], *body[:half], *body[half:]]) + "\n")
    with pytest.raises(DataFormatError, match="not increasing"):
        read_empatica(e4_copy)
    rec = read_empatica(e4_copy, drop_duplicate_beats=True)
    assert len(rec.streams["ibi"].values) == len(body)
    assert np.all(np.diff(rec.streams["ibi"].timestamps) > 0)


@pytest.mark.parametrize("name", ["IBI.csv", "EDA.csv"])
def test_bytes_that_are_not_text_are_a_format_error(e4_copy: Path, name: str) -> None:
    """Found by the reader fuzz suite: a non-UTF-8 first byte in IBI.csv escaped as UnicodeDecodeError."""
    path = e4_copy / name
    path.write_bytes(b"\x80" + path.read_bytes())
    with pytest.raises(DataFormatError, match=f"{name}.*not UTF-8|{name}.*not a text"):
        read_empatica(e4_copy)
