"""Time attunexr's batch feature extraction against the equivalent NeuroKit2 pipeline on the same real recordings.

Recordings: every Stress-Predict subject (E4 BVP 64 Hz + EDA 4 Hz) and every VR-cybersickness subject (Polar H10
ECG 130 Hz). attunexr: ``extract(recording, window=60, hop=10)`` over recordings holding just those streams (all
features are computed: HR, HRV time and frequency, respiration estimate, EDA, quality). NeuroKit2:
``ppg_clean``+``ppg_peaks`` / ``ecg_clean``+``ecg_peaks`` over each recording, ``eda_process``, and
``hrv_time``+``hrv_frequency`` per window. Reading files is not timed.

``--quick`` uses the first subject of each dataset, cropped to 10 minutes (a check that the script runs, seconds).

Usage: ``python benchmarks/features_vs_neurokit.py [--subjects N] [--json] [--quick]``; the last line printed is one JSON
object ``{"ours_s", "neurokit_s", "ratio", "samples", "parity": {...}}`` (wall-clock seconds; CPU seconds of the
process are added as ``ours_cpu_s``/``neurokit_cpu_s`` because the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attunexr.features import extract  # noqa: E402
from attunexr.io.datasets import get_dataset  # noqa: E402
from attunexr.recording import Recording  # noqa: E402
from neurokit_reference import ReferenceWindows, parity, reference_windows  # noqa: E402

#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = ("ours_s", "neurokit_s", "ratio", "samples", "parity", "recordings", "windows", "per_dataset")


def _only(rec: Recording, kinds: tuple[str, ...]) -> Recording:
    keep = {}
    for kind in kinds:
        s = rec.pick(kind)
        if s is not None:
            keep[s.name] = s
    return Recording(rec.meta, keep, rec.events, rec.intervals)


def _clean(d: dict[str, object]) -> dict[str, object]:
    """Round floats; NaN (no window qualified) becomes null so the line is strict JSON."""
    return {
        k: (
            None
            if isinstance(v, float) and not np.isfinite(v)
            else round(v, 4)
            if isinstance(v, float)
            else v
        )
        for k, v in d.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--subjects", type=int, default=None, help="use only the first N subjects of each dataset"
    )
    ap.add_argument("--json", action="store_true", help="print only the JSON summary")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = ap.parse_args()
    if args.quick:
        args.subjects = 1

    recs: list[Recording] = []
    for name, kinds in (("stress-predict", ("ppg", "eda")), ("vr-cybersickness", ("ecg",))):
        ds = get_dataset(name)
        subjects = ds.subjects(data_dir=args.data_dir)[: args.subjects]
        for s in subjects:
            rec = _only(ds.load(s, data_dir=args.data_dir), kinds)
            if args.quick:
                rec = rec.crop(rec.t_start, rec.t_start + 600.0)
            if rec.streams:
                recs.append(rec)
    samples = int(sum(s.n_samples for r in recs for s in r.streams.values()))

    t0, c0 = time.perf_counter(), time.process_time()
    ours = [extract(r, window=60.0, hop=10.0) for r in recs]
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0

    import neurokit2  # noqa: F401  (import time, ~2 s, is not counted)

    refs: list[ReferenceWindows] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for r, df in zip(recs, ours, strict=True):
        cardiac = r.pick("ecg") or r.pick("ppg")
        refs.append(
            reference_windows(cardiac, r.pick("eda"), df["t_start"].to_numpy(), df["t_end"].to_numpy())
        )
    neurokit_s, neurokit_cpu = time.perf_counter() - t0, time.process_time() - c0

    allours = pd.concat(ours, ignore_index=True)
    ref = ReferenceWindows(
        *(np.concatenate([getattr(x, f) for x in refs]) for f in ("hr", "rmssd", "clean", "scr_rate"))
    )
    par = parity(allours, ref)
    per_dataset = {}
    for name in ("stress-predict", "vr-cybersickness"):
        m = (allours["dataset"] == name).to_numpy()
        sub = ReferenceWindows(ref.hr[m], ref.rmssd[m], ref.clean[m], ref.scr_rate[m])
        per_dataset[name] = parity(allours[m].reset_index(drop=True), sub)
    out = {
        "ours_s": round(ours_s, 3),
        "neurokit_s": round(neurokit_s, 3),
        "ratio": round(neurokit_s / ours_s, 1),
        "samples": samples,
        "ours_cpu_s": round(ours_cpu, 3),
        "neurokit_cpu_s": round(neurokit_cpu, 3),
        "parity": _clean(par),
        "recordings": len(recs),
        "windows": len(allours),
        "per_dataset": {k: _clean(v) for k, v in per_dataset.items()},
        "quick": args.quick,
    }
    if not args.json:
        print(f"{len(recs)} recordings, {samples} samples, {len(allours)} windows")
        print(f"attunexr {ours_s:.2f} s, NeuroKit2 {neurokit_s:.2f} s, ratio {neurokit_s / ours_s:.1f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
