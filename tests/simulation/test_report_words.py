"""The in-silico report speaks a reader's words: policies, figures and protocol settings have labels; no
snake_case keys, JSON dump, Python reprs or ``None``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import visible_html_text  # type: ignore[import-not-found]
from typer.testing import CliRunner

from attunexr.cli import app


def test_simulation_report_in_words(tmp_path: Path, clinician_words: Any) -> None:
    rep = tmp_path / "report"
    res = CliRunner().invoke(app, ["simulate", "--patients", "20", "--sessions", "2", "--policies",
                                   "fixed,suds,arousal", "--json", str(tmp_path / "sim.json"), "--report", str(rep),
                                   "--seed", "3"])
    assert res.exit_code == 0, res.output
    page = (rep / "report.html").read_text()
    text = visible_html_text(page)
    for words in ("time in the therapeutic window", "overload events per session",
                  "escalations during signal loss (must be 0)", "guided by estimated arousal (AI)", "fixed schedule",
                  "highest level allowed", "minimum time at a level", "Not clinical evidence"):
        assert words in text, words
    assert "<pre>" not in page  # the protocol is a table, not a JSON dump
    clinician_words(text)
