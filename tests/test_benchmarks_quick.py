"""Every benchmark script runs in its ``--quick`` mode and prints the JSON keys it documents.

Benchmarks measure (see README "Honest numbers"); this test only keeps them runnable, so that a change elsewhere
cannot silently break one. Scripts are found by glob: every ``benchmarks/*.py`` with a ``__main__`` block must
accept ``--quick --json``, declare ``JSON_KEYS`` (a tuple of strings) at module level, and print one JSON object as
its last line holding those keys and ``"quick": true``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(
    p for p in BENCH.glob("*.py") if not p.name.startswith("_") and "__main__" in p.read_text(encoding="utf-8")
)


def json_keys(script: Path) -> tuple[str, ...]:
    """The script's module-level ``JSON_KEYS`` tuple, read without importing it."""
    for node in ast.parse(script.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "JSON_KEYS" for t in node.targets
        ):
            keys = ast.literal_eval(node.value)
            assert isinstance(keys, tuple) and keys and all(isinstance(k, str) for k in keys)
            return keys
    raise AssertionError(f"{script.name}: declare JSON_KEYS = (...) at module level (the keys its JSON line has)")


def test_scripts_are_found() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"features_vs_neurokit.py", "live_latency.py", "loso_runtime.py"} <= names
    assert "neurokit_reference.py" not in names  # a module the scripts import, not a script


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_quick_mode(script: Path, data_dir: Path, tmp_path: Path) -> None:
    keys = json_keys(script)
    env = {**os.environ, "ATTUNEXR_DATA": str(data_dir), "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, f"{script.name} --quick failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    assert lines, f"{script.name} printed nothing; stderr:\n{proc.stderr[-2000:]}"
    result = json.loads(lines[-1])
    assert isinstance(result, dict)
    missing = [k for k in keys if k not in result]
    assert not missing, f"{script.name} --quick: JSON lacks {missing}; has {sorted(result)}"
    assert result.get("quick") is True, f"{script.name}: the JSON line must say \"quick\": true in --quick mode"
    print(f"{script.name}: {wall:.1f} s")
