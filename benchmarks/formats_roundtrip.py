"""Time BIDS and EDF round trips of one whole real Stress-Predict subject, and the official BIDS validator on it.

Usage: ``python benchmarks/formats_roundtrip.py [--subject S02] [--data-dir DIR] [--quick]``; the last line printed is
one JSON object with seconds per step, file sizes and the largest read-back error per stream (``--quick``: the
subject's first 5 minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from attunexr.io import read_bids, read_edf, write_bids, write_edf
from attunexr.io.datasets import get_dataset
from attunexr.recording import Recording

VALIDATOR = Path(__file__).resolve().parents[1] / "tools" / "node_modules" / ".bin" / "bids-validator"


def _size(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if path.is_dir()
        else path.stat().st_size
    )


#: keys of the JSON line (tests/test_benchmarks_quick.py checks them in --quick mode)
JSON_KEYS = (
    "subject", "duration_s", "samples", "bids_write_s", "bids_read_s", "bids_bytes", "bids_max_abs_error",
    "edf_write_s", "edf_read_s", "edf_bytes", "edf_max_abs_error",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subject", default="S02")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true", help="print only the JSON line (always the case)")
    parser.add_argument("--quick", action="store_true", help="small inputs, a few seconds: checks the script works, measures nothing")
    args = parser.parse_args()
    rec = get_dataset("stress-predict").load(args.subject, args.data_dir)
    if args.quick:
        rec = rec.crop(rec.t_start, rec.t_start + 300.0)
        # a stream with no sample in those minutes (IBI may start later) is not written: leave it out
        rec = Recording(rec.meta, {n: s for n, s in rec.streams.items() if s.n_samples}, rec.events, rec.intervals)
    samples = sum(s.n_samples * s.n_channels for s in rec.streams.values())
    out: dict[str, object] = {
        "subject": args.subject,
        "duration_s": round(rec.duration, 1),
        "samples": samples,
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bids"
        t = time.perf_counter()
        write_bids(rec, root, task="stress")
        out["bids_write_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        (back,) = read_bids(root)
        out["bids_read_s"] = round(time.perf_counter() - t, 3)
        out["bids_bytes"] = _size(root)
        out["bids_max_abs_error"] = {
            n: float(np.nanmax(np.abs(back.streams[n].values - s.values))) for n, s in rec.streams.items()
        }
        if VALIDATOR.exists():
            t = time.perf_counter()
            proc = subprocess.run(
                [str(VALIDATOR), str(root), "--json"], capture_output=True, text=True, check=False
            )
            out["validator_s"] = round(time.perf_counter() - t, 3)
            out["validator_errors"] = len(json.loads(proc.stdout)["issues"]["errors"])
        edf = Path(tmp) / "rec.edf"
        common = max(s.t_start for s in rec.streams.values() if s.rate)
        seg = rec.crop(np.ceil(common), rec.t_end)
        t = time.perf_counter()
        write_edf(seg, edf)
        out["edf_write_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        edf_back = read_edf(edf)
        out["edf_read_s"] = round(time.perf_counter() - t, 3)
        out["edf_bytes"] = _size(edf)
        out["edf_max_abs_error"] = {
            n: float(np.max(np.abs(s.values - seg.streams[n].values[: s.n_samples])))
            for n, s in edf_back.streams.items()
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
