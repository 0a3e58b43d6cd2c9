"""Cost of the keyed audit chain and its signed checkpoints, and of `attunexr verify`.

Appends N audit entries to a SQLite database in a temporary data folder, once with a signed, fsynced checkpoint
after every append (what the app does) and once without checkpoints, then times the full check of the chain
against its checkpoints (`check_audit_chain`).

Reports (last line, JSON): ms_per_append_with_checkpoints, ms_per_append_without_checkpoints, verify_s, entries.

Usage: python benchmarks/audit_append.py --json   (--quick: 50 entries)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from attunexr.store import Database, append_audit, check_audit_chain, sqlite_url

JSON_KEYS = ('entries', 'ms_per_append_with_checkpoints', 'ms_per_append_without_checkpoints', 'verify_s')


def _appends(folder: Path, n: int, checkpoints: bool) -> tuple[float, Database]:
    db = Database(sqlite_url(folder / "attunexr.db"), data_dir=folder)
    db.upgrade()
    if not checkpoints:
        db.engine.dialect.attunexr_checkpoints = None  # type: ignore[attr-defined]
    with db.begin() as s:
        t0 = time.perf_counter()
        for i in range(n):
            append_audit(s, actor="clinician", actor_id=1, action="read", resource="patient", resource_id=i,
                         clinic_id=1, detail={"page": "patient"})
        return (time.perf_counter() - t0) / n * 1000.0, db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="50 entries (a smoke run for CI)")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args()
    n = 50 if args.quick else args.entries
    with tempfile.TemporaryDirectory() as tmp:
        with_cp, db = _appends(Path(tmp) / "with", n, True)
        t0 = time.perf_counter()
        with db.begin() as s:
            report = check_audit_chain(s)
        verify_s = time.perf_counter() - t0
        assert not report.problems and report.checkpoints == n, report.problems
        db.dispose()
        without_cp, db2 = _appends(Path(tmp) / "without", n, False)
        db2.dispose()
    result = {"entries": n, "ms_per_append_with_checkpoints": round(with_cp, 3),
              "ms_per_append_without_checkpoints": round(without_cp, 3), "verify_s": round(verify_s, 3), "quick": args.quick}
    if not args.json:
        print(f"{n} audit appends: {with_cp:.2f} ms each with a signed fsynced checkpoint, {without_cp:.2f} ms "
              f"without; checking chain + {n} checkpoints: {verify_s:.2f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
