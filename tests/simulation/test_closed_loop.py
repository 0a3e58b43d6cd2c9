"""A virtual patient in closed loop with the real parts: generated waveforms -> FeatureStream -> a real stress
detector -> safety monitors -> ExposureController -> level -> the patient's fear."""

from __future__ import annotations

from typing import Any

import numpy as np

from attunexr.exposure import ArousalAdaptive
from attunexr.simulation._closed_loop import run_closed_loop_session


def test_closed_loop_session_with_real_pipeline_and_model(stress_detector: Any) -> None:
    res = run_closed_loop_session(ArousalAdaptive(low=0.4, high=0.7), stress_detector, patient=3,
                                  baseline_s=180, session_s=600, loss=[(200, 60)], seed=0)
    # the live feature stream produced a row and an estimate for every 10-s hop once 60 s of data existed
    assert len(res.rows) >= (180 + 600 - 60) // 10 - 2
    assert len(res.estimates) == len(res.rows)
    reasons = {e.reason for e in res.estimates}
    assert stress_detector.normalize == "baseline"
    assert "collecting_baseline" in reasons  # the detector took the baseline rest as the person's reference
    assert reasons <= {"", "collecting_baseline", "uncertain", "atypical_input", "poor_signal_quality", "signal_gaps"}
    # windows whose last 40 s fell in the one-minute loss have too little signal to be usable
    lost = (res.rows["t_end"] >= 180 + 200 + 40) & (res.rows["t_end"] <= 180 + 260)
    assert lost.sum() >= 2
    assert not res.rows.loc[lost, "quality_ok"].astype(bool).any()
    assert any(a.monitor == "signal_loss" for a in res.alerts)
    # never an escalation during signal loss, and every escalation rested on a usable estimate
    assert res.escalations_during_signal_loss == 0
    for d in res.decisions:
        if d.kind == "step_up" and d.status == "applied":
            ev = d.evidence["estimate"]
            assert ev is not None and not ev["abstained"] and ev["quality_ok"]
            assert d.evidence["contributions"]
    assert res.level.max() <= 7 and res.decisions[-1].kind == "stop"
    # the patient's latent fear followed the exposure (it is above rest once exposed)
    assert res.fear[200:].mean() > res.fear[:170].mean()
    assert np.isfinite(res.rows["hr_mean"]).mean() > 0.8
