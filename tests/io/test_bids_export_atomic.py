"""Exporting several subjects to BIDS is all or nothing: a later subject that fails leaves no trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from attunexr.errors import DataFormatError
from attunexr.io import read_bids, read_empatica, write_bids, write_bids_all
from attunexr.recording import Recording


@pytest.fixture(scope="module")
def two_subjects(stress_predict_dir: Path) -> list[Recording]:
    out = []
    for sub in ("S02", "S03"):
        rec = read_empatica(stress_predict_dir / "Raw_data" / sub, subject=sub).crop(600.0, 630.0)
        out.append(rec)
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _failing_second(recs: list[Recording], broken: Path) -> Iterator[Recording]:
    yield recs[0]
    yield read_empatica(broken)  # the second subject's files are damaged


def _broken_folder(tmp_path: Path) -> Path:
    broken = tmp_path / "S99"
    broken.mkdir()
    (broken / "EDA.csv").write_bytes(b"1644230000.0\n4.0\n\xff\xfe not a number\n")
    return broken


def test_new_export_leaves_nothing_when_the_second_subject_fails(two_subjects: list[Recording],
                                                                  tmp_path: Path) -> None:
    root = tmp_path / "out" / "bids"
    with pytest.raises(DataFormatError, match="EDA.csv"):
        write_bids_all(_failing_second(two_subjects, _broken_folder(tmp_path)), root, task="stress")
    assert not (tmp_path / "out").exists()  # no dataset, no staging folder, not even the parent it created


def test_existing_dataset_is_unchanged_when_a_later_subject_fails(two_subjects: list[Recording],
                                                                  tmp_path: Path) -> None:
    root = tmp_path / "bids"
    write_bids(two_subjects[1], root, task="stress")
    before = _tree(root)
    with pytest.raises(DataFormatError):
        write_bids_all(_failing_second(two_subjects, _broken_folder(tmp_path)), root, task="stress")
    assert _tree(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["S99", "bids"]
    # a write that refuses to replace an existing run rolls back the subjects before it as well
    with pytest.raises(DataFormatError, match="already exists"):
        write_bids_all(two_subjects, root, task="stress")
    assert _tree(root) == before


def test_all_subjects_are_written_together(two_subjects: list[Recording], tmp_path: Path) -> None:
    root = tmp_path / "bids"
    write_bids(two_subjects[1], root, task="stress")
    files = write_bids_all(two_subjects[:1], root, task="stress")
    assert all(f.is_file() and root in f.parents for f in files)
    assert sorted(r.meta.subject for r in read_bids(root)) == ["S02", "S03"]
    assert (root / "participants.tsv").read_text().count("sub-") == 2
