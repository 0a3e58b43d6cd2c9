"""Session plans are wired to the project's real components; a missing model stops the start, never a stand-in."""

import pytest

from attunexr.errors import ModelError
from attunexr.exposure import ExposureController
from attunexr.web import build_engine


def test_plan_is_wired_to_the_registry_model_controller_and_safety_monitors() -> None:
    engine = build_engine({"scenario": "heights", "model": "stress", "seed": 1})
    assert engine.analyzer.info["model"].startswith("stress")
    assert isinstance(engine.controller.controller, ExposureController)
    assert "OverloadMonitor" in str(engine.info)


def test_a_plan_naming_an_unknown_model_does_not_start() -> None:
    with pytest.raises(ModelError, match="no-such-model"):
        build_engine({"scenario": "heights", "model": "no-such-model"})
