"""Adverse-event registry and per-study safety summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from attunexr.errors import ConfigurationError, DataFormatError
from attunexr.safety import AdverseEventRegistry, Alert, SafetyAction


def test_registry_summary_rates_and_confirmation(tmp_path: Path) -> None:
    reg = AdverseEventRegistry()
    reg.add_session_time("trial-a", 10 * 3600)  # 10 session-hours
    reg.add_session_time("trial-b", 3600)
    e1 = reg.report(study="trial-a", subject="p01", session="s1", t=300.0, type="cybersickness", severity="mild",
                    relatedness="probable", action_taken="pause", outcome="resolved")
    reg.report_alert(Alert("overload", 500.0, SafetyAction.DE_ESCALATE, "warning", "SUDS 90"), "trial-a", "p02",
                     "s3", type="emotional_overload", severity="moderate")
    reg.report(study="trial-b", subject="p09", session="s1", t=10.0, type="suicidality", severity="severe",
               serious=True, relatedness="unlikely", action_taken="end")
    s = reg.summary("trial-a")
    assert s["events"] == 2 and s["events_per_100_session_hours"] == pytest.approx(20.0)
    assert s["by_type"] == {"cybersickness": 1, "emotional_overload": 1} and s["serious"] == 0
    assert reg.summary("trial-a", confirmed_only=True)["events"] == 0
    reg.confirm(e1.id, "clinician:dr_a", outcome="resolved")
    assert reg.summary("trial-a", confirmed_only=True)["events"] == 1
    assert reg.summary("trial-b")["serious"] == 1
    path = tmp_path / "ae.json"
    reg.save(path)
    back = AdverseEventRegistry.load(path)
    assert back.summary("trial-a") == reg.summary("trial-a")


def test_registry_rejects_bad_fields(tmp_path: Path) -> None:
    reg = AdverseEventRegistry()
    with pytest.raises(ConfigurationError, match="severity"):
        reg.report(study="x", subject="p", session="s", t=0.0, type="cybersickness", severity="awful")
    with pytest.raises(ConfigurationError, match="type"):
        reg.report(study="x", subject="p", session="s", t=0.0, type="boredom", severity="mild")
    assert reg.events == []
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(DataFormatError, match="bad.json"):
        AdverseEventRegistry.load(bad)
