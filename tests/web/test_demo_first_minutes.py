"""``attunexr demo`` as a new user meets it: the real command, a real browser, the first 90 seconds."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from .conftest import sign_in

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def demo(tmp_path: Path, data_dir: Path) -> Iterator[tuple[str, str]]:
    port = _free_port()
    exe = Path(sys.executable).with_name("attunexr")
    proc = subprocess.Popen([str(exe), "demo", "--port", str(port), "--app-dir", str(tmp_path / "app")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "ATTUNEXR_DATA": str(data_dir)})
    url = f"http://127.0.0.1:{port}"
    password = ""
    assert proc.stdout is not None
    deadline = time.time() + 60
    while time.time() < deadline and not password:
        line = proc.stdout.readline()
        m = re.search(r"with password: (\S+)", line)
        if m:
            password = m.group(1)
    assert password, "attunexr demo did not print the clinician's password"
    while time.time() < deadline:
        try:
            if httpx.get(url + "/login", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield url, password
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_first_ai_proposal_within_90_seconds_of_start(demo: tuple[str, str], browser: Browser,
                                                      artifacts_dir: Path) -> None:
    url, password = demo
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, url, "clinician", password)
    page.get_by_test_id("session-start").first.click()
    started = time.monotonic()
    # the screen says time runs faster than real time, and what the AI is waiting for, in words
    expect(page.get_by_test_id("clock-factor")).to_contain_text("simulated time ×4", timeout=15000)
    expect(page.locator("#arousal-band")).to_contain_text(re.compile(r"resting baseline, \d:\d\d left"),
                                                          timeout=60000)
    header = page.locator("#engine-info").inner_text()
    assert "attunexr." not in header and "Monitor" not in header and "the AI proposes" in header
    approve = page.get_by_test_id("proposal-approve")
    expect(approve).to_be_visible(timeout=max(1000, int((90 - (time.monotonic() - started)) * 1000)))
    waited = time.monotonic() - started
    assert waited <= 90.0
    page.screenshot(path=str(artifacts_dir / "demo-first-proposal.png"), full_page=True)
    before = page.get_by_test_id("exposure-level").inner_text()
    target = re.search(r"→ (\d+)", page.locator(".proposal .ptitle").first.inner_text())
    assert target is not None and target.group(1) != before
    approve.click()
    expect(page.get_by_test_id("exposure-level")).to_have_text(target.group(1), timeout=10000)
    page.close()
