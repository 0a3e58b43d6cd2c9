"""The session report a clinician files: a typeset PDF and an HTML page from one data model, in a clinician's words.

A real virtual-patient session runs through the API (approval, clinician SUDS, a bound lowered so the next approval
is refused, pause, note, stop, SSQ before and after); the test reads the PDF's text with pypdf and the HTML page's
visible text and checks the header, the sections, who decided, the refusal naming its bound, and that no module or
class name, snake_case code, microsecond time, Python dict or ``None`` reaches the clinician."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from attunexr.store import TherapySession

from .conftest import LiveServer, wait_for

SECTIONS = ("Summary", "Charts", "Proposals and who decided", "Level changes", "SUDS", "Safety events",
            "Simulator Sickness Questionnaire", "Data quality", "Notes, pauses and resumptions", "Models")



@dataclass
class Finished:
    sid: int
    pseudonym: str
    date: str
    html: str
    pdf: bytes
    pages: list[str]


@pytest.fixture(scope="module")
def finished(live_server: LiveServer, artifacts_dir: Path) -> Finished:
    demo = live_server.services.ensure_demo("report-words-passphrase", scenario="spiders")
    token = live_server.token("clinician", "report-words-passphrase")
    with live_server.client(token) as c:
        r = c.post(f"/api/patients/{demo.patient_id}/sessions",
                   json={"scenario": "spiders", "source": "virtual", "speed": 60,
                         "controller": {"mode": "propose", "min_dwell_s": 30, "max_level": 6}})
        assert r.status_code == 201, r.text
        sid = int(r.json()["id"])
        assert c.post(f"/api/sessions/{sid}/ssq", json={"when": "pre", "items": [0] * 15 + [1]}).status_code == 201
        assert c.post(f"/api/sessions/{sid}/start").status_code == 200
        first = wait_for(lambda: (s := c.get(f"/api/sessions/{sid}/live").json())["proposals"] and s["proposals"][0])
        assert c.post(f"/api/sessions/{sid}/proposals/{first['id']}/approve").json()["status"] == "approved"
        assert c.post(f"/api/sessions/{sid}/suds", json={"value": 40}).status_code == 201
        second = wait_for(lambda: [p for p in c.get(f"/api/sessions/{sid}/live").json()["proposals"]
                                if p["id"] != first["id"] and p["to_level"] > p["from_level"]], timeout=150)[0]
        r = c.post(f"/api/sessions/{sid}/bounds", json={"max_level": second["from_level"]})
        assert r.status_code == 200, r.text
        refused = c.post(f"/api/sessions/{sid}/proposals/{second['id']}/approve").json()
        assert refused["status"] == "refused" and refused["bound"] == "max_level"
        assert c.post(f"/api/sessions/{sid}/pause").status_code == 200
        assert c.post(f"/api/sessions/{sid}/notes", json={"text": "patient asked for a break"}).status_code == 201
        assert c.post(f"/api/sessions/{sid}/stop").status_code == 200
        assert c.post(f"/api/sessions/{sid}/ssq", json={"when": "post", "items": [1] * 16}).status_code == 201
        wait_for(lambda: c.get(f"/api/sessions/{sid}").json()["status"] == "stopped", timeout=30)
        html = c.get(f"/sessions/{sid}/report")
        pdf = c.get(f"/sessions/{sid}/report.pdf")
    assert html.status_code == 200 and pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    with live_server.services.db.begin() as db:
        ts = db.get(TherapySession, sid)
        assert ts is not None and ts.started_at is not None
        pseudonym, started = ts.patient.pseudonym, ts.started_at
    (artifacts_dir / "session-report.pdf").write_bytes(pdf.content)
    (artifacts_dir / "session-report.html").write_text(html.text)
    pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf.content)).pages]
    return Finished(sid, pseudonym, f"{started.day} {started.strftime('%B %Y')}", html.text, pdf.content, pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_pdf_is_a_typeset_report(finished: Finished, clinician_words: Any) -> None:
    pages = [_flat(p) for p in finished.pages]
    text = " ".join(pages)
    assert len(pages) >= 3
    # page 1: the header a clinician files it by, and the summary
    first = pages[0]
    assert f"Exposure session report: {finished.pseudonym}, {finished.date}" in first
    assert "Patient (pseudonym)" in first and "Clinician clinician" in first and f"Date {finished.date}" in first
    assert "Summary" in first and "AI proposals 2: 1 approved, 0 rejected, 1 refused by a bound" in first
    assert "SSQ total" in first and "3.7 (before) → 78.5 (after)" in first
    # page 2: the charts, drawn as an image (their labels are not text of the page)
    assert "Charts" in pages[1] and b"/Subtype /Image" in finished.pdf
    for heading in SECTIONS:
        assert heading in text, heading
    # a decision row with who decided, and the refusal naming the bound that refused it
    assert re.search(r"0:\d\d|\d+:\d\d 0 → 1 Estimated arousal is below the therapeutic window, so a step up may "
                     r"help\. approved clinician", text), text
    assert "refused: above the highest level allowed for this session (highest level allowed: 1)" in text
    assert "patient asked for a break" in text and "paused" in text
    assert "stopped by clinician" in text
    assert "Before 9.5 0.0 0.0 3.7" in text and "After 66.8 53.1 97.4 78.5" in text
    assert "skin conductance (EDA)" in text and "seconds rated good" in text
    assert "stress" in text and "trained" in text  # the model and its version, as a date
    assert f"page {len(pages)}" in pages[-1] and f"{finished.pseudonym} · {finished.date}" in pages[-1]
    clinician_words(text)


def test_html_report_says_the_same(finished: Finished, clinician_words: Any) -> None:
    from tests.conftest import visible_html_text  # type: ignore[import-not-found]

    text = visible_html_text(finished.html)
    assert f"Exposure session report: {finished.pseudonym}, {finished.date}" in text
    assert "Clinician clinician" in text
    for heading in SECTIONS:
        assert heading in text, heading
    assert "refused: above the highest level allowed for this session (highest level allowed: 1)" in text
    proposals = text.split("Proposals and who decided")[1].split("Level changes")[0]
    assert "approved clinician" in proposals
    assert 'href="/models/stress"' in finished.html
    assert "data:image/png;base64," in finished.html
    clinician_words(text)
    # the PDF and the HTML page are one data model: every word of every table cell of the page is in the PDF
    pdf_words = set(re.findall(r"[\w·→%+.:-]+", " ".join(finished.pages).lower()))
    cells = [visible_html_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", finished.html, flags=re.S)]
    missing = {w for c in cells for w in re.findall(r"[\w·→%+.:-]+", c.lower())} - pdf_words
    assert not missing, missing


def test_a_session_that_never_started_still_reads_well(monkeypatch: pytest.MonkeyPatch, clinician_words: Any) -> None:
    """No events at all, and no DejaVu font (Helvetica fallback): the PDF still has its header and says 'none'."""
    import attunexr.web._report as report

    monkeypatch.setattr(report, "_DEJAVU", Path("/nonexistent-fonts"))
    data = report.ReportData(session_id=7, pseudonym="P-EMPTY", clinician="dr-lee", scenario="public_speaking",
                             status="planned", started_at=None, ended_at=None)
    pdf = report.render_report_pdf(data)
    text = _flat(" ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages))
    assert "Exposure session report: P-EMPTY, not started" in text and "Clinician dr-lee" in text
    assert "Scenario public speaking" in text and "No AI proposals." in text and "Before not recorded" in text
    clinician_words(text)


def test_model_card_page_in_words(live_server: LiveServer, finished: Finished, clinician_words: Any) -> None:
    """The card linked from the report is rendered in the app's layout from card.json: no JSON dump."""
    from tests.conftest import visible_html_text  # type: ignore[import-not-found]

    token = live_server.token("clinician", "report-words-passphrase")
    with live_server.client(token) as c:
        page = c.get("/models/stress")
    assert page.status_code == 200
    card = re.search(r'<section class="card model-card" data-testid="model-card">(.*?)</section>', page.text, re.S)
    assert card is not None and "<pre" not in card.group(1)
    text = visible_html_text(card.group(1))
    assert "Model card: stress" in text and "Intended use" in text and "95 % CI" in text
    clinician_words(text)
