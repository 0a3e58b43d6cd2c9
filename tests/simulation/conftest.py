"""Fixtures for the simulator tests: the shipped stress detector."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def stress_detector() -> Any:
    """The registered ``stress`` model, exactly what a live session loads."""
    from attunexr.models import load_model

    return load_model("stress")
