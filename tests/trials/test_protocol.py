"""Protocol as data: the shipped JSON Schema matches the models, files round-trip, bad files fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attunexr.errors import DataFormatError
from attunexr.trials import (
    Protocol,
    default_protocol,
    load_protocol,
    protocol_from_dict,
    protocol_schema,
    save_protocol,
)


def test_shipped_schema_is_generated_from_the_models() -> None:
    assert protocol_schema() == json.loads(json.dumps(Protocol.model_json_schema(), sort_keys=True))


def test_default_template_has_three_arms_and_validates_against_the_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    p = default_protocol()
    assert [a.policy for a in p.arms] == ["arousal", "fixed", "none"]
    assert p.primary.instrument == "aq_anxiety"
    path = save_protocol(p, tmp_path / "protocol.json")
    jsonschema.validate(json.loads(path.read_text()), protocol_schema())
    assert load_protocol(path) == p


def test_registered_protocol_is_immutable() -> None:
    p = default_protocol()
    with pytest.raises(Exception):  # noqa: B017 - pydantic frozen model
        p.target_sample_size = 10  # type: ignore[misc]
    amended = p.model_copy(update={"version": 2, "amendment_note": "x"})
    assert p.version == 1 and amended.version == 2


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["outcomes"][0].update(visit="nowhere"), "unknown visit"),
    (lambda d: d.update(schema_version="9"), "schema_version"),
    (lambda d: d["arms"][1].update(id="ai_adaptive"), "repeated"),
    (lambda d: d.update(target_sample_size=-1), "target_sample_size"),
])
def test_bad_protocol_names_the_problem(change: object, message: str) -> None:
    d = default_protocol().to_json_dict()
    change(d)  # type: ignore[operator]
    with pytest.raises(DataFormatError, match=message):
        protocol_from_dict(d, source="p.json")


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match="bad.json"):
        load_protocol(bad)
