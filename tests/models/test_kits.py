"""`attunexr evaluate --model stress --bids DIR --positive A --negative B [--baseline C] --json OUT` on other kits.

Three BIDS datasets are built from real recordings, as another clinic would export them, and each must pass the
official validator and run with no other option:

(a) Stress-Predict E4 (BVP 64 Hz, EDA 4 Hz, TEMP 4 Hz, ACC 32 Hz, HR 1 Hz, IBI) through the BIDS exporter, with
    gaps written as ``n/a``: a 125 s loss of every signal inside the Stroop task and 6 s losses of EDA and BVP every
    three minutes;
(b) the same people as a heart-rate-only kit: the E4's own 1 Hz heart rate plus EDA resampled to 10 Hz, same gaps;
(c) a finger/chest kit at 1000 Hz: the VR-cybersickness riders' Polar H10 ECG (130 Hz) resampled to 1000 Hz, the
    same rider's E4 EDA resampled to 1000 Hz, and a respiration channel derived from that ECG (ECG-derived
    respiration from the R-wave amplitude, Moody et al., Computers in Cardiology 1985: a real breathing surrogate,
    not an independent belt), with a 45 s loss of every signal for one rider and 5 s losses for the others. The
    labels are the riders' sick/not-sick button presses: the stress model's figures there mean little; the test is
    that this kit runs, picks a fitting variant, abstains where the gaps are and reports the shift.

Windows are 60 s long on a 10 s grid (t_end = 60 + 10 k). A window that lost more than half of its samples of every
signal must abstain with the reason ``signal_gaps``; one that lost less than a quarter never does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.signal import resample_poly

from attunexr.io import read_bids, write_bids
from attunexr.io.datasets import get_dataset
from attunexr.recording import Recording, RecordingMeta, Stream
from attunexr.signals import butter_sos, ecg_peaks, filter_zero_phase

VALIDATOR = Path(__file__).resolve().parents[2] / "tools" / "node_modules" / ".bin" / "bids-validator"
CLI = [sys.executable, "-c", "from attunexr.cli import main; main()"]
WINDOW, HOP = 60.0, 10.0
SP_SUBJECTS = ("S02", "S05", "S07")
LONG = 125.0  # seconds of every signal lost inside the Stroop task (a Bluetooth drop, a loose wristband)
SHORT = 6.0  # seconds of EDA and BVP lost every SHORT_EVERY seconds
SHORT_EVERY = 180.0


def _nan_between(stream: Stream, spans: list[tuple[float, float]]) -> Stream:
    """The stream with its samples in each ``[t0, t1)`` span lost (NaN), or dropped for irregular streams."""
    t = stream.timestamps
    lost = np.zeros(t.size, dtype=bool)
    for t0, t1 in spans:
        lost |= (t >= t0) & (t < t1)
    if stream.rate is None:
        keep = ~lost
        return Stream(
            stream.name,
            stream.kind,
            stream.values[keep],
            t[keep],
            None,
            stream.unit,
            stream.channels,
            stream.device,
        )
    values = stream.values.astype(float).copy()
    values[lost] = np.nan
    return Stream(
        stream.name, stream.kind, values, t, stream.rate, stream.unit, stream.channels, stream.device
    )


def _resampled(stream: Stream, rate: float, name: str | None = None) -> Stream:
    """``stream`` on a regular grid at ``rate`` (linear interpolation; for slow signals such as EDA)."""
    t = np.arange(stream.timestamps[0], stream.timestamps[-1], 1.0 / rate)
    values = np.interp(t, stream.timestamps, stream.values)
    return Stream(name or stream.name, stream.kind, values, t, rate, stream.unit, (), stream.device)


def _overlap(t_end: float, span: tuple[float, float]) -> float:
    return max(0.0, min(t_end, span[1]) - max(t_end - WINDOW, span[0]))


def _long_gap(rec: Recording) -> tuple[float, float]:
    """A LONG-second span inside the Stroop task (never in the reference rest), 5 s off the window grid."""
    stroop = next(iv for iv in rec.intervals if iv.label == "stroop")
    start = np.ceil((stroop.onset + 20.0) / 10.0) * 10.0 + 5.0
    assert start + LONG <= stroop.onset + stroop.duration, "Stroop task too short for the test gap"
    return float(start), float(start + LONG)


def _short_gaps(rec: Recording, long: tuple[float, float]) -> list[tuple[float, float]]:
    starts = np.arange(123.0, rec.duration - SHORT, SHORT_EVERY)
    return [(s, s + SHORT) for s in starts if s + SHORT + WINDOW < long[0] or s > long[1] + WINDOW]


def _expected(long_gaps: list[tuple[float, float]], labelled: list[float]) -> tuple[int, int]:
    """(windows that must abstain for gaps, windows that may) among the labelled window ends."""
    must = sum(any(_overlap(t, g) > WINDOW / 2 for g in long_gaps) for t in labelled)
    may = sum(any(_overlap(t, g) >= WINDOW / 4 for g in long_gaps) for t in labelled)
    return must, may


def _labelled_ends(rec: Recording, labels: tuple[str, ...]) -> list[float]:
    """Window ends whose window is at least half covered by an interval with one of ``labels``."""
    ends = np.arange(WINDOW, rec.duration + 1e-9, HOP)
    out = []
    for t in ends:
        best = max(
            ((iv.overlap(t - WINDOW, t), iv.label) for iv in rec.intervals if iv.label in labels),
            default=(0.0, ""),
        )
        if best[0] >= WINDOW / 2:
            out.append(float(t))
    return out


def _evaluate(
    root: Path, out: Path, positive: str, negative: str, baseline: str | None = None
) -> dict[str, Any]:
    cmd = [
        *CLI,
        "evaluate",
        "--model",
        "stress",
        "--bids",
        str(root),
        "--positive",
        positive,
        "--negative",
        negative,
    ]
    if baseline is not None:
        cmd += ["--baseline", baseline]
    cmd += ["--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "model variant" in proc.stdout and "shift" in proc.stdout  # the human summary (stdout) names both
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _check_variant_and_shift(result: dict[str, Any]) -> None:
    variant = result["model_variant"]
    usable = [c for c in variant["considered"] if c["status"] == "usable"]
    assert variant["name"] == max(usable, key=lambda c: c["validated_auroc"])["name"]
    assert variant["validated_auroc"] == max(c["validated_auroc"] for c in usable)
    assert variant["signals"] and "highest validated AUROC" in variant["why"]
    shift = result["shift"]
    assert shift["level"] in ("small", "moderate", "large")
    assert 0.0 <= shift["domain_auroc"] <= 1.0
    assert shift["n_new_people"] >= 2 and shift["n_training_people"] >= 30
    assert shift["top_features"] and all(
        np.isfinite(f["standardized_difference"]) for f in shift["top_features"]
    )
    assert set(shift["cutoffs"]) == {"small", "moderate", "large"}


def _check_validator(root: Path) -> None:
    """The official bids-validator (tools/node_modules, as in tests/io/test_bids.py) finds no error."""
    assert VALIDATOR.exists(), f"{VALIDATOR} missing: run `make install` (npm install in tools/)"
    proc = subprocess.run([str(VALIDATOR), str(root), "--json"], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    assert report["issues"]["errors"] == [], [(e["key"], e["reason"]) for e in report["issues"]["errors"]]


# ------------------------------------------------------------------------------------------------ (a) and (b)
@pytest.fixture(scope="module")
def sp_recordings(stress_predict_dir: Path) -> list[Recording]:
    ds = get_dataset("stress-predict")
    recs = []
    for s in SP_SUBJECTS:
        rec = ds.load(s, data_dir=stress_predict_dir.parent)
        rest = [iv for iv in rec.intervals if iv.label == "rest"]
        recs.append(rec.crop(0.0, rest[0].onset + rest[0].duration))  # baseline, Stroop, rest
    return recs


def _gappy(rec: Recording, streams: dict[str, Stream]) -> tuple[Recording, tuple[float, float]]:
    long = _long_gap(rec)
    short = _short_gaps(rec, long)
    out = Recording(RecordingMeta(subject=rec.meta.subject, dataset="stress-predict"))
    for s in streams.values():
        spans = [long] + (short if s.kind in ("eda", "ppg") else [])
        out.add_stream(_nan_between(s, spans))
    out.intervals = list(rec.intervals)
    return out, long


def test_wrist_kit_with_n_a_gaps_and_mixed_rates(sp_recordings: list[Recording], tmp_path: Path) -> None:
    root = tmp_path / "wrist"
    longs, ends, n_lost = [], [], 0
    for rec in sp_recordings:
        gappy, long = _gappy(rec, dict(rec.streams))
        write_bids(gappy, root, task="stress", allow_missing=True)
        n_lost += int(np.isnan(gappy.streams["eda"].values).sum())
        longs.append(long)
        ends.append(_labelled_ends(rec, ("stroop", "rest", "baseline")))
    _check_validator(root)
    back = read_bids(root)  # n/a read as gaps with no option; every stream keeps its own rate
    assert sum(int(np.isnan(r.streams["eda"].values).sum()) for r in back) == n_lost > 0
    assert {s.rate for s in back[0].streams.values()} == {64.0, 4.0, 32.0, 1.0, None}

    result = _evaluate(root, tmp_path / "wrist.json", "stroop", "rest,baseline")
    _check_variant_and_shift(result)
    assert result["reference"] == {"source": "labelled rest", "label": "baseline"}
    assert result["in_sample"] and result["shift"]["level"] == "small"  # the training people, same wristband
    must = sum(_expected([g], e)[0] for g, e in zip(longs, ends, strict=True))
    may = sum(_expected([g], e)[1] for g, e in zip(longs, ends, strict=True))
    gaps = result["abstention"]["by_reason"].get("signal_gaps", 0)
    assert must >= 3 * 9 and must <= gaps <= may, (must, gaps, may)


def test_heart_rate_only_kit(sp_recordings: list[Recording], tmp_path: Path) -> None:
    root = tmp_path / "strap"
    longs, ends = [], []
    for rec in sp_recordings:
        streams = {"hr": rec.streams["hr"], "eda": _resampled(rec.streams["eda"], 10.0)}
        gappy, long = _gappy(rec, streams)
        gappy.intervals = [iv for iv in gappy.intervals if iv.label != "baseline"]
        gappy.intervals += [
            type(iv)(iv.onset, iv.duration, "rest") for iv in rec.intervals if iv.label == "baseline"
        ]  # this clinic calls the opening rest "rest": the reference comes from the first minutes
        write_bids(gappy, root, task="stress", allow_missing=True)
        longs.append(long)
        ends.append(_labelled_ends(rec, ("stroop", "rest", "baseline")))
    _check_validator(root)
    assert {s.rate for s in read_bids(root)[0].streams.values()} == {1.0, 10.0}

    result = _evaluate(root, tmp_path / "strap.json", "stroop", "rest")
    _check_variant_and_shift(result)
    usable = {c["name"] for c in result["model_variant"]["considered"] if c["status"] == "usable"}
    assert usable == {"stress-hr-eda", "stress-eda"}
    assert result["reference"]["source"] == "first minutes"
    must = sum(_expected([g], e)[0] for g, e in zip(longs, ends, strict=True))
    may = sum(_expected([g], e)[1] for g, e in zip(longs, ends, strict=True))
    gaps = result["abstention"]["by_reason"].get("signal_gaps", 0)
    assert must <= gaps <= may, (must, gaps, may)


def test_without_rest_the_error_names_both_options(sp_recordings: list[Recording], tmp_path: Path) -> None:
    root = tmp_path / "norest"
    rec = sp_recordings[0]
    cut = Recording(RecordingMeta(subject=rec.meta.subject, dataset="stress-predict"))
    cut.add_stream(rec.streams["hr"])
    cut.add_stream(rec.streams["eda"])
    cut.intervals = [iv for iv in rec.intervals if iv.label != "baseline"]  # starts unlabelled
    write_bids(cut, root, task="stress")
    proc = subprocess.run(
        [
            *CLI,
            "evaluate",
            "--model",
            "stress",
            "--bids",
            str(root),
            "--positive",
            "stroop",
            "--negative",
            "rest",
            "--json",
            str(tmp_path / "x.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0 and not (tmp_path / "x.json").exists()
    assert "--baseline TYPE" in proc.stderr and "start each recording with a rest" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------------ (c)
def _edr(ecg: Stream, t: np.ndarray) -> np.ndarray:
    """ECG-derived respiration: R-wave amplitudes interpolated onto ``t`` and band-passed to 0.1-0.5 Hz."""
    assert ecg.rate is not None
    peaks = ecg_peaks(ecg.values, ecg.rate)
    amp = ecg.values[peaks]
    wave = np.interp(t, ecg.timestamps[peaks], amp)
    return filter_zero_phase(wave - wave.mean(), butter_sos("bandpass", (0.1, 0.5), 1000.0, 2))


def test_ecg_eda_resp_kit_at_1000_hz(vr_cybersickness_dir: Path, tmp_path: Path) -> None:
    ds = get_dataset("vr-cybersickness")
    root = tmp_path / "chest"
    riders = [s for s in ds.subjects(vr_cybersickness_dir.parent) if s not in ("train-1", "train-14")]
    long_rider, long = riders[2], (33.0, 78.0)
    ends: list[float] = []
    for rider in riders:
        rec = ds.load(rider, data_dir=vr_cybersickness_dir.parent)
        ecg = rec.streams["ecg"]
        assert ecg.rate == 130.0
        t = ecg.timestamps[0] + np.arange(int(ecg.n_samples * 1000 / 130)) / 1000.0
        ecg_1k = Stream("ecg", "ecg", resample_poly(ecg.values, 100, 13)[: t.size], t, 1000.0, ecg.unit)
        eda = rec.streams["eda"]
        keep = (t >= eda.timestamps[0]) & (t <= eda.timestamps[-1])
        eda_1k = Stream(
            "eda", "eda", np.interp(t[keep], eda.timestamps, eda.values), t[keep], 1000.0, eda.unit
        )
        resp = Stream("resp", "resp", _edr(ecg_1k, t), t, 1000.0, "a.u.")
        spans = [long] if rider == long_rider else [(20.0, 25.0)]
        kit = Recording(RecordingMeta(subject=rider.replace("-", ""), dataset="clinic-chest"))
        for s in (ecg_1k, eda_1k, resp):
            kit.add_stream(_nan_between(s, spans))
        kit.intervals = [iv for iv in rec.intervals if iv.label in ("sick", "not_sick")]
        write_bids(kit, root, task="ride", allow_missing=True)
        if rider == long_rider:
            ends = _labelled_ends(kit, ("sick", "not_sick"))
    _check_validator(root)
    back = read_bids(root)
    assert all({s.rate for s in r.streams.values()} == {1000.0} for r in back)
    assert {s.kind for s in back[0].streams.values()} == {"ecg", "eda", "resp"}

    result = _evaluate(root, tmp_path / "chest.json", "sick", "not_sick", baseline="not_sick")
    _check_variant_and_shift(result)
    assert result["model_variant"]["name"] in (
        "stress-cardiac-eda-resp",
        "stress-cardiac-eda",
        "stress-cardiac",
        "stress-eda",
    )
    # a seated 100 s ride with a chest ECG at 1000 Hz is far from the wrist recordings the model learned from
    assert result["shift"]["level"] == "large" and not result["in_sample"]
    must, may = _expected([long], ends)
    gaps = result["abstention"]["by_reason"].get("signal_gaps", 0)
    assert must >= 1 and must <= gaps <= may, (must, gaps, may)


def test_report_names_the_variant_and_puts_a_large_shift_first(
    sp_recordings: list[Recording], tmp_path: Path
) -> None:
    from attunexr.models import evaluate_bids, render_report

    root = tmp_path / "two"
    for rec in sp_recordings[:2]:
        write_bids(rec, root, task="stress")
    run = evaluate_bids(root, "stress", positive=("stroop",), negative=("rest", "baseline"), n_boot=50)
    page = render_report(run.result, run.predictions)
    assert run.result["shift"]["level"] == "small"  # the training people: the shift block sits in the summary
    assert page.index("Research use only") < page.index("data-testid='shift'")
    assert "data-testid='model-variant'" in page and "highest validated AUROC" in page
    large = {**run.result, "shift": {**run.result["shift"], "level": "large", "domain_auroc": 0.93}}
    page = render_report(large, run.predictions)
    first = page.index("data-testid='shift'")
    assert first < page.index("Research use only") < page.index("data-testid='model-variant'")
    assert "Dataset shift: LARGE" in page[first : first + 300]
