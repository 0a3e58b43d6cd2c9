"""BITalino OpenSignals text files: real Stress-Predict EDA and temperature values turned into BITalino ADC codes
with the inverse datasheet transfer functions, written in the OpenSignals layout, and read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from attunexr.errors import DataFormatError
from attunexr.io import read_bitalino, read_empatica

VCC = 3.3


@pytest.fixture(scope="module")
def real(stress_predict_dir: Path) -> dict[str, np.ndarray]:
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S07").crop(1200.0, 1500.0)
    return {"eda": rec.streams["eda"].values, "temp": rec.streams["temp"].values}


def write_opensignals(
    path: Path,
    eda: np.ndarray,
    temp: np.ndarray,
    *,
    rate: float = 4.0,
    seq: np.ndarray | None = None,
    extra_sensor: bool = False,
) -> Path:
    """Write an OpenSignals (r)evolution text file with EDA on A3 and TEMP on A4 (10-bit)."""
    eda_adc = np.round(eda * 0.132 / VCC * 1024).astype(int)
    temp_adc = np.round((temp / 100 + 0.5) / VCC * 1024).astype(int)
    n = len(eda)
    seq = np.arange(n) % 16 if seq is None else seq
    columns = ["nSeq", "I1", "I2", "O1", "O2", "A3", "A4"]
    sensors, labels = ["EDA", "TEMP"], ["A3", "A4"]
    data = [seq, np.zeros(n, int), np.zeros(n, int), np.zeros(n, int), np.zeros(n, int), eda_adc, temp_adc]
    if extra_sensor:
        columns.append("A5")
        sensors.append("ACC")
        labels.append("A5")
        data.append(np.full(n, 260))
    header = {
        "20:16:07:18:17:02": {
            "sensor": sensors,
            "device name": "20:16:07:18:17:02",
            "column": columns,
            "sync interval": 2,
            "time": "10:39:35.375",
            "comments": "",
            "device connection": "BTH20:16:07:18:17:02",
            "channels": [3, 4],
            "date": "2022-02-07",
            "mode": 0,
            "digital IO": [0, 0, 1, 1],
            "firmware version": 1280,
            "device": "bitalino_rev",
            "position": 0,
            "sampling rate": rate,
            "label": labels,
            "resolution": [4, 1, 1, 1, 1, 10, 10] + ([6] if extra_sensor else []),
            "special": [{}, {}],
        }
    }
    body = "\n".join("\t".join(str(int(v)) for v in row) for row in np.column_stack(data))
    path.write_text(f"# OpenSignals Text File Format\n# {json.dumps(header)}\n# EndOfHeader\n{body}\n")
    return path


def test_reads_opensignals_file_in_physical_units(tmp_path: Path, real: dict[str, np.ndarray]) -> None:
    path = write_opensignals(
        tmp_path / "opensignals_201607181702_2022-02-07_10-39-35.txt", real["eda"], real["temp"]
    )
    rec = read_bitalino(path, subject="P07")
    assert set(rec.streams) == {"eda", "temp"}
    eda, temp = rec.streams["eda"], rec.streams["temp"]
    assert (eda.kind, eda.unit, eda.rate, temp.kind, temp.unit) == ("eda", "uS", 4.0, "temp", "degC")
    # within half an ADC step of the real values (EDA step 0.024 uS, TEMP step 0.32 degC on a 10-bit channel)
    assert np.max(np.abs(eda.values - real["eda"])) <= 0.5 * VCC / 0.132 / 1024 + 1e-9
    assert np.max(np.abs(temp.values - real["temp"])) <= 0.5 * VCC * 100 / 1024 + 1e-9
    np.testing.assert_allclose(eda.timestamps, np.arange(len(real["eda"])) / 4.0)
    assert rec.meta.start_time == datetime(2022, 2, 7, 10, 39, 35, 375000, tzinfo=UTC).timestamp()
    assert rec.meta.device == "bitalino_rev" and rec.meta.subject == "P07"


def test_lost_samples_are_an_error_unless_allowed(tmp_path: Path, real: dict[str, np.ndarray]) -> None:
    n = len(real["eda"])
    seq = np.arange(n) % 16
    seq[40:] = (np.arange(40, n) + 3) % 16  # three samples lost on the radio link before line 40
    path = write_opensignals(tmp_path / "gap.txt", real["eda"], real["temp"], seq=seq)
    with pytest.raises(
        DataFormatError, match=r"gap\.txt: line 44: nSeq jumps from 7 to 11, so samples were lost"
    ):
        read_bitalino(path)
    rec = read_bitalino(path, allow_gaps=True)
    ts = rec.streams["eda"].timestamps
    assert ts[39] == pytest.approx(39 / 4) and ts[40] == pytest.approx(43 / 4)


def test_accelerometer_needs_calibration(tmp_path: Path, real: dict[str, np.ndarray]) -> None:
    path = write_opensignals(tmp_path / "acc.txt", real["eda"], real["temp"], extra_sensor=True)
    assert "acc" not in read_bitalino(path).streams
    acc = read_bitalino(path, acc_calibration=(208.0, 312.0)).streams["acc"]
    assert acc.kind == "acc" and acc.channels == ("A5",)
    np.testing.assert_allclose(acc.values[:, 0], 2 * (260 - 208) / (312 - 208) - 1)


def test_malformed_opensignals_files(tmp_path: Path, real: dict[str, np.ndarray]) -> None:
    good = write_opensignals(tmp_path / "good.txt", real["eda"], real["temp"]).read_text()
    cases = {
        "truncated.txt": (
            good[: len(good) - 5],
            r"line \d+ has \d values but the header lists 7 columns \(the file looks truncated\)",
        ),
        "noend.txt": (good.replace("# EndOfHeader\n", ""), r"no '# EndOfHeader' line"),
        "badjson.txt": (good.replace('"sensor": [', '"sensor" [', 1), r"the JSON line is not valid JSON"),
        "plain.txt": ("1\t2\t3\n", r"first line must be '# OpenSignals Text File Format'"),
        "inf.txt": (good.replace("\n0\t0\t0\t0\t0\t", "\n0\t0\t0\t0\tinf\t", 1), r"infinite value"),
        "text.txt": (good.replace("\n1\t0\t0\t0\t0\t", "\n1\t0\t0\tx\t0\t", 1), r"non-numeric value"),
        "norate.txt": (
            good.replace('"sampling rate": 4.0', '"sampling rate": 0'),
            r"sampling rate 0 is not a positive",
        ),
    }
    for name, (text, problem) in cases.items():
        assert text != good, name
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(DataFormatError, match=name.replace(".", r"\.") + ": .*" + problem):
            read_bitalino(path)
