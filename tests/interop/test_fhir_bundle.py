"""FHIR export of a real Stress-Predict session: structure, codes, units, values, pseudonymity, errors."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fhir.resources.bundle import Bundle as BundleR5
from fhir.resources.R4B.bundle import Bundle as BundleR4B

import attunexr.interop as interop
from attunexr import clinical
from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.interop import (
    InstrumentAdministration,
    bundle_summary,
    read_bundle,
    session_bundle,
    write_bundle,
)
from attunexr.recording import Recording
from attunexr.safety import AdverseEventRegistry

PSEUDONYM = "px-41b7"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
PROJECT = "urn:attunexr:codes"


def make_instruments() -> list[InstrumentAdministration]:
    return [
        InstrumentAdministration("gad7", [2, 1, 3, 0, 1, 2, 1], 30.0),
        InstrumentAdministration("phq9", [1, 0, 2, 1, 0, 1, 0, 1, 1], 45.0),
        InstrumentAdministration("ssq", [0, 1, 2, 1, 0, 0, 1, 2, 1, 0, 1, 0, 0, 1, 2, 0], 1900.0),
        InstrumentAdministration("suds", 65.0, 700.0),
        InstrumentAdministration("fms", 4.0, 710.0),
    ]


def make_registry(subject: str) -> AdverseEventRegistry:
    reg = AdverseEventRegistry()
    reg.report(
        study="pilot",
        subject=subject,
        session="1",
        t=760.0,
        type="emotional_overload",
        severity="moderate",
        relatedness="probable",
        action_taken="de_escalate",
        outcome="resolved",
        source="monitor:overload",
        description="heart rate far above baseline during the Stroop task",
    )
    ev = reg.report(
        study="pilot", subject=subject, session="1", t=2250.0, type="cybersickness", severity="mild"
    )
    reg.confirm(ev.id, "clin-3", serious=True, outcome="resolving")
    return reg


def resources(data: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    out = [e["resource"] for e in data["entry"]]
    return [r for r in out if kind is None or r["resourceType"] == kind]


def by_code(data: dict[str, Any], system: str, code: str) -> list[dict[str, Any]]:
    return [
        r
        for r in resources(data, "Observation")
        if any(c["system"] == system and c["code"] == code for c in r["code"]["coding"])
    ]


def component(obs: dict[str, Any], code: str) -> dict[str, Any]:
    return next(c for c in obs["component"] if c["code"]["coding"][0]["code"] == code)


def clock(stamp: str, start_time: float) -> float:
    """A FHIR dateTime back on the recording clock."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).timestamp() - start_time


def keys_everywhere(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | set().union(*(keys_everywhere(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(keys_everywhere(v) for v in node)) if node else set()
    return set()


@pytest.fixture(scope="module")
def written(s05: Recording, s05_estimates: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = session_bundle(
        s05,
        PSEUDONYM,
        instruments=make_instruments(),
        adverse_events=make_registry(s05.meta.subject),
        estimates=s05_estimates,
    )
    return write_bundle(bundle, tmp_path_factory.mktemp("fhir") / "s05.json")


@pytest.fixture(scope="module")
def data(written: Path) -> dict[str, Any]:
    return json.loads(written.read_text())


def test_public_api() -> None:
    assert sorted(interop.__all__) == sorted(set(interop.__all__))
    for name in interop.__all__:
        assert hasattr(interop, name), name


def test_bundle_parses_back_with_fhir_resources(written: Path, data: dict[str, Any]) -> None:
    parsed = BundleR4B.model_validate_json(written.read_text())
    again = read_bundle(written)
    assert parsed.type == again.type == "transaction"
    assert len(parsed.entry) == len(again.entry) == len(data["entry"])
    kinds = {e.resource.get_resource_type() for e in parsed.entry}
    assert kinds == {"Patient", "Procedure", "Observation", "QuestionnaireResponse", "AdverseEvent"}
    # every reference points at an entry of the bundle; every POST targets its own resource type
    urls = {e["fullUrl"] for e in data["entry"]}
    assert len(urls) == len(data["entry"])
    refs = [m for m in written.read_text().split('"reference": "')[1:]]
    assert refs and all(r.split('"')[0] in urls for r in refs)
    assert all(
        e["request"] == {**e["request"], "method": "POST", "url": e["resource"]["resourceType"]}
        for e in data["entry"]
    )
    summary = bundle_summary(again)
    assert summary["entries"] == len(data["entry"]) and summary["resources"]["Patient"] == 1


def test_r5_collection_validates(s05_features: pd.DataFrame, s05: Recording, tmp_path: Path) -> None:
    bundle = session_bundle(
        s05_features,
        PSEUDONYM,
        instruments=make_instruments()[:2],
        adverse_events=make_registry(s05.meta.subject).events,
        start_time=s05.meta.start_time,
        version="R5",
        bundle_type="collection",
        every=300,
    )
    path = write_bundle(bundle, tmp_path / "r5.json")
    data = json.loads(path.read_text())
    BundleR5.model_validate(data)
    read_bundle(path, version="R5")
    assert data["type"] == "collection" and all("request" not in e for e in data["entry"])
    ae = resources(data, "AdverseEvent")
    assert len(ae) == 2 and all(a["status"] == "completed" and "occurrenceDateTime" in a for a in ae)
    assert ae[0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "moderate"
    proc = resources(data, "Procedure")[0]
    assert ae[0]["suspectEntity"][0]["instanceReference"]["reference"] == data["entry"][1]["fullUrl"]
    assert "occurrencePeriod" in proc and s05.meta.subject not in path.read_text()
    # 300-s periods: far fewer heart-rate observations than windows
    assert len(by_code(data, LOINC, "8867-4")) == math.ceil(s05_features["t_end"].max() / 300)
    with pytest.raises(DataFormatError, match="R4B"):  # an R5 AdverseEvent is not R4B
        read_bundle(path, version="R4B")


def test_loinc_codes_and_ucum_units(data: dict[str, Any]) -> None:
    for code, unit in (("8867-4", "/min"), ("9279-1", "/min")):
        obs = by_code(data, LOINC, code)
        assert obs
        for o in obs:
            assert o["valueQuantity"]["system"] == UCUM and o["valueQuantity"]["code"] == unit
            assert {"vital-signs"} <= {c["coding"][0]["code"] for c in o["category"]}
            assert o["status"] == "final" and "effectivePeriod" in o
    sc = by_code(data, PROJECT, "skin-conductance")
    assert sc and all(o["valueQuantity"]["code"] == "uS" and o["valueQuantity"]["system"] == UCUM for o in sc)
    assert [o["valueQuantity"]["code"] for o in by_code(data, LOINC, "70274-6")] == ["{score}"]
    assert len(by_code(data, LOINC, "44261-6")) == 1
    for code in ("ssq-total", "suds", "fms"):
        assert len(by_code(data, PROJECT, code)) == 1, code
    arousal = by_code(data, PROJECT, "arousal-estimate")
    assert arousal
    for o in arousal:
        codes = {c["code"]["coding"][0]["code"] for c in o["component"]}
        assert {"window-count", "abstained-window-count"} <= codes
        if "dataAbsentReason" in o:
            assert "arousal-probability" not in codes
        else:
            assert {"arousal-probability", "arousal-probability-lower", "arousal-probability-upper"} <= codes
            assert all(c["valueQuantity"]["code"] == "1" for c in o["component"] if "valueQuantity" in c)


def test_no_identifying_fields(data: dict[str, Any], written: Path, s05: Recording) -> None:
    text = written.read_text()
    patient = resources(data, "Patient")
    assert len(patient) == 1
    assert set(patient[0]) == {"resourceType", "meta", "identifier"}
    assert patient[0]["identifier"] == [{"system": "urn:attunexr:pseudonym", "value": PSEUDONYM}]
    banned = {"name", "telecom", "address", "birthDate", "gender", "photo", "contact", "deceasedDateTime"}
    assert not banned & keys_everywhere(data)
    # nothing about the source person, site or device leaks: only the pseudonym identifies the patient
    for leak in (s05.meta.subject, s05.meta.site, s05.meta.device, "Galway", "Empatica"):
        assert leak and leak not in text, leak
    assert text.count(PSEUDONYM) == 2  # the identifier and the conditional-create query
    assert data["entry"][0]["request"]["ifNoneExist"] == f"identifier=urn:attunexr:pseudonym|{PSEUDONYM}"


@pytest.mark.parametrize(
    ("column", "system", "code"),
    [("hr_mean", LOINC, "8867-4"), ("resp_rate", LOINC, "9279-1"), ("scl_mean", PROJECT, "skin-conductance")],
)
def test_values_equal_the_features(
    data: dict[str, Any], s05: Recording, s05_features: pd.DataFrame, column: str, system: str, code: str
) -> None:
    start = s05.meta.start_time
    assert start is not None
    feats = s05_features[np.isfinite(s05_features[column])]
    seen = 0
    for o in by_code(data, system, code):
        t0, t1 = clock(o["effectivePeriod"]["start"], start), clock(o["effectivePeriod"]["end"], start)
        # the 60-s period (end - 60, end] holding the last window
        period_end = math.ceil(t1 / 60.0 - 1e-9) * 60.0
        rows = feats[(feats["t_end"] > period_end - 60.0) & (feats["t_end"] <= period_end)]
        assert len(rows) == component(o, "window-count")["valueInteger"] > 0
        assert o["valueQuantity"]["value"] == pytest.approx(rows[column].mean(), abs=1e-6)
        assert t0 == pytest.approx(rows["t_start"].min()) and t1 == pytest.approx(rows["t_end"].max())
        quality = {"hr_mean": "q_cardiac", "resp_rate": "q_resp", "scl_mean": "q_eda"}[column]
        assert component(o, "signal-quality")["valueQuantity"]["value"] == pytest.approx(
            rows[quality].mean(), abs=1e-6
        )
        seen += len(rows)
    assert seen == len(feats)  # every measurable window is in exactly one observation


def test_estimates_summarized_honestly(data: dict[str, Any], s05: Recording, s05_estimates: list) -> None:
    start = s05.meta.start_time
    assert start is not None
    obs = by_code(data, PROJECT, "arousal-estimate")
    assert sum(component(o, "window-count")["valueInteger"] for o in obs) == len(s05_estimates)
    assert sum(component(o, "abstained-window-count")["valueInteger"] for o in obs) == sum(
        e.abstained for e in s05_estimates
    )
    n_absent = 0
    for o in obs:
        t1 = clock(o["effectivePeriod"]["end"], start)
        period_end = math.ceil(t1 / 60.0 - 1e-9) * 60.0
        group = [e for e in s05_estimates if period_end - 60.0 < e.t_end <= period_end]
        usable = [e for e in group if not e.abstained]
        if not usable:
            n_absent += 1
            assert "abstained" in o["dataAbsentReason"]["text"] and "valueQuantity" not in o
            continue
        for name, c in (
            ("probability", "arousal-probability"),
            ("lower", "arousal-probability-lower"),
            ("upper", "arousal-probability-upper"),
        ):
            want = float(np.mean([getattr(e, name) for e in usable]))
            assert component(o, c)["valueQuantity"]["value"] == pytest.approx(want, abs=1e-6)
    assert n_absent >= 1  # the stress model collects a personal baseline first and abstains meanwhile


def test_instruments_use_clinical_scores(data: dict[str, Any], s05: Recording) -> None:
    responses = {r["questionnaire"].rsplit(":", 1)[1]: r for r in resources(data, "QuestionnaireResponse")}
    assert set(responses) == {"gad7", "phq9", "ssq", "suds", "fms"}
    url_of = {id(e["resource"]): e["fullUrl"] for e in data["entry"]}
    for adm in make_instruments():
        qr = responses[adm.instrument]
        assert clock(qr["authored"], s05.meta.start_time or 0.0) == pytest.approx(adm.t)
        score = next(
            o
            for o in resources(data, "Observation")
            if o.get("derivedFrom") == [{"reference": url_of[id(qr)]}]
        )
        if adm.instrument in ("gad7", "phq9"):
            result = getattr(clinical, f"score_{adm.instrument}")(adm.answers)
            assert [i["answer"][0]["valueInteger"] for i in qr["item"]] == list(adm.answers)
            assert score["valueQuantity"]["value"] == result.total
            assert score["interpretation"][0]["text"] == result.severity
        elif adm.instrument == "ssq":
            ssq = clinical.score_ssq(adm.answers)
            assert score["valueQuantity"]["value"] == pytest.approx(ssq.total)
            assert component(score, "ssq-disorientation")["valueQuantity"]["value"] == pytest.approx(
                ssq.disorientation
            )
            assert [i["linkId"] for i in qr["item"]] == [n for n, _ in clinical.SSQ_ITEMS]
        else:
            assert score["valueQuantity"]["value"] == adm.answers
    phq9 = by_code(data, LOINC, "44261-6")[0]
    assert "phq9_item9" in phq9["note"][0]["text"]  # item 9 answered 1: the flag travels with the score


def test_adverse_events_mapped(data: dict[str, Any]) -> None:
    procedure_url = next(e["fullUrl"] for e in data["entry"] if e["resource"]["resourceType"] == "Procedure")
    ae = {a["identifier"]["value"]: a for a in resources(data, "AdverseEvent")}
    first, second = ae["ae00001"], ae["ae00002"]
    assert first["severity"]["coding"][0]["code"] == "moderate"
    assert first["seriousness"]["coding"][0]["code"] == "non-serious"
    assert first["outcome"]["coding"][0]["code"] == "resolved"
    assert first["suspectEntity"][0]["instance"]["reference"] == procedure_url
    assert first["suspectEntity"][0]["causality"][0]["assessment"]["coding"][0]["code"] == "Probably-Likely"
    assert "de escalate" in first["event"]["text"] and "not yet confirmed" in first["event"]["text"]
    assert second["seriousness"]["coding"][0]["code"] == "serious"
    assert second["outcome"]["coding"][0]["code"] == "recovering"
    assert "confirmed by clinician clin-3" in second["event"]["text"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not a JSON file"),
        ('{"resourceType": "Patient"}', "expected a FHIR Bundle"),
        (
            '{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Observation", '
            '"status": "final", "code": {"text": "x"}, "valueQuantity": {"value": "fast"}}}]}',
            "valueQuantity",
        ),
        ('{"resourceType": "Bundle", "type": "collection", "colour": "blue"}', "colour"),
    ],
)
def test_malformed_bundle_named_error(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=problem) as err:
        read_bundle(path)
    assert str(path) in str(err.value)
    with pytest.raises(DataFormatError, match="cannot read") as err:
        read_bundle(tmp_path / "missing.json")
    assert "missing.json" in str(err.value)


def test_atomic_write_leaves_nothing_on_failure(
    s05_features: pd.DataFrame, s05: Recording, tmp_path: Path
) -> None:
    bundle = session_bundle(s05_features.head(12), PSEUDONYM, start_time=s05.meta.start_time)
    blocked = tmp_path / "out.json"
    blocked.mkdir()  # the rename onto a directory fails after the data was written to the temporary file
    with pytest.raises(DataFormatError, match="out.json"):
        write_bundle(bundle, blocked)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"] and not any(blocked.iterdir())
    good = tmp_path / "good.json"
    write_bundle(bundle, good)
    before = good.read_text()
    with pytest.raises(ConfigurationError, match="Bundle"):
        write_bundle(object(), good)  # not a bundle: the existing file stays as it was
    assert good.read_text() == before and json.loads(before)["resourceType"] == "Bundle"
    with pytest.raises(DataFormatError, match="does not exist"):
        write_bundle(bundle, tmp_path / "no" / "such.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json", "out.json"]


def test_bad_inputs_are_refused(s05_features: pd.DataFrame, s05: Recording) -> None:
    rows = s05_features.head(12)
    with pytest.raises(ConfigurationError, match="pseudonym"):
        session_bundle(rows, "Jane Doe", start_time=s05.meta.start_time)
    with pytest.raises(ConfigurationError, match="start_time"):
        session_bundle(rows, PSEUDONYM)
    with pytest.raises(ConfigurationError, match="not to this patient"):
        session_bundle(rows, PSEUDONYM, start_time=s05.meta.start_time, adverse_events=make_registry("S06"))
    with pytest.raises(ConfigurationError, match="item 3"):
        session_bundle(
            rows,
            PSEUDONYM,
            start_time=s05.meta.start_time,
            instruments=[InstrumentAdministration("gad7", [0, 1, 7, 0, 0, 0, 0], 10.0)],
        )
    with pytest.raises(ConfigurationError, match="R4B"):
        session_bundle(rows, PSEUDONYM, start_time=s05.meta.start_time, version="DSTU2")
    with pytest.raises(ConfigurationError, match="several subjects"):
        mixed = pd.concat([rows, rows.assign(subject="S06")])
        session_bundle(mixed, PSEUDONYM, start_time=s05.meta.start_time)
