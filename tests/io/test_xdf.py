"""XDF reading: a real Stress-Predict segment written into an XDF file by a small writer that follows the XDF 1.0
chunk layout (pyxdf itself only reads), read back through pyxdf; damaged files are refused with the byte offset."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from attunexr.errors import DataFormatError
from attunexr.io import read_empatica, read_xdf

# --- a minimal XDF 1.0 writer (test fixture generator) ----------------------------------------------------------


def _varlen(n: int) -> bytes:
    if n < 256:
        return b"\x01" + struct.pack("<B", n)
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    length = len(content) + 2
    return _varlen(length) + struct.pack("<H", tag) + content


def _stream_header(
    sid: int, name: str, stype: str, labels: list[str], rate: float, fmt: str, unit: str
) -> bytes:
    chans = "".join(f"<channel><label>{lab}</label><unit>{unit}</unit></channel>" for lab in labels)
    xml = (
        '<?xml version="1.0"?><info>'
        f"<name>{name}</name><type>{stype}</type><channel_count>{len(labels)}</channel_count>"
        f"<nominal_srate>{rate}</nominal_srate><channel_format>{fmt}</channel_format>"
        f"<source_id>attunexr-test-{sid}</source_id><created_at>1000.0</created_at>"
        f"<desc><channels>{chans}</channels></desc></info>"
    )
    return _chunk(2, struct.pack("<I", sid) + xml.encode())


def _samples(sid: int, times: np.ndarray, values: np.ndarray | list[str], fmt: str) -> bytes:
    body = bytearray(struct.pack("<I", sid))
    body += _varlen(len(times))
    for i, t in enumerate(times):
        body += b"\x08" + struct.pack("<d", float(t))
        if fmt == "string":
            text = str(values[i]).encode()
            body += _varlen(len(text)) + text
        else:
            row = np.atleast_1d(np.asarray(values[i], dtype="<f4"))
            body += row.tobytes()
    return _chunk(3, bytes(body))


def _footer(sid: int, times: np.ndarray) -> bytes:
    xml = (
        '<?xml version="1.0"?><info>'
        f"<first_timestamp>{times[0]}</first_timestamp><last_timestamp>{times[-1]}</last_timestamp>"
        f"<sample_count>{len(times)}</sample_count><clock_offsets>"
        "<offset><time>1000.0</time><value>0.0</value></offset></clock_offsets></info>"
    )
    return _chunk(6, struct.pack("<I", sid) + xml.encode())


def write_test_xdf(path: Path, streams: list[dict]) -> Path:
    """Write ``streams`` (dicts: name, type, labels, rate, format, unit, times, values) as an XDF 1.0 file."""
    out = bytearray(b"XDF:")
    out += _chunk(
        1,
        b'<?xml version="1.0"?><info><version>1.0</version><datetime>2022-02-07T10:00:00+0000</datetime></info>',
    )
    for sid, st in enumerate(streams, start=1):
        out += _stream_header(
            sid, st["name"], st["type"], st["labels"], st["rate"], st["format"], st.get("unit", "")
        )
    for sid, st in enumerate(streams, start=1):
        n = len(st["times"])
        for i0 in range(0, n, 512):  # several Samples chunks, as LabRecorder writes them
            out += _samples(sid, st["times"][i0 : i0 + 512], st["values"][i0 : i0 + 512], st["format"])
        out += _chunk(4, struct.pack("<Idd", sid, 1000.0, 0.0))
    for sid, st in enumerate(streams, start=1):
        out += _footer(sid, st["times"])
    path.write_bytes(bytes(out))
    return path


# --- tests ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_segment(stress_predict_dir: Path) -> dict[str, np.ndarray]:
    rec = read_empatica(stress_predict_dir / "Raw_data" / "S05").crop(900.0, 960.0)
    return {
        "bvp": rec.streams["bvp"].values,
        "eda": rec.streams["eda"].values,
        "acc": rec.streams["acc"].values,
    }


def _streams(seg: dict[str, np.ndarray], lsl_t0: float = 5000.0) -> list[dict]:
    return [
        {
            "name": "E4_BVP",
            "type": "PPG",
            "labels": ["bvp"],
            "rate": 64.0,
            "format": "float32",
            "unit": "a.u.",
            "times": lsl_t0 + np.arange(len(seg["bvp"])) / 64.0,
            "values": seg["bvp"],
        },
        {
            "name": "E4_EDA",
            "type": "EDA",
            "labels": ["eda"],
            "rate": 4.0,
            "format": "float32",
            "unit": "uS",
            "times": lsl_t0 + 0.5 + np.arange(len(seg["eda"])) / 4.0,
            "values": seg["eda"],
        },
        {
            "name": "E4_ACC",
            "type": "ACC",
            "labels": ["x", "y", "z"],
            "rate": 32.0,
            "format": "float32",
            "unit": "g",
            "times": lsl_t0 + np.arange(len(seg["acc"])) / 32.0,
            "values": seg["acc"],
        },
        {
            "name": "Markers",
            "type": "Markers",
            "labels": ["marker"],
            "rate": 0.0,
            "format": "string",
            "times": np.array([lsl_t0 + 10.0, lsl_t0 + 42.5]),
            "values": ["stroop_start", "stroop_end"],
        },
    ]


def test_xdf_reads_real_signals_back(tmp_path: Path, real_segment: dict[str, np.ndarray]) -> None:
    path = write_test_xdf(tmp_path / "session.xdf", _streams(real_segment))
    rec = read_xdf(path, subject="S05")
    assert set(rec.streams) == {"E4_BVP", "E4_EDA", "E4_ACC"}
    bvp, eda, acc = rec.streams["E4_BVP"], rec.streams["E4_EDA"], rec.streams["E4_ACC"]
    assert (bvp.kind, eda.kind, acc.kind) == ("ppg", "eda", "acc")
    assert (bvp.rate, eda.rate, acc.rate) == (64.0, 4.0, 32.0)
    assert acc.channels == ("x", "y", "z") and eda.unit == "uS"
    # float32 on disk: equal to the real samples within float32 precision
    np.testing.assert_allclose(bvp.values, real_segment["bvp"].astype(np.float32), rtol=0, atol=0)
    np.testing.assert_allclose(eda.values, real_segment["eda"].astype(np.float32), rtol=0, atol=0)
    np.testing.assert_allclose(acc.values, real_segment["acc"].astype(np.float32), rtol=0, atol=0)
    # clock zero = first sample of any stream; EDA starts 0.5 s later on the same clock
    assert bvp.timestamps[0] == pytest.approx(0.0, abs=1e-9)
    assert eda.timestamps[0] == pytest.approx(0.5, abs=1e-9)
    np.testing.assert_allclose(np.diff(bvp.timestamps), 1 / 64.0, atol=1e-9)
    assert [(round(e.onset, 6), e.label) for e in rec.events] == [
        (10.0, "stroop_start"),
        (42.5, "stroop_end"),
    ]
    assert rec.meta.extra["xdf_datetime"].startswith("2022-02-07")


def test_xdf_non_monotonic_timestamps_refused(tmp_path: Path, real_segment: dict[str, np.ndarray]) -> None:
    streams = _streams(real_segment)
    times = streams[1]["times"].copy()
    times[100], times[101] = times[101], times[100]
    streams[1]["times"] = times
    path = write_test_xdf(tmp_path / "backwards.xdf", streams)
    with pytest.raises(DataFormatError, match=r"backwards\.xdf.*E4_EDA.*backwards at sample 101"):
        read_xdf(path)


def test_xdf_nan_is_a_gap_and_infinity_refused(tmp_path: Path, real_segment: dict[str, np.ndarray]) -> None:
    streams = _streams(real_segment)
    values = streams[0]["values"].copy()
    values[17] = np.nan
    streams[0]["values"] = values
    rec = read_xdf(write_test_xdf(tmp_path / "nan.xdf", streams))
    assert np.flatnonzero(np.isnan(next(iter(rec.streams.values())).values)).tolist() == [17]
    values[17] = np.inf
    path = write_test_xdf(tmp_path / "inf.xdf", streams)
    with pytest.raises(DataFormatError, match=r"inf\.xdf.*E4_BVP.*infinite value at sample 17"):
        read_xdf(path)


def test_xdf_truncated_and_foreign_files_refused(tmp_path: Path, real_segment: dict[str, np.ndarray]) -> None:
    good = write_test_xdf(tmp_path / "good.xdf", _streams(real_segment)).read_bytes()
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFormatError, match=r"cut\.xdf: truncated or damaged at byte \d+"):
        read_xdf(cut)
    foreign = tmp_path / "notes.xdf"
    foreign.write_text("hello")
    with pytest.raises(DataFormatError, match=r"notes\.xdf: is not an XDF file"):
        read_xdf(foreign)
    damaged = bytearray(good)
    damaged[4] = 3  # the first chunk's length-size byte must be 1, 4 or 8
    bad = tmp_path / "damaged.xdf"
    bad.write_bytes(bytes(damaged))
    with pytest.raises(DataFormatError, match=r"damaged\.xdf: damaged chunk header at byte 4"):
        read_xdf(bad)


def test_xdf_dejitter_restores_the_sampling_grid(tmp_path: Path, real_segment: dict[str, np.ndarray]) -> None:
    streams = _streams(real_segment)
    true_times = streams[0]["times"].copy()
    jitter = np.random.default_rng(3).normal(0.0, 0.002, true_times.size)  # 2 ms network jitter
    streams[0]["times"] = np.sort(true_times + jitter)
    path = write_test_xdf(tmp_path / "jitter.xdf", streams)
    raw = read_xdf(path, dejitter=False).streams["E4_BVP"].timestamps
    fixed = read_xdf(path).streams["E4_BVP"].timestamps
    t0 = (
        5000.0 - read_xdf(path).streams["E4_BVP"].extra["lsl_t_zero"]
    )  # recording time of the true first sample
    assert np.max(np.abs(raw - (true_times - 5000.0 + t0))) > 0.004
    assert np.max(np.abs(fixed - (true_times - 5000.0 + t0))) < 0.001
    np.testing.assert_allclose(np.diff(fixed), 1 / 64.0, rtol=1e-4)
