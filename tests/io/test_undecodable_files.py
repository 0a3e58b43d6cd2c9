"""Bytes that are not text (or not the table they claim to be) give DataFormatError naming the file, never
UnicodeDecodeError, ValueError or a pandas error. Each case damages a real file the way the fuzz suite did."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from attunexr.errors import DataFormatError
from attunexr.io import (
    read_bids,
    read_bitalino,
    read_csv_signals,
    read_empatica,
    read_participants,
    read_vr_session,
    write_bids,
)


def _copy_vr_session(src: Path, dst: Path) -> Path:
    """A real VR session folder with only what the button test needs (the button file and one E4 stream)."""
    (dst / "Empatica").mkdir(parents=True)
    shutil.copy(src / "Empatica" / "EDA.json", dst / "Empatica" / "EDA.json")
    cs = next(src.glob("*_cs_timestamps.csv"))
    shutil.copy(cs, dst / cs.name)
    return dst / cs.name


def test_button_file_that_is_not_utf8(vr_cybersickness_dir: Path, tmp_path: Path) -> None:
    cs = _copy_vr_session(vr_cybersickness_dir / "data" / "train" / "2", tmp_path / "s")
    assert read_vr_session(tmp_path / "s").events  # the real file reads, with its presses
    cs.write_bytes(b"\xff" + cs.read_bytes())
    with pytest.raises(DataFormatError, match="cs_timestamps.csv.*not UTF-8"):
        read_vr_session(tmp_path / "s")


@pytest.fixture(scope="module")
def bids_root(stress_predict_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bids") / "ds"
    write_bids(read_empatica(stress_predict_dir / "Raw_data" / "S03").crop(0.0, 20.0), root, task="stress")
    return root


@pytest.mark.parametrize("damage", [b"\x80", b"\xed\xa0\x80"])
def test_scans_file_with_undecodable_acquisition_time(bids_root: Path, tmp_path: Path, damage: bytes) -> None:
    root = tmp_path / "ds"
    shutil.copytree(bids_root, root)
    scans = next(root.rglob("*_scans.tsv"))
    text = scans.read_bytes()
    assert b"acq_time" in text
    scans.write_bytes(text.replace(b"T", b"T" + damage, 1).replace(b"\nbeh", b"\n" + damage + b"beh", 1))
    with pytest.raises(DataFormatError, match="scans.tsv.*not UTF-8"):
        read_bids(root)


def test_participants_file_that_is_not_utf8(bids_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(bids_root, root)
    path = root / "participants.tsv"
    path.write_bytes(path.read_bytes() + b"sub-\xc3\x28\n")
    with pytest.raises(DataFormatError, match="participants.tsv.*not UTF-8"):
        read_participants(root)


def test_bitalino_header_with_an_unconvertible_number(stress_predict_dir: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("_bitalino_fixture", Path(__file__).parent / "test_bitalino.py")
    assert spec is not None and spec.loader is not None
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S07").crop(1200.0, 1215.0)
    path = helper.write_opensignals(tmp_path / "os.txt", rec.streams["eda"].values, rec.streams["temp"].values)
    read_bitalino(path)
    path.write_text(path.read_text().replace('"firmware version": 1280', '"firmware version": 1' + "0" * 5000))
    with pytest.raises(DataFormatError, match="os.txt.*header"):
        read_bitalino(path)


def test_csv_whose_quotes_split_rows_differently(stress_predict_dir: Path, tmp_path: Path) -> None:
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S02").crop(700.0, 705.0)
    eda = rec.streams["eda"]
    rows = [f"{t:.3f},{v:.6f}" for t, v in zip(eda.timestamps, eda.values, strict=True)]
    path = tmp_path / "signals.csv"
    path.write_text("time,eda\n" + "\n".join(rows) + "\n")
    assert read_csv_signals(path, rate=4.0).streams
    rows[3] = '"' + rows[3]  # an unbalanced quote swallows the rows after it into one field
    path.write_text("time,eda\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataFormatError, match="signals.csv"):
        read_csv_signals(path, rate=4.0)


def test_json_files_with_numbers_python_will_not_convert(bids_root: Path, vr_cybersickness_dir: Path,
                                                        tmp_path: Path) -> None:
    """JSON allows any number of digits; Python refuses to convert more than 4300 (ValueError, not JSONDecodeError)."""
    root = tmp_path / "ds"
    shutil.copytree(bids_root, root)
    side = next(root.rglob("*_recording-eda_physio.json"))
    side.write_text(side.read_text().replace('"SamplingFrequency": 4.0', '"SamplingFrequency": 4' + "0" * 5000))
    with pytest.raises(DataFormatError, match="eda_physio.json"):
        read_bids(root)
    _copy_vr_session(vr_cybersickness_dir / "data" / "train" / "2", tmp_path / "s")
    eda = tmp_path / "s" / "Empatica" / "EDA.json"
    first_value = eda.read_text().split("[", 1)[1].split(",", 1)[0].strip()
    eda.write_text(eda.read_text().replace(first_value, "1" + "0" * 5000, 1))
    with pytest.raises(DataFormatError, match="EDA.json"):
        read_vr_session(tmp_path / "s")


def test_bitalino_header_values_that_would_hang_or_crash(stress_predict_dir: Path, tmp_path: Path) -> None:
    """A resolution of 10**400 bits used to compute 2**(10**400) (the reader hung, eating gigabytes); header
    fields of the wrong type used to raise TypeError."""
    spec = importlib.util.spec_from_file_location("_bitalino_fixture", Path(__file__).parent / "test_bitalino.py")
    assert spec is not None and spec.loader is not None
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S07").crop(1200.0, 1215.0)
    path = helper.write_opensignals(tmp_path / "os.txt", rec.streams["eda"].values, rec.streams["temp"].values)
    good = path.read_text()
    for old, new in (
        ('"resolution": [4, 1, 1, 1, 1, 10, 10]', '"resolution": [4, 1, 1, 1, 1, 1' + "0" * 400 + ", 10]"),
        ('"resolution": [4, 1, 1, 1, 1, 10, 10]', '"resolution": [4, 1, 1, 1, 1, "10", 10]'),
        ('"sensor": ["EDA", "TEMP"]', '"sensor": 7'),
        ('"sampling rate": 4.0', '"sampling rate": 1e308'),
    ):
        assert old in good
        path.write_text(good.replace(old, new))
        with pytest.raises(DataFormatError, match="os.txt.*header"):
            read_bitalino(path)


def test_integers_beyond_float64_in_json_and_csv(bids_root: Path, vr_cybersickness_dir: Path, tmp_path: Path) -> None:
    """A 400-digit integer is valid JSON/CSV that Python parses but cannot make a float of (OverflowError)."""
    huge = "1" + "0" * 399
    root = tmp_path / "ds"
    shutil.copytree(bids_root, root)
    side = next(root.rglob("*_recording-eda_physio.json"))
    side.write_text(side.read_text().replace('"SamplingFrequency": 4.0', f'"SamplingFrequency": {huge}'))
    with pytest.raises(DataFormatError, match="eda_physio.json.*SamplingFrequency"):
        read_bids(root)
    src = vr_cybersickness_dir / "data" / "train" / "2"
    _copy_vr_session(src, tmp_path / "s")
    eda = tmp_path / "s" / "Empatica" / "EDA.json"
    first_value = eda.read_text().split("[", 1)[1].split(",", 1)[0].strip()
    eda.write_text(eda.read_text().replace(first_value, huge, 1))
    with pytest.raises(DataFormatError, match="EDA.json"):
        read_vr_session(tmp_path / "s")
    shutil.rmtree(tmp_path / "s")
    (tmp_path / "s").mkdir()
    eye = next(src.glob("*_eyetracking_data.csv"))
    with eye.open() as fh:
        lines = [next(fh) for _ in range(30)]
    header = lines[0].rstrip("\n").split(";")
    cells = lines[5].rstrip("\n").split(";")
    cells[header.index("timestamp_device")] = huge
    lines[5] = ";".join(cells) + "\n"
    (tmp_path / "s" / eye.name).write_text("".join(lines))
    with pytest.raises(DataFormatError, match="eyetracking_data.csv.*timestamp_device"):
        read_vr_session(tmp_path / "s")


def test_events_file_with_a_field_beyond_the_csv_limit(bids_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    shutil.copytree(bids_root, root)
    events = next(root.rglob("*_events.tsv"))
    events.write_text(events.read_text() + "1.0\t0\t" + "x" * 200_000 + "\tn/a\n")
    with pytest.raises(DataFormatError, match="events.tsv.*not a valid TSV"):
        read_bids(root)
