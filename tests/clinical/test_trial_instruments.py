"""Trial instruments: scoring, validity flags, missing-item rules, range checks, PHQ-A item 9 safety flag."""

from __future__ import annotations

import pytest

from attunexr.clinical import (
    INSTRUMENT_RANGES,
    check_instrument_total,
    score_aq,
    score_fsq,
    score_ipq,
    score_phqa,
    score_vrsq,
)
from attunexr.errors import ConfigurationError
from attunexr.safety import SafetyObservation, SuicidalityMonitor


def test_aq_total_subscales_prorating_and_uniform_flag() -> None:
    r = score_aq([3] * 20, avoidance=[1] * 20)
    assert r.total == 60 and r.subscales == {"anxiety": 60, "avoidance": 20} and "uniform_responses" in r.flags
    r = score_aq([6] * 18 + [None, None])
    assert r.total == 120 and r.prorated
    with pytest.raises(ConfigurationError, match="3 items missing"):
        score_aq([1] * 17 + [None] * 3)
    with pytest.raises(ConfigurationError, match="item 2 is 7"):
        score_aq([0, 7] + [0] * 18)


def test_fsq_ipq_vrsq() -> None:
    assert score_fsq(list(range(7)) * 2 + [6, 6, 6, 6]).total == 2 * 21 + 24
    ipq = score_ipq([6] * 14)  # SP2, INV3, REAL1 are reverse keyed
    assert ipq.subscales["general"] == 6 and ipq.subscales["spatial"] == pytest.approx(4.8)
    assert ipq.subscales["realism"] == pytest.approx(4.5) and ipq.subscales["involvement"] == pytest.approx(4.5)
    with pytest.raises(ConfigurationError, match="general"):
        score_ipq([None] + [3] * 13)
    v = score_vrsq([3] * 9)
    assert v.total == 100 and v.subscales == {"oculomotor": 100, "disorientation": 100}
    with pytest.raises(ConfigurationError):
        score_vrsq([1] * 8 + [None])


def test_phqa_item9_always_flags_and_alerts_even_with_low_total() -> None:
    r = score_phqa([0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert r.total == 1 and r.flags == ("phqa_item9",)
    alerts = SuicidalityMonitor().update(SafetyObservation(t=10.0, questionnaire=r))
    assert alerts and alerts[0].severity == "critical" and "PHQ-A item 9" in alerts[0].message
    with pytest.raises(ConfigurationError, match="item 9 is missing"):
        score_phqa([0] * 8 + [None])
    assert score_phqa([1, None, 1, 1, 1, 1, 1, 1, 0]).total == pytest.approx(7 * 9 / 8, abs=0.01) and not score_phqa([0] * 9).flags


def test_range_checks_name_instrument_and_range() -> None:
    assert set(INSTRUMENT_RANGES) >= {"aq_anxiety", "fsq", "ipq", "vrsq", "phqa", "phq9"}
    assert "eq5d" not in INSTRUMENT_RANGES  # EuroQol licence: not included
    assert check_instrument_total("aq_anxiety", 120) == 120
    with pytest.raises(ConfigurationError, match=r"aq_anxiety: score 121 is outside the instrument's range 0..120"):
        check_instrument_total("aq_anxiety", 121)
    with pytest.raises(ConfigurationError, match="unknown instrument"):
        check_instrument_total("eq5d", 0.5)
