"""attunexr.words: every reason code the program emits has a sentence; unknown codes and keys still read as words;
times and dates carry no microseconds; values never print as Python."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest

from attunexr.words import (
    LABELS,
    REASONS,
    date_text,
    describe,
    label,
    reason_sentence,
    sentence_case,
    session_time,
    timestamp_text,
    words_in,
)

#: Codes the controller, its bounds, the detector and the safety monitors write into the timeline.
EMITTED = ["arousal_below_window", "arousal_above_window", "max_level", "max_step", "min_dwell", "safety_block",
           "signal_quality_poor", "estimate_missing_or_stale", "model_abstained", "arousal_ceiling", "suds_ceiling",
           "collecting_baseline", "poor_signal_quality", "signal_gaps", "atypical_input", "overload", "cybersickness",
           "dissociation", "signal_loss", "symptom_worsening", "suicidality", "block_escalation", "de_escalate"]


@pytest.mark.parametrize("code", EMITTED)
def test_every_emitted_code_has_a_sentence(code: str) -> None:
    text = reason_sentence(code)
    assert code in REASONS and text.endswith(".") and text[0].isupper() and "_" not in text


def test_unknown_codes_and_keys_read_as_words() -> None:
    assert reason_sentence("arousal_far_above_ceiling") == "Arousal far above ceiling."
    assert reason_sentence("already a sentence from a component") == "already a sentence from a component"
    assert reason_sentence(None) == "" and label(None) == ""
    assert label("min_dwell_s") == "minimum time at a level" and label("settle_far_s") == "settle far (s)"
    assert label("n_levels") == "number of levels" and label("head_pose") == LABELS["head_pose"]
    assert words_in("chosen among ['a', 'b'] by ArousalDetector, inner {'x': 0.8, 'y': 0.7}, got None") == \
        "chosen among a, b by arousal detector, inner x 0.8, y 0.7, got n/a"
    assert words_in("scl_mean rose") == "scl mean rose"
    assert sentence_case("no AI proposals") == "No AI proposals"


def test_times_and_dates_without_microseconds() -> None:
    assert [session_time(t) for t in (0, 59.6, 61, 3725.4)] == ["0:00", "1:00", "1:01", "1:02:05"]
    assert session_time(-1.0) == "" and session_time(None) == "" and session_time(math.nan) == ""
    when = datetime(2026, 12, 6, 7, 14, 50, 615992, tzinfo=UTC)
    assert date_text(when) == "6 December 2026"
    assert timestamp_text(when) == "6 December 2026, 07:14:50 UTC"
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", timestamp_text(when) + describe(when))


def test_values_never_print_as_python() -> None:
    assert describe(None) == "n/a" and describe(math.nan) == "n/a" and describe(math.inf) == "no limit"
    assert describe(True) == "yes" and describe(0.123456) == "0.123" and describe(3) == "3"
    assert describe({"max_level": 3, "window": [0.35, 0.7]}) == "highest level allowed: 3; therapeutic window: " \
                                                                 "0.350, 0.700"
