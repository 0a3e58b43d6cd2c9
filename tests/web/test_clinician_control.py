"""The clinician's hand and the AI's proposals in a real browser: a level change during the AI's baseline is applied
with a warning; an approval that a bound refuses says so, with the bound, on the dashboard, in the timeline and in
the report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import LiveServer, sign_in

pytestmark = pytest.mark.browser


def _login(page: Page, url: str, username: str, password: str) -> None:
    sign_in(page, url, username, password)
    expect(page).to_have_url(url + "/")


def _clock_seconds(page: Page) -> int:
    m = re.search(r"(\d+):(\d\d)", page.locator("#clock").inner_text())
    return int(m.group(1)) * 60 + int(m.group(2)) if m else 0


def test_clinician_sets_a_level_during_the_ai_baseline(live_server: LiveServer, browser: Browser,
                                                       artifacts_dir: Path) -> None:
    demo = live_server.services.ensure_demo("control-password-1", scenario="spiders")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _login(page, live_server.url, "clinician", "control-password-1")
    page.locator(f"[data-testid=session-start][data-session='{demo.session_id}']").click()
    expect(page).to_have_url(re.compile(rf"/sessions/{demo.session_id}$"))
    # past the plan's minimum time at a level, while the model is still collecting its resting baseline
    page.wait_for_function("() => /([1-9]:\\d\\d|0:[5-9]\\d)/.test(document.querySelector('#clock').textContent)",
                           timeout=30000)
    expect(page.get_by_test_id("live-arousal")).to_have_text(re.compile("^(abstains|–)$"))
    page.locator(".setlevel[data-level='1']").click()
    expect(page.get_by_test_id("exposure-level")).to_have_text("1", timeout=5000)
    warning = page.get_by_test_id("level-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("the AI")
    assert page.get_by_test_id("live-arousal").inner_text() in ("abstains", "–")  # still no estimate: it was the clinician
    page.screenshot(path=str(artifacts_dir / "dashboard-clinician-level-during-baseline.png"), full_page=True)
    token = live_server.token("clinician", "control-password-1")
    with live_server.client(token) as c:
        events = c.get(f"/api/sessions/{demo.session_id}/events").json()
        level = [e for e in events if e["kind"] == "level" and e["payload"]["level"] == 1]
        assert level and level[0]["actor"] == "clinician" and "AI" in level[0]["payload"]["warning"]
        assert c.post(f"/api/sessions/{demo.session_id}/stop").status_code == 200
    page.context.close()


def test_an_approval_refused_by_a_lowered_bound_says_so(live_server: LiveServer, browser: Browser,
                                                        artifacts_dir: Path) -> None:
    demo = live_server.services.ensure_demo("control-password-1", scenario="heights")
    token = live_server.token("clinician", "control-password-1")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _login(page, live_server.url, "clinician", "control-password-1")
    with live_server.client(token) as c:
        plan = {"scenario": "heights", "controller": {"mode": "propose", "min_dwell_s": 30, "max_level": 6}}
        r = c.post(f"/api/patients/{demo.patient_id}/sessions", json=plan)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        page.goto(f"{live_server.url}/sessions/{sid}")
        approve = page.get_by_test_id("proposal-approve")
        expect(approve).to_be_visible(timeout=90000)
        level = int(page.get_by_test_id("exposure-level").inner_text())
        # the clinician lowers the highest allowed level to the current one before approving
        r = c.post(f"/api/sessions/{sid}/bounds", json={"max_level": level})
        assert r.status_code == 200 and r.json()["bounds"]["max_level"] == level
        approve.click()
        refusal = page.get_by_test_id("proposal-refusal")
        expect(refusal).to_be_visible(timeout=5000)
        expect(refusal).to_contain_text("refused")
        expect(refusal).to_contain_text("highest level allowed")
        expect(page.get_by_test_id("exposure-level")).to_have_text(str(level))
        page.screenshot(path=str(artifacts_dir / "dashboard-approval-refused.png"), full_page=True)
        events = c.get(f"/api/sessions/{sid}/events").json()
        decision = [e for e in events if e["kind"] == "decision" and e["payload"].get("decision") == "refused"]
        assert decision and decision[0]["payload"]["bound"] == "max_level"
        assert not [e for e in events if e["kind"] == "decision" and e["payload"].get("decision") == "approved"]
        assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
        report = c.get(f"/sessions/{sid}/report").text
        assert f"refused: above the highest level allowed for this session (highest level allowed: {level})" in report
        assert "approved" not in report.split("Proposals and who decided")[1].split("Level changes")[0]
    page.context.close()
