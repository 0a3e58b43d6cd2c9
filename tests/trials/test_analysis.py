"""The primary mixed model: closed-form REML equals statsmodels; sensitivity analyses state their assumptions."""

from __future__ import annotations

import pytest

from attunexr.trials import (
    TrialData,
    VirtualPool,
    analyse_trial,
    default_protocol,
    fit_primary_model,
    simulate_trial,
)


def test_closed_form_engine_equals_statsmodels(small_trial: TrialData) -> None:
    a = fit_primary_model(small_trial)
    b = fit_primary_model(small_trial, engine="closed_form")
    assert "statsmodels MixedLM" in a.model
    for ca, cb in zip(a.contrasts, b.contrasts, strict=True):
        assert ca.effect == pytest.approx(cb.effect, abs=0.01)
        assert ca.se == pytest.approx(cb.se, rel=0.01)


def test_analyses_recover_a_large_simulated_difference(pool: VirtualPool) -> None:
    data = simulate_trial(default_protocol(), 60, seed=21, pool=pool)
    an = analyse_trial(data, imputations=5)
    truth = pool.true_effect("ai_adaptive", "standard_vr")
    assert truth < -3, "the simulator's AI-adaptive arm improves more (an assumption of the simulation)"
    p = an.primary.primary
    assert p is not None and p.ci[0] - 4 * p.se < truth < p.ci[1] + 4 * p.se
    assert an.per_protocol is not None and an.per_protocol.n_participants < an.primary.n_participants
    assert an.multiple_imputation is not None and an.multiple_imputation.primary is not None
    for res in (an.primary, an.per_protocol, an.multiple_imputation):
        assert any("random" in a for a in res.assumptions)
    assert {"ai_adaptive", "standard_vr", "usual_care"} == set(an.responders.by_arm)
    assert an.responders.assumptions
