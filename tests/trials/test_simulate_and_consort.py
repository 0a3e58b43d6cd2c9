"""A whole simulated trial: the CONSORT numbers add up, the report and checklists are complete."""

from __future__ import annotations

from pathlib import Path

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
