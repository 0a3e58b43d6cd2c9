"""The web app's API schema lists the clinician API (the package's ``__all__`` is checked with every other package's
in tests/test_public_api.py)."""

from __future__ import annotations


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
