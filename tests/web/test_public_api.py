"""The public surface of attunexr.web and attunexr.store is deliberate: every name in __all__ exists, nothing else
public leaks from the package namespaces."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["attunexr.web", "attunexr.store"])
def test_all_is_complete_and_exact(name: str) -> None:
    mod = importlib.import_module(name)
    assert sorted(mod.__all__) == sorted(set(mod.__all__))
    for item in mod.__all__:
        assert hasattr(mod, item), f"{name}.{item} listed in __all__ but missing"
    public = {k for k, v in vars(mod).items() if not k.startswith("_") and not getattr(v, "__file__", None)}
    assert public <= set(mod.__all__) | {"annotations"}, public - set(mod.__all__)


def test_openapi_lists_the_api(tmp_path: object) -> None:
    from pathlib import Path

    from attunexr.web import Settings, create_app

    app = create_app(Settings(data_dir=Path(str(tmp_path))))
    schema = app.openapi()
    paths = schema["paths"]
    for p in ("/api/auth/token", "/api/patients", "/api/patients/{patient_id}/sessions",
              "/api/sessions/{session_id}/proposals/{proposal_id}/approve", "/api/sessions/{session_id}/stop",
              "/api/audit/verify"):
        assert p in paths, p
    assert "/login" not in paths  # pages are not part of the API schema
