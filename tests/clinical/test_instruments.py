"""Instrument scoring against worked examples (Kennedy 1993 SSQ weights; Kroenke 2001; Spitzer 2006; Blevins 2015)."""

from __future__ import annotations

import math

import pytest

from attunexr.clinical import (
    SSQ_ITEMS,
    reliable_change,
    reliable_change_index,
    score_fms,
    score_gad7,
    score_pcl5,
    score_phq9,
    score_ssq,
    score_suds,
)
from attunexr.errors import ConfigurationError


def test_ssq_worked_example() -> None:
    answers = {
        "general_discomfort": 1, "fatigue": 2, "headache": 0, "eye_strain": 1, "difficulty_focusing": 1,
        "increased_salivation": 0, "sweating": 1, "nausea": 2, "difficulty_concentrating": 0,
        "fullness_of_head": 1, "blurred_vision": 0, "dizzy_eyes_open": 1, "dizzy_eyes_closed": 0, "vertigo": 0,
        "stomach_awareness": 1, "burping": 0,
    }
    s = score_ssq(answers)
    # N raw = 1+0+1+2+0+1+0 = 5; O raw = 1+2+0+1+1+0+0 = 5; D raw = 1+2+1+0+1+0+0 = 5
    assert s.nausea == pytest.approx(5 * 9.54)
    assert s.oculomotor == pytest.approx(5 * 7.58)
    assert s.disorientation == pytest.approx(5 * 13.92)
    assert s.total == pytest.approx(15 * 3.74)
    # the same answers as a list in questionnaire order
    assert score_ssq([answers[n] for n, _ in SSQ_ITEMS]).total == pytest.approx(s.total)


def test_ssq_published_maxima_and_zero() -> None:
    top = score_ssq([3] * 16)
    assert (top.nausea, top.oculomotor, top.disorientation) == pytest.approx((200.34, 159.18, 292.32))
    assert top.total == pytest.approx(235.62)
    assert score_ssq([0] * 16).total == 0.0


@pytest.mark.parametrize("bad", [[0] * 15, [0] * 15 + [4], [0] * 15 + [-1], [0] * 15 + [1.5]])
def test_ssq_rejects_bad_answers(bad: list[float]) -> None:
    with pytest.raises(ConfigurationError):
        score_ssq(bad)  # type: ignore[arg-type]


def test_ssq_mapping_names_missing_items() -> None:
    with pytest.raises(ConfigurationError, match="missing items"):
        score_ssq({"nausea": 1})


def test_suds_and_fms_ranges() -> None:
    assert score_suds(55) == 55.0
    assert score_fms(20) == 20.0
    for fn, bad in ((score_suds, 101), (score_suds, -1), (score_fms, 21), (score_suds, math.nan)):
        with pytest.raises(ConfigurationError):
            fn(bad)


def test_phq9_total_band_and_item9_flag() -> None:
    r = score_phq9([1, 1, 2, 1, 1, 1, 1, 1, 0])
    assert (r.total, r.severity, r.flags) == (9, "mild", ())
    r9 = score_phq9([0, 0, 0, 0, 0, 0, 0, 0, 1])
    assert r9.total == 1 and r9.severity == "minimal" and r9.flags == ("phq9_item9",)
    assert score_phq9([3] * 9).severity == "severe"
    assert score_phq9([2, 2, 2, 2, 2, 2, 2, 1, 0]).severity == "moderately severe"


def test_gad7_and_pcl5() -> None:
    assert score_gad7([2, 2, 2, 1, 1, 1, 1]).total == 10
    assert score_gad7([2, 2, 2, 1, 1, 1, 1]).severity == "moderate"
    assert score_gad7([3] * 7).severity == "severe"
    assert score_pcl5([2] * 16 + [1] * 4).total == 36
    assert score_pcl5([2] * 16 + [1] * 4).severity == "probable PTSD"
    with pytest.raises(ConfigurationError, match="item 20"):
        score_pcl5([0] * 19 + [5])


def test_reliable_change_jacobson_truax() -> None:
    # SE = 6.5 sqrt(0.11) = 2.1558; S_diff = sqrt(2) SE = 3.0487; RCI = 6 / 3.0487 = 1.968
    assert reliable_change_index(10, 16, 6.5, 0.89) == pytest.approx(6 / (math.sqrt(2) * 6.5 * math.sqrt(0.11)))
    assert reliable_change("phq9", 10, 16).worsened
    assert not reliable_change("phq9", 10, 15).worsened
    assert reliable_change("phq9", 16, 10).improved
    assert reliable_change("gad7", 8, 12).threshold_points == pytest.approx(3.92, abs=0.01)
    assert reliable_change("pcl5", 30, 41).worsened
    with pytest.raises(ConfigurationError):
        reliable_change("unknown", 1, 2)
