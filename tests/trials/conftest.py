"""Shared fixtures of the trials tests: one small pool of virtual patients per test session."""

from __future__ import annotations

import pytest

from attunexr.trials import TrialData, VirtualPool, build_pool, default_protocol, simulate_trial


@pytest.fixture(scope="session")
def pool() -> VirtualPool:
    return build_pool(default_protocol(), 240, seed=4)


@pytest.fixture(scope="session")
def small_trial(pool: VirtualPool) -> TrialData:
    return simulate_trial(default_protocol(), 40, seed=9, pool=pool)
