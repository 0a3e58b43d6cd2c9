"""End-to-end in the Debian Chromium (Playwright): log in, start the demo session, watch live values, approve a
proposal and see the level change in the VR client, raise a safety alert, pause, stop, open the report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from .conftest import LiveServer, sign_in

pytestmark = pytest.mark.browser


def test_clinician_runs_a_live_session(live_server: LiveServer, browser: Browser, artifacts_dir: Path,
                                      clinician_words: Any) -> None:
    demo = live_server.services.ensure_demo("demo-password-1", scenario="heights")
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    sign_in(page, live_server.url, "clinician", "demo-password-1")
    expect(page).to_have_url(live_server.url + "/")
    page.locator(f"[data-testid=session-start][data-session='{demo.session_id}']").click()
    expect(page).to_have_url(re.compile(rf"/sessions/{demo.session_id}$"))

    # live values arrive and change
    hr = page.get_by_test_id("live-hr")
    expect(hr).to_have_text(re.compile(r"^\d+$"), timeout=15000)
    first = hr.inner_text()
    expect(hr).not_to_have_text(first, timeout=15000)
    expect(page.get_by_test_id("live-eda")).to_have_text(re.compile(r"^\d+\.\d\d$"))
    expect(page.get_by_test_id("live-arousal")).to_have_text(re.compile(r"^(0\.\d\d|1\.00|abstains)$"), timeout=20000)
    expect(page.get_by_test_id("exposure-level")).to_have_text("0")

    # the VR client joins through the dashboard's link and shows level 0
    vr_href = page.locator("#vr-link").get_attribute("href")
    assert vr_href and "token=" in vr_href
    vr = ctx.new_page()
    vr.set_viewport_size({"width": 1280, "height": 800})
    vr.goto(live_server.url + vr_href)
    expect(vr.get_by_test_id("vr-level")).to_have_text("0", timeout=15000)

    # the AI proposes, the clinician approves, the level changes on the dashboard and in the VR scene
    approve = page.get_by_test_id("proposal-approve")
    expect(approve).to_be_visible(timeout=60000)
    page.wait_for_timeout(1500)  # let the charts fill before the screenshot
    page.screenshot(path=str(artifacts_dir / "dashboard-proposal.png"), full_page=True)
    target = page.locator(".proposal .ptitle").first.inner_text()
    # the dashboard speaks a clinician's words: no codes, keys, class names or microsecond times
    clinician_words(page.locator("#dash").inner_text())
    to_level = re.search(r"→ (\d+)", target)
    assert to_level is not None
    approve.click()
    expect(page.get_by_test_id("exposure-level")).to_have_text(to_level.group(1), timeout=10000)
    expect(vr.get_by_test_id("vr-level")).to_have_text(to_level.group(1), timeout=10000)
    if vr.get_by_test_id("vr-suds-submit").is_visible():  # a scheduled SUDS prompt: the patient answers it
        vr.get_by_test_id("vr-suds-submit").click()
    vr.wait_for_timeout(1200)
    vr.screenshot(path=str(artifacts_dir / "vr-after-approval.png"))
    assert vr.evaluate("window.attunexrVR.level") == int(to_level.group(1))

    # a SUDS answer from the VR client above the ceiling raises a safety alert
    page.locator("#suds-prompt").click()
    vr.get_by_test_id("vr-suds-slider").fill("95")
    vr.get_by_test_id("vr-suds-submit").click()
    expect(page.get_by_test_id("safety-alert").filter(has_text="SUDS 95")).to_be_visible(timeout=10000)
    page.screenshot(path=str(artifacts_dir / "dashboard-alert.png"), full_page=True)

    # pause and stop always work
    page.get_by_test_id("session-pause").click()
    expect(page.locator("#state")).to_have_text("paused", timeout=10000)
    expect(vr.locator("#vr-state")).to_have_text(re.compile("paused"), timeout=10000)
    page.on("dialog", lambda d: d.accept())
    page.get_by_test_id("session-stop").click()
    expect(page.locator("#state")).to_have_text("stopped", timeout=10000)
    expect(vr.locator("#vr-state")).to_have_text("session ended", timeout=10000)

    # the report names who decided what
    page.get_by_test_id("report-link").click()
    expect(page.get_by_test_id("report-title")).to_contain_text("Exposure session report")
    expect(page.get_by_test_id("report-header")).to_contain_text(f"number {demo.session_id}")
    decisions = page.get_by_test_id("report-proposals")
    expect(decisions).to_contain_text("approved")
    expect(decisions).to_contain_text("clinician")
    expect(page.locator("body")).to_contain_text("SUDS 95")
    page.screenshot(path=str(artifacts_dir / "report.png"), full_page=True)
    clinician_words(page.locator("body").inner_text())
    pdf = page.request.get(f"{live_server.url}/sessions/{demo.session_id}/report.pdf")
    assert pdf.ok and pdf.body()[:5] == b"%PDF-"
    (artifacts_dir / "report.pdf").write_bytes(pdf.body())
    ctx.close()


@pytest.mark.parametrize("scenario,level", [("heights", 5), ("spiders", 5), ("public_speaking", 5)])
def test_vr_scenarios_render(live_server: LiveServer, browser: Browser, artifacts_dir: Path, scenario: str,
                             level: int) -> None:
    demo = live_server.services.ensure_demo("demo-password-1", scenario=scenario)
    token = live_server.token("clinician", "demo-password-1")
    with live_server.client(token) as c:
        plan = {"scenario": scenario, "start_level": level, "controller": {"mode": "manual", "max_level": 7}}
        r = c.post(f"/api/patients/{demo.patient_id}/sessions", json=plan)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        # a clinician's escalation obeys the same bounds as the AI: no jump past max_step
        r = c.post(f"/api/sessions/{sid}/level", json={"level": level + 2})
        assert r.status_code == 409 and "blocked" in r.json()["detail"]
        assert c.get(f"/api/sessions/{sid}/live").json()["level"] == level
        from attunexr.store import TherapySession

        with live_server.services.db.begin() as db:
            vr_token = db.get(TherapySession, sid).vr_token
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{live_server.url}/vr/{sid}?token={vr_token}")
        expect(page.get_by_test_id("vr-level")).to_have_text(str(level), timeout=15000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(artifacts_dir / f"vr-{scenario}.png"))
        # the scene draws something (not a blank canvas): many distinct colours in the WebGL canvas
        colours = page.evaluate("""() => { const c = document.querySelector('canvas');
            const g = c.getContext('webgl2') || c.getContext('webgl'); const px = new Uint8Array(4 * c.width * c.height);
            g.readPixels(0, 0, c.width, c.height, g.RGBA, g.UNSIGNED_BYTE, px);
            const s = new Set(); for (let i = 0; i < px.length; i += 4 * 7) s.add((px[i] >> 3) + ',' + (px[i+1] >> 3) + ',' + (px[i+2] >> 3));
            return s.size; }""")
        assert colours > 20
        # head pose arrives at the server
        page.wait_for_timeout(500)
        snap = c.get(f"/api/sessions/{sid}/live").json()
        assert snap["head_pose"] is not None and len(snap["head_pose"]["orientation"]) == 4
        c.post(f"/api/sessions/{sid}/stop")
        page.close()
