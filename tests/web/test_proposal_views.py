"""The dashboard's proposals are views of the exposure controller's own decisions: the web layer keeps no proposal
state, and an approval reports what the controller decided (applied, or refused with the bound)."""

from __future__ import annotations

from attunexr.exposure import Decision
from attunexr.web._adapters import ControllerAdapter, EstimateView


def _adapter() -> tuple[ControllerAdapter, list[Decision]]:
    bounds = {"max_level": 5, "min_dwell_s": 0.0, "max_step": 1, "session_length_s": 1e9,
              "arousal_ceiling": 0.9, "suds_ceiling": 85.0}
    ad = ControllerAdapter(levels=7, scenario="spiders", mode="propose", policy="arousal", bounds=bounds,
                           start_level=0, proposal_ttl_s=30.0, policy_params={"low": 0.35, "high": 0.7})
    seen: list[Decision] = []
    ad.listener = seen.append
    return ad, seen


def _calm(t: float) -> EstimateView:
    return EstimateView(t_end=t, probability=0.1, lower=0.05, upper=0.15, abstained=False, reason="", model="m")


def _propose(ad: ControllerAdapter, t0: float) -> Decision:
    t = t0
    while ad.pending is None:
        assert t < t0 + 300, "the controller made no proposal for a calm patient"
        ad.control(t, ad.controller.level, 0.0, _calm(t), True, [])
        t += 10.0
    return ad.pending


def test_proposals_expire_and_are_refused_as_the_controller_decides() -> None:
    ad, seen = _adapter()
    prop = _propose(ad, 10.0)
    view = ad.view(prop)
    assert view.status == "pending" and view.to_level == 1 and "below the therapeutic window" in view.reason
    assert seen[-1] is prop and ad.find(prop.id) is prop
    # nobody decides: the controller withdraws it after its time, and the view says so
    ad.control(prop.t + 31.0, 0, 0.0, None, True, [])
    assert ad.pending is None and prop.status == "expired" and ad.view(prop).status == "expired"
    assert seen[-1] is prop  # the status change reached the listener (the runner renders it)
    # approved after the clinician lowered the highest level: refused, with the bound named
    prop = _propose(ad, prop.t + 40.0)
    ad.set_bounds({"max_level": 0}, "dr-a", prop.t + 1.0)
    ad.approve(prop.id, "dr-a", prop.t + 2.0)
    view = ad.view(prop, "dr-a")
    assert view.status == "refused" and view.bound == "max_level" and view.decided_by == "dr-a"
    assert view.message == "approval by dr-a refused: above the highest level allowed for this session"
    assert ad.controller.level == 0
    msg = view.to_message()
    assert msg["refused_by"] == "max_level" and msg["status"] == "refused"
    # within the bounds again: the next approval is applied by the controller
    ad.set_bounds({"max_level": 5}, "dr-a", prop.t + 3.0)
    prop = _propose(ad, prop.t + 10.0)
    ad.approve(prop.id, "dr-a", prop.t + 1.0)
    assert ad.view(prop, "dr-a").status == "approved" and ad.controller.level == 1
