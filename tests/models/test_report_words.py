"""The evaluation report and the model card speak a reviewer's words: labels for keys, sentences for reason codes,
dates without microseconds; no module or class names, snake_case codes, Python dicts or ``None``.

Both are generated from a real leave-one-subject-out evaluation on Stress-Predict (the same small subset the
evaluation tests use) and from the model cards shipped in the registry."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.conftest import visible_html_text  # type: ignore[import-not-found]

from attunexr.models import REGISTRY_DIR, ArousalDetector, evaluate_loso, get_task, render_card_html, targets
from attunexr.models._card import build_card
from attunexr.models._report import render_report
from attunexr.words import reason_sentence


@pytest.fixture(scope="module")
def stress_run(stress_small: pd.DataFrame):  # type: ignore[no-untyped-def]
    return evaluate_loso("stress", table=stress_small, n_boot=50, other_normalizations=True)


def test_evaluation_report_in_words(stress_run, clinician_words: Any, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    page = render_report(stress_run.result, stress_run.predictions)
    text = visible_html_text(page)
    # the summary rows are labels, not keys; the protocol is named; abstentions are counted by reason in words
    assert "validation protocol" in text and "leave one person out" in text
    assert "share of windows without an estimate" in text
    assert "Expected calibration error" in text and "AUROC" in text
    assert re.search(r"computed \d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2}:\d{2}", text), "date of computation"
    by_reason = stress_run.result["abstention"]["by_reason"]
    assert by_reason, "the evaluation abstained on some windows"
    for code, count in by_reason.items():
        assert f"{reason_sentence(code).rstrip('.')}: {count}" in text
    (artifacts_dir / "models").mkdir(exist_ok=True)
    (artifacts_dir / "models" / "stress_report_words.html").write_text(page)
    clinician_words(text)


def test_model_card_in_words(stress_small: pd.DataFrame, stress_run, clinician_words: Any) -> None:  # type: ignore[no-untyped-def]
    task = get_task("stress")
    det = ArousalDetector(model="logistic").fit(stress_small, targets(stress_small["label"], task.positive,
                                                                      task.negative))
    card = build_card(det, task, name="stress-test", training={"dataset": "stress-predict"},
                      evaluation=stress_run.result)
    text = visible_html_text(render_card_html(card))
    assert "Model card: stress-test" in text and "Intended use" in text and "Known failure modes" in text
    assert "Out of scope uses" in text and "arousal detector" in text
    assert re.search(r"AUROC 0\.\d+ \(95 % CI 0\.\d+ to 0\.\d+\)", text) or "95 % CI" in text
    clinician_words(text)


@pytest.mark.parametrize("name", sorted(p.name for p in REGISTRY_DIR.iterdir() if (p / "card.json").is_file()))
def test_shipped_model_cards_in_words(name: str, clinician_words: Any) -> None:
    card = json.loads((REGISTRY_DIR / name / "card.json").read_text())
    text = visible_html_text(render_card_html(card))
    assert f"Model card: {card['model']['name']}" in text
    clinician_words(text)


def test_reactivity_report_in_words(tmp_path: Path, clinician_words: Any) -> None:
    from attunexr.models import analyse_reactivity, write_reactivity_report
    from attunexr.simulation import CueStudyTruth, simulate_cue_study

    recs, parts = simulate_cue_study(20, 8, n_sessions=2, truth=CueStudyTruth(), seed=11)
    res = analyse_reactivity(recs, ["trauma", "neutral"], participants=parts, group_by="group",
                             measures=("scr_amplitude", "hr_change_mean"))
    text = visible_html_text(write_reactivity_report(res, tmp_path / "rep").read_text())
    assert "Mixed model (formula): scr amplitude ~" in text
    clinician_words(text)
