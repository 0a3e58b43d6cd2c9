"""A whole simulated trial: the CONSORT numbers add up, the report and checklists are complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import visible_html_text  # type: ignore[import-not-found]

from attunexr.trials import (
    TrialData,
    build_report,
    consort_flow,
    default_protocol,
    fit_primary_model,
    write_report,
)


def test_consort_numbers_add_up_per_arm(small_trial: TrialData) -> None:
    flow = consort_flow(small_trial)
    assert flow.check() == []
    assert flow.randomized == len(small_trial.participants) == 120
    assert sum(flow.allocated.values()) == flow.randomized
    lost_any = 0
    for arm, n in flow.allocated.items():
        ids = [p for p in small_trial.participants if p.arm == arm]
        assert n == len(ids)
        assert n == flow.analysed[arm] + sum(flow.excluded_from_analysis[arm].values())
        assert sum(flow.lost[arm].values()) == sum(1 for p in ids if p.lost)
        lost_any += sum(flow.lost[arm].values())
    assert lost_any > 0, "the simulated trial has loss to follow-up"
    assert flow.assessed == flow.randomized + sum(flow.excluded_before.values())
    # analysed = in the ITT model
    res = fit_primary_model(small_trial, engine="closed_form")
    assert res.n_participants == sum(flow.analysed.values())


def test_summary_json_has_the_documented_shape(small_trial: TrialData, tmp_path: Path) -> None:
    rep = build_report(small_trial, imputations=5)
    out = rep.to_json_dict()
    assert out["arms"] == [a.id for a in default_protocol().arms]
    c = out["consort"]
    assert {"enrolled", "allocated", "lost", "analysed"} <= set(c)
    assert c["enrolled"] == sum(c["allocated"].values())
    p = out["primary"]
    assert p["ci"][0] < p["effect"] < p["ci"][1] and "mixed model" in p["model"]
    for name in ("consort_ai", "spirit_ai", "rate_xr"):
        s = out["checklists"][name]
        assert s["items"] >= 15 and s["answered"] + s["not_applicable"] + len(s["missing"]) == s["items"]
    assert "assumptions, not evidence" in out["warning"]
    html_path = write_report(rep, tmp_path / "rep")
    text = html_path.read_text()
    assert "consort_flow.svg" in text and "assumptions, not evidence" in text
    svg = (tmp_path / "rep" / "consort_flow.svg").read_text()
    assert f"Randomized (n = {c['enrolled']})" in svg.replace("&#160;", " ") or "Randomized" in svg
    assert (tmp_path / "rep" / "consort_flow.pdf").stat().st_size > 1000
    assert (tmp_path / "rep" / "dataset" / "data_dictionary.csv").exists()


def test_checklist_items_say_what_is_missing(small_trial: TrialData) -> None:
    rep = build_report(small_trial, imputations=0)
    rate = rep.checklists["rate_xr"]
    statuses = {i.status for i in rate.items}
    assert statuses <= {"answered", "not applicable", "missing"}
    missing = [i for i in rate.items if i.status == "missing"]
    assert missing and all(i.answer for i in missing)
    assert any(i.id == "13a" and i.status == "answered" for i in rep.checklists["consort_ai"].items)


def test_trial_report_speaks_a_readers_words(small_trial: TrialData, tmp_path: Path, clinician_words: Any) -> None:
    """The trial report names instruments, visits, strata and the model's terms in words, and shows the assumed
    outcome model as a labelled table (no snake_case ids, no Python reprs); the exact formula stays in the JSON."""
    rep = build_report(small_trial, imputations=3)
    page = write_report(rep, tmp_path / "rep").read_text()
    text = visible_html_text(page)
    prot = small_trial.protocol
    for words in ("Acrophobia Questionnaire, anxiety (AQ)", "6-month follow-up", "by site and severity",
                  "arm, visit, their interaction, the baseline score, site and severity",
                  "chance of loss to follow-up per visit, by arm policy", "Analysis: intention to treat"):
        assert words in text, words
    clinician_words(text, allowed=(prot.id,))
    analysis = json.loads((tmp_path / "rep" / "analysis.json").read_text())
    assert analysis["primary"]["formula"].startswith("y ~ arm_c * visit_c + baseline")
