"""The public surface of attunexr.models is deliberate and importable."""

from __future__ import annotations

import attunexr.models as models


def test_public_api() -> None:
    for name in models.__all__:
        assert hasattr(models, name), name
    for name in ("ArousalDetector", "CybersicknessDetector", "Estimate", "load_model", "evaluate_loso"):
        assert name in models.__all__
    assert not [n for n in models.__all__ if n.startswith("_")]
