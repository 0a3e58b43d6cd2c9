"""The fuzz suite's settings: one fixed, derandomized Hypothesis profile, and a record of the case counts.

The profile is registered here and applied explicitly by each fuzz test (never loaded globally, so other property
tests keep their own settings). ``ATTUNEXR_FUZZ_PROFILE=fuzz-explore`` switches to random exploration with the same
case counts (for a developer hunting new cases; CI always runs the fixed profile).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)
settings.register_profile("fuzz-ci", derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("fuzz-explore", derandomize=False, **_COMMON)  # type: ignore[arg-type]


def fuzz_settings(max_examples: int) -> settings:
    """The suite's profile with a case budget (the same in CI and locally)."""
    profile = settings.get_profile(os.environ.get("ATTUNEXR_FUZZ_PROFILE", "fuzz-ci"))
    return settings(profile, max_examples=max_examples)


REPORT: dict[str, dict[str, float]] = {}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the case counts and wall/CPU times, and save them as test-artifacts/fuzz-counts.json."""
    if not REPORT:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "fuzz-counts.json").write_text(json.dumps(REPORT, indent=2, sort_keys=True) + "\n")
    for name, row in sorted(REPORT.items()):
        terminalreporter.write_line(f"fuzz {name}: " + ", ".join(f"{k}={v:g}" for k, v in sorted(row.items())))
