"""Fuzzing every file reader with mutated real files: it reads the file or raises DataFormatError, nothing else.

Each reader gets a small set of files made from the real datasets (Stress-Predict E4 CSVs cut to their first
rows, a VR cybersickness session folder cut likewise, BIDS/EDF/XDF/OpenSignals/CSV files written from real E4
recordings). Each case changes one file: byte flips, truncation (down to an empty file), inserted garbage,
invalid UTF-8, huge numbers and NaN/infinity tokens, deleted/duplicated lines, very long lines, NUL bytes, other
delimiters and line ends, byte-order marks; gzip files are mutated both before and after compression. The reader
must return or raise :class:`attunexr.errors.DataFormatError` (or a subclass), never another exception type,
and every read must finish (the slowest read is recorded and bounded).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attunexr.errors import DataFormatError
from attunexr.io import (
    read_bids,
    read_bitalino,
    read_csv_signals,
    read_edf,
    read_empatica,
    read_participants,
    read_vr_session,
    read_xdf,
    write_bids,
    write_edf,
)

from .conftest import REPORT, fuzz_settings

#: Cases per reader (each one file mutated and read): 10,400 in all.
CASES = {"empatica": 1500, "vr_session": 1500, "bids": 1500, "edf": 1300, "xdf": 1300, "bitalino": 1300,
         "csv": 1300, "bids_participants": 700}
TARGET_TOTAL = 10_000
SLOWEST_READ_S = 10.0  # a read that takes longer counts as a hang


@dataclass
class Target:
    """A reader and the real files it reads (relative path -> original bytes) in a private folder."""

    root: Path
    files: dict[str, bytes]
    read: Callable[[Path], Any]


def _load_test_module(name: str) -> ModuleType:
    """The fixture writers of tests/io (XDF and OpenSignals files have no writer in the package)."""
    path = Path(__file__).resolve().parents[1] / "io" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_fuzz_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _head(path: Path, lines: int) -> bytes:
    """The first ``lines`` lines of a real file, byte for byte."""
    with path.open("rb") as fh:
        return b"".join(fh.readline() for _ in range(lines))


def _crop_json_signal(path: Path, n: int) -> bytes:
    doc = json.loads(path.read_bytes())
    keys = sorted(doc["data"], key=int)[:n]
    return json.dumps({**doc, "data": {k: doc["data"][k] for k in keys}}).encode()


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _make(name: str, base: Path, data_dir: Path) -> Target:
    sp = data_dir / "stress-predict" / "Raw_data"
    root = base / name
    root.mkdir(parents=True)
    if name == "empatica":
        for fname, n in (("ACC.csv", 120), ("BVP.csv", 200), ("EDA.csv", 40), ("HR.csv", 30), ("IBI.csv", 30),
                         ("TEMP.csv", 40)):
            (root / fname).write_bytes(_head(sp / "S02" / fname, n))
        return Target(root, _snapshot(root), read_empatica)
    if name == "vr_session":
        src = data_dir / "vr-cybersickness" / "data" / "train" / "2"
        (root / "Empatica").mkdir()
        (root / "Polar_h10").mkdir()
        (root / "Empatica" / "EDA.json").write_bytes(_crop_json_signal(src / "Empatica" / "EDA.json", 60))
        (root / "Polar_h10" / "ECG.json").write_bytes(_crop_json_signal(src / "Polar_h10" / "ECG.json", 60))
        eye = next(src.glob("*_eyetracking_data.csv"))
        (root / eye.name).write_bytes(_head(eye, 40))
        cs = next(src.glob("*_cs_timestamps.csv"))
        (root / cs.name).write_bytes(cs.read_bytes())
        return Target(root, _snapshot(root), read_vr_session)
    if name in ("bids", "bids_participants"):
        rec = read_empatica(sp / "S03").crop(0.0, 20.0)
        write_bids(rec, root, task="stress")
        if name == "bids_participants":
            keep = {"participants.tsv", "participants.json", "dataset_description.json"}
            for p in sorted(root.rglob("*"), reverse=True):
                if p.is_file() and p.name not in keep:
                    p.unlink()
            return Target(root, _snapshot(root), read_participants)
        return Target(root, _snapshot(root), read_bids)
    if name == "edf":
        rec = read_empatica(sp / "S02").crop(700.0, 710.0)
        for s in list(rec.streams):
            if rec.streams[s].rate is None:
                del rec.streams[s]
        write_edf(rec, root / "segment.edf")
        return Target(root, _snapshot(root), lambda r: read_edf(r / "segment.edf"))
    if name == "xdf":
        helper = _load_test_module("test_xdf")
        rec = read_empatica(sp / "S05").crop(900.0, 905.0)
        seg = {k: rec.streams[k].values for k in ("bvp", "eda", "acc")}
        helper.write_test_xdf(root / "session.xdf", helper._streams(seg))
        return Target(root, _snapshot(root), lambda r: read_xdf(r / "session.xdf"))
    if name == "bitalino":
        helper = _load_test_module("test_bitalino")
        rec = read_empatica(sp / "S07").crop(1200.0, 1215.0)
        helper.write_opensignals(root / "opensignals.txt", rec.streams["eda"].values, rec.streams["temp"].values)
        return Target(root, _snapshot(root), lambda r: read_bitalino(r / "opensignals.txt"))
    assert name == "csv"
    rec = read_empatica(sp / "S02").crop(700.0, 720.0)
    eda = rec.streams["eda"]
    rows = "\n".join(f"{t:.3f},{v:.6f}" for t, v in zip(eda.timestamps, eda.values, strict=True))
    (root / "signals.csv").write_text("time,eda\n" + rows + "\n")
    return Target(root, _snapshot(root), lambda r: read_csv_signals(r / "signals.csv", rate=4.0))


# ------------------------------------------------------------------------------------------- mutations
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_BAD_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\xbc", b"\x80", b"\xfe\xfe")
_HUGE = (b"1" + b"0" * 400, b"-" + b"9" * 400, b"1e999", b"-1e999", b"nan", b"NaN", b"inf", b"-Infinity",
         b"18446744073709551616", b"0", b"-0", b"1e-400", b"0x1F")
MUTATIONS = ("flip", "truncate", "empty", "garbage", "utf8", "number", "delete_line", "duplicate_line",
             "long_line", "nul", "delimiter", "line_ends", "bom")


@st.composite
def mutate(draw: st.DrawFn, data: bytes) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(MUTATIONS))
    pos = draw(st.integers(0, len(data)))
    if kind == "flip" and data:
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 16))):
            out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
        return kind, bytes(out)
    if kind == "truncate":
        return kind, data[:pos]
    if kind == "garbage":
        return kind, data[:pos] + draw(st.binary(min_size=1, max_size=64)) + data[pos:]
    if kind == "utf8":
        return kind, data[:pos] + draw(st.sampled_from(_BAD_UTF8)) + data[pos:]
    if kind == "number":
        spans = [m.span() for m in _NUMBER.finditer(data[:200_000])]
        if spans:
            a, b = spans[draw(st.integers(0, len(spans) - 1))]
            return kind, data[:a] + draw(st.sampled_from(_HUGE)) + data[b:]
    lines = data.splitlines(keepends=True)
    if kind in ("delete_line", "duplicate_line") and lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines[i : i + 1] = [] if kind == "delete_line" else [lines[i], lines[i]]
        return kind, b"".join(lines)
    if kind == "long_line":
        return kind, data[:pos] + draw(st.sampled_from((b"9" * 200_000, b"a," * 60_000, b"\t" * 80_000))) + data[pos:]
    if kind == "nul":
        return kind, data[:pos] + b"\x00" * draw(st.integers(1, 32)) + data[pos:]
    if kind == "delimiter":
        a, b = draw(st.sampled_from(((b",", b";"), (b"\t", b","), (b",", b"\t"), (b":", b","), (b'"', b"'"))))
        return kind, data.replace(a, b)
    if kind == "line_ends":
        return kind, data.replace(b"\n", draw(st.sampled_from((b"\r\n", b"\r", b"\n\n", b""))))
    if kind == "bom":
        return kind, draw(st.sampled_from((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))) + data
    return "empty", b""


@st.composite
def file_case(draw: st.DrawFn, target: Target) -> tuple[str, str, bytes]:
    rel = draw(st.sampled_from(tuple(target.files)))
    original = target.files[rel]
    if rel.endswith(".gz") and draw(st.booleans()):  # mutate the content, then compress it properly
        kind, content = draw(mutate(gzip.decompress(original)))
        return rel, "gz-content-" + kind, gzip.compress(content, mtime=0)
    kind, data = draw(mutate(original))
    return rel, kind, data


@pytest.mark.parametrize("reader", sorted(CASES))
def test_reader_fuzz(reader: str, data_dir: Path, tmp_path: Path) -> None:
    target = _make(reader, tmp_path, data_dir)
    target.read(target.root)  # the unmutated files read
    counts = {"cases": 0, "read": 0, "refused": 0}
    kinds: dict[str, int] = {}
    slowest = [0.0, ""]

    @fuzz_settings(CASES[reader])
    @given(case=file_case(target))
    def run(case: tuple[str, str, bytes]) -> None:
        rel, kind, data = case
        path = target.root / rel
        path.write_bytes(data)
        started = time.perf_counter()
        try:
            target.read(target.root)
            counts["read"] += 1
        except DataFormatError as err:
            counts["refused"] += 1
            assert str(err), "a DataFormatError must say what is wrong"
        finally:
            took = time.perf_counter() - started
            if took > slowest[0]:
                slowest[:] = [took, f"{kind} of {rel}"]
            path.write_bytes(target.files[rel])
        counts["cases"] += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        assert took < SLOWEST_READ_S, f"{reader}: reading took {took:.1f} s after {kind} of {rel}"

    started, cpu = time.perf_counter(), time.process_time()
    run()
    REPORT[f"reader-{reader}"] = {"cases": counts["cases"], "read": counts["read"], "refused": counts["refused"],
                                  "seconds": round(time.perf_counter() - started, 2),
                                  "cpu_seconds": round(time.process_time() - cpu, 2),
                                  "slowest_read_s": round(slowest[0], 3)}
    assert counts["cases"] >= CASES[reader] and counts["refused"] > counts["cases"] // 5, counts
    assert len(kinds) >= 12, kinds
    shutil.rmtree(target.root)


def test_reader_fuzz_budget_reaches_the_target() -> None:
    """The per-reader budgets add up to at least 10,000 mutated files per run."""
    assert sum(CASES.values()) >= TARGET_TOTAL
