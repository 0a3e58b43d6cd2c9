"""The live dashboard's vocabulary (static/js/dashboard.js) says what :mod:`attunexr.words` says: every label and
sentence the dashboard carries is the shared one, and the codes the live feed sends all have one."""

from __future__ import annotations

import re
from pathlib import Path

import attunexr.web
from attunexr.words import LABELS, REASONS

JS = Path(attunexr.web.__file__).parent / "static" / "js" / "dashboard.js"


def _table(name: str) -> dict[str, str]:
    source = JS.read_text(encoding="utf-8")
    block = re.search(rf"const {name} = \{{(.*?)\n  \}};", source, flags=re.S)
    assert block is not None, f"{name} not found in dashboard.js"
    return dict(re.findall(r'(\w+): "((?:[^"\\]|\\.)*)"', block.group(1)))


def test_dashboard_labels_and_sentences_are_the_shared_ones() -> None:
    labels, reasons = _table("LABELS"), _table("REASONS")
    assert {"hr", "eda", "head_pose", "acc"} <= set(labels)
    assert {"collecting_baseline", "arousal_below_window", "overload", "block_escalation"} <= set(reasons)
    assert {k: v for k, v in labels.items() if LABELS.get(k) != v} == {}
    assert {k: v for k, v in reasons.items() if REASONS.get(k) != v} == {}


def test_dashboard_shows_no_raw_codes() -> None:
    source = JS.read_text(encoding="utf-8")
    # the proposal title no longer carries the reason code; abstentions and alerts go through the vocabulary
    assert "p.reason_code || \"\"" not in source
    assert "sentence(e.reason)" in source and "monitorName(a.monitor)" in source and "label(k)" in source
