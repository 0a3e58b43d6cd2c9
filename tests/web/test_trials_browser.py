"""Trials in the Debian Chromium (Playwright): a coordinator creates a study from the template, registers it,
enrols and randomizes a participant; a blinded assessor enters an outcome without ever seeing the arm; the study
report shows the CONSORT flow diagram."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from attunexr.store import Clinic, User, hash_password
from attunexr.trials import default_protocol

from .conftest import LiveServer, sign_in, start_server, stop_server

pytestmark = pytest.mark.browser
PASSWORD = "trial-password-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("trials-browser"), None, speed=10.0)
    services = live.services
    with services.db.begin() as db:
        clinic = Clinic(name="Browser trial clinic")
        db.add(clinic)
        db.commit()
        pw = hash_password(PASSWORD)
        users = [User(username=n, role=r, clinic_id=clinic.id, password_hash=pw)
                 for n, r in (("coord", "coordinator"), ("assess", "assessor"), ("clin", "clinician"))]
        db.add_all(users)
        db.commit()
        services.create_patient(db, clinic.id, users[2].id, {"name": "Trial Person"})
    yield live
    stop_server(live)


def _login(page: Page, url: str, username: str) -> None:
    sign_in(page, url, username, PASSWORD)


def test_coordinator_and_blinded_assessor_run_a_trial(server: LiveServer, browser: Browser,
                                                      artifacts_dir: Path) -> None:
    errors: list[str] = []
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    _login(page, server.url, "coord")
    page.get_by_test_id("nav-trials").click()
    page.get_by_test_id("create-trial").click()
    expect(page).to_have_url(re.compile(r"/trials/\d+\?msg="))
    expect(page.get_by_test_id("trial-status")).to_have_text("draft")
    page.get_by_test_id("register").click()
    expect(page.get_by_test_id("trial-status")).to_have_text("registered")

    page.get_by_test_id("enrol").click()  # without study consent: refused, nothing enrolled
    expect(page.get_by_test_id("error")).to_contain_text("study consent is required")
    page.get_by_test_id("study-consent").check()
    page.get_by_test_id("enrol").click()
    expect(page.get_by_test_id("msg")).to_contain_text("Enrolled")
    page.get_by_test_id("randomize").click()
    expect(page.get_by_test_id("msg")).to_contain_text("Randomized")
    arm = page.get_by_test_id("arm").first.inner_text()
    assert arm in {a.id for a in default_protocol().arms}
    study_url = page.url.split("?")[0]
    ctx.close()

    # the blinded assessor enters the post-treatment outcome; no page shows the arm
    actx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ap = actx.new_page()
    _login(ap, server.url, "assess")
    ap.goto(study_url)
    expect(ap.get_by_test_id("participants")).to_be_visible()
    assert ap.get_by_test_id("arm").count() == 0
    ap.get_by_test_id("outcome-visit").select_option("post")
    ap.get_by_test_id("outcome-instrument").select_option("aq_anxiety")
    ap.get_by_test_id("outcome-day").fill("36")
    ap.get_by_test_id("outcome-score").fill("130")
    ap.get_by_test_id("outcome-save").click()
    expect(ap.get_by_test_id("error")).to_contain_text("outside the instrument's range")
    ap.get_by_test_id("outcome-visit").select_option("post")
    ap.get_by_test_id("outcome-instrument").select_option("aq_anxiety")
    ap.get_by_test_id("outcome-day").fill("36")
    ap.get_by_test_id("outcome-score").fill("52")
    ap.get_by_test_id("outcome-save").click()
    expect(ap.get_by_test_id("msg")).to_contain_text("Outcome recorded (post, day 36)")
    html = ap.content()
    for a in default_protocol().arms:
        assert a.id not in html and a.name not in html
    assert ap.goto(study_url + "/report").status == 403
    actx.close()

    # the coordinator opens the study report: the flow diagram is shown
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
            and not r.url.endswith("/favicon.ico") else None)
    _login(page, server.url, "coord")
    page.goto(study_url)
    page.get_by_test_id("report-link").click()
    flow = page.locator("#consort-flow")
    expect(flow).to_be_visible()
    page.wait_for_function("document.querySelector('#consort-flow').naturalWidth > 0")
    assert page.evaluate("document.querySelector('#consort-flow').naturalWidth") > 300
    expect(page.locator("body")).to_contain_text("CONSORT-AI checklist")
    page.screenshot(path=str(artifacts_dir / "trial-report.png"), full_page=True)
    assert not errors, errors
    ctx.close()
