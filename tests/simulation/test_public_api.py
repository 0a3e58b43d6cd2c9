"""The public surface of the exposure, safety, clinical and simulation packages is deliberate and importable."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["attunexr.exposure", "attunexr.safety", "attunexr.clinical",
                                     "attunexr.simulation"])
def test_all_names_exist_and_are_public(package: str) -> None:
    mod = importlib.import_module(package)
    assert len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert not name.startswith("_")
        assert getattr(mod, name) is not None
    public = {n for n in vars(mod) if not n.startswith("_") and not isinstance(getattr(mod, n), type(importlib))}
    assert public <= set(mod.__all__), f"{package} exposes names outside __all__: {sorted(public - set(mod.__all__))}"
