"""Planning by simulation: a whole trial on virtual patients, through the same randomization, visits, dropout and
analysis code as a real study.

SIMULATED EFFECTS ARE ASSUMPTIONS, NOT EVIDENCE. The simulator (:mod:`attunexr.simulation`) supplies what happens in
the VR arms: each virtual patient's fear threshold before and after the planned sessions under the arm's exposure
policy, the sessions attended, overloads, cybersickness and treatment dropout. Usual care is a stated
natural-course assumption. Everything that turns that into questionnaire scores is an assumption of
:class:`OutcomeModel`, listed in its docstring and in every report.

Potential outcomes: the simulator runs every VR policy on the same virtual patients with the same random draws, so
each virtual patient has a potential outcome under every arm (a :class:`VirtualPool`). Randomization then reveals
one of them. The true effect of a contrast is therefore known exactly for the pool, which is what lets the
benchmark check the coverage of the analysis' confidence intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from attunexr.errors import ConfigurationError
from attunexr.trials._data import (
    AdverseEventRecord,
    ParticipantRecord,
    ScreeningRecord,
    TrialData,
    VisitRecord,
)
from attunexr.trials._protocol import Protocol
from attunexr.trials._randomization import (
    AllocationConcealer,
    generate_sealed_sequence,
    seed_fingerprint,
    stratum_key,
)

__all__ = ["OutcomeModel", "PowerResult", "VirtualPool", "build_pool", "simulate_power", "simulate_trial"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class OutcomeModel:
    """ASSUMPTIONS that turn virtual patients into questionnaire scores and follow-up behaviour.

    - Severity: true AQ-anxiety ``mu = intercept - slope * threshold + N(0, person_sd)`` (a lower fear threshold
      in the simulator means a more fearful person).
    - Scores: ``y = mu + site + (-points_per_threshold) * (improvement + natural) * g(day) + N(0, noise_sd)``,
      rounded and clipped to the instrument's 0-120 range; ``improvement`` is the simulator's rise of the fear
      threshold over the sessions attended (0 in usual care), ``natural`` the natural course (all arms),
      ``g`` rises linearly to 1 at the end of treatment (the earliest in-window day of the primary visit) and
      then decays by ``decay_per_day`` (partial relapse).
    - Loss to follow-up is missing at random: at each follow-up visit the chance of being lost is
      ``loss_per_visit[arm] * exp(loss_slope * (last observed score - 70))`` (depends on arm, observed data).
    - A share ``nonstart`` never starts the allocated VR treatment (its improvement is 0).
    - Visits happen at the scheduled day plus N(0, window / 2) days; outside the window is a deviation.
    - Cost: staff minutes per VR session, equipment cost per site spread over its VR participants.
    """

    intercept: float = 100.0
    slope: float = 80.0
    person_sd: float = 14.0
    site_sd: float = 4.0
    points_per_threshold: float = 80.0
    natural_mean: float = 0.03
    natural_sd: float = 0.05
    decay_per_day: float = 0.0005
    noise_sd: float = 7.0
    screening_sd: float = 6.0
    loss_per_visit: tuple[tuple[str, float], ...] = (("none", 0.08), ("arousal", 0.05), ("fixed", 0.05),
                                                     ("suds", 0.05))
    loss_slope: float = 0.02
    nonstart: float = 0.03
    declined: float = 0.05
    excluded_other: float = 0.03
    staff_minutes_per_session: float = 35.0
    staff_cost_per_minute: float = 1.0
    equipment_per_site: float = 2500.0
    aq_reliability: float = 0.82
    aq_sd: float = 17.0

    def assumptions(self) -> list[str]:
        d = asdict(self)
        return [f"{k} = {v}" for k, v in d.items()]


#: What each :class:`OutcomeModel` assumption means, as the trial report's table shows it.
OUTCOME_MODEL_LABELS: dict[str, str] = {
    "intercept": "AQ-anxiety of a person with fear threshold 0 (intercept)",
    "slope": "AQ-anxiety points per unit of fear threshold (slope)",
    "person_sd": "spread of true severity between people (SD, points)",
    "site_sd": "spread between sites (SD, points)",
    "points_per_threshold": "AQ-anxiety points per unit of fear-threshold improvement",
    "natural_mean": "natural improvement without treatment (mean, threshold units)",
    "natural_sd": "natural improvement without treatment (SD)",
    "decay_per_day": "relapse after treatment ends (share per day)",
    "noise_sd": "measurement noise of a questionnaire score (SD, points)",
    "screening_sd": "measurement noise at screening (SD, points)",
    "loss_per_visit": "chance of loss to follow-up per visit, by arm policy",
    "loss_slope": "rise of that chance per point of the last score above 70 (log scale)",
    "nonstart": "share who never start the allocated VR treatment",
    "declined": "share of eligible people who decline",
    "excluded_other": "share excluded for other reasons",
    "staff_minutes_per_session": "staff minutes per VR session",
    "staff_cost_per_minute": "staff cost per minute",
    "equipment_per_site": "equipment cost per site",
    "aq_reliability": "AQ-anxiety test-retest reliability (for reliable change)",
    "aq_sd": "AQ-anxiety standard deviation in the norms (for reliable change)",
}


@dataclass
class VirtualPool:
    """Virtual patients with their potential outcomes under every arm of a protocol (see module docstring)."""

    mu: FloatArray
    threshold_start: FloatArray
    natural: FloatArray
    nonstart: NDArray[np.bool_]
    improvement: dict[str, FloatArray]
    sessions: dict[str, FloatArray]
    dropped: dict[str, FloatArray]
    overloads: dict[str, FloatArray]
    sickness_ended: dict[str, FloatArray]
    seconds_at_level: dict[str, FloatArray]
    model: OutcomeModel

    @property
    def n(self) -> int:
        return int(self.mu.shape[0])

    def true_effect(self, experimental: str, comparator: str) -> float:
        """Mean difference at post-treatment in the eligible population (ASSUMED by the simulation, not evidence).

        Eligibility (screening AQ >= 45, measured with noise) weights each virtual patient by its probability of
        being eligible; declining and other exclusions are independent of outcomes.
        """
        w = norm.cdf((self.mu - 44.5) / self.model.screening_sd)
        diff = -self.model.points_per_threshold * (self.improvement[experimental] - self.improvement[comparator])
        return float(np.sum(w * diff) / np.sum(w))


def build_pool(protocol: Protocol, n: int, seed: int = 0, model: OutcomeModel | None = None) -> VirtualPool:
    """Run the simulator once for ``n`` virtual patients under every VR arm's policy (paired, common draws)."""
    from attunexr.simulation import draw_population, run_study

    m = model or OutcomeModel()
    if n < 1:
        raise ConfigurationError(f"need at least one virtual patient, got {n}")
    pop = draw_population(n, seed)
    rng = np.random.default_rng([seed, 7])
    out = VirtualPool(
        mu=m.intercept - m.slope * pop.threshold + rng.normal(0.0, m.person_sd, n),
        threshold_start=pop.threshold.copy(), natural=rng.normal(m.natural_mean, m.natural_sd, n),
        nonstart=rng.random(n) < m.nonstart, improvement={}, sessions={}, dropped={}, overloads={},
        sickness_ended={}, seconds_at_level={}, model=m)
    by_sessions: dict[int, dict[str, str]] = {}
    for a in protocol.arms:
        if a.policy == "none" or a.planned_sessions == 0:
            continue
        by_sessions.setdefault(a.planned_sessions, {})[a.id] = a.policy
    for n_sess, arms in by_sessions.items():
        policies = sorted(set(arms.values()))
        res = run_study(n, n_sess, policies, seed=seed, population=pop, n_traces=0)
        for arm_id, pol in arms.items():
            pp = res.per_patient[pol]
            imp = np.asarray(pp["threshold_end"]) - np.asarray(pp["threshold_start"])
            out.improvement[arm_id] = np.where(out.nonstart, 0.0, imp)
            out.sessions[arm_id] = np.where(out.nonstart, 0.0, np.asarray(pp["sessions"]))
            out.dropped[arm_id] = np.asarray(pp["dropped"])
            out.overloads[arm_id] = np.where(out.nonstart, 0.0, np.asarray(pp["overloads"]))
            out.sickness_ended[arm_id] = np.where(out.nonstart, 0.0, np.asarray(pp["ended_by_sickness"]))
            out.seconds_at_level[arm_id] = np.where(out.nonstart[:, None], 0.0, np.asarray(pp["seconds_at_level"]))
    for a in protocol.arms:
        if a.id not in out.improvement:
            out.improvement[a.id] = np.zeros(n)
    return out


def _clip_score(x: float) -> float:
    return float(min(120.0, max(0.0, round(x))))


def simulate_trial(protocol: Protocol, per_arm: int, seed: int = 0, pool: VirtualPool | None = None,
                   model: OutcomeModel | None = None, key: bytes | None = None) -> TrialData:
    """Simulate screening, enrolment, concealed randomization, visits, dropout, harms, dose and cost.

    Parameters
    ----------
    protocol
        The protocol (sites, arms, strata, visits, primary outcome).
    per_arm
        Randomize ``per_arm x number of arms`` participants (allocation by the protocol's blocks, so arm sizes are
        close to, not exactly, ``per_arm``).
    seed
        Seeds the allocation sequence and every simulated draw.
    pool
        Virtual patients to sample from (with replacement); default: a fresh pool just large enough.
    """
    if per_arm < 2:
        raise ConfigurationError(f"per_arm must be at least 2, got {per_arm}")
    n_target = per_arm * len(protocol.arms)
    m = pool.model if pool is not None else (model or OutcomeModel())
    sample_with_replacement = pool is not None
    if pool is None:
        pool = build_pool(protocol, int(math.ceil(n_target * 1.3)) + 10, seed, m)
    rng = np.random.default_rng([seed, 11])
    key = key or rng.bytes(32)
    slots = generate_sealed_sequence(protocol, seed, key, slots_per_stratum=n_target)
    concealer = AllocationConcealer(protocol, slots, key)
    primary = protocol.primary
    instrument = primary.instrument
    post_visit = protocol.visit(primary.visit)
    # treatment is complete by the earliest in-window day of the primary visit (g = 1 from then on)
    post_day = max(post_visit.day - post_visit.window_days, 1)
    site_ids = [s.id for s in protocol.sites]
    site_off = dict(zip(site_ids, rng.normal(0.0, m.site_sd, len(site_ids)), strict=True))
    loss_base = dict(m.loss_per_visit)
    base_visit = protocol.baseline_visit()
    later = sorted((v for v in protocol.visits if v.day > base_visit.day), key=lambda v: v.day)
    sev = next((f for f in protocol.stratification if f.id == "severity"), None)
    vr_count = {s: 0 for s in site_ids}

    participants: list[ParticipantRecord] = []
    screened: list[ScreeningRecord] = []
    picks: list[int] = []
    order = iter(rng.integers(0, pool.n, 10 * n_target + 100) if sample_with_replacement else range(pool.n))
    cand = 0
    while len(participants) < n_target:
        try:
            i = int(next(order))
        except StopIteration as err:
            raise ConfigurationError("the virtual pool ran out of eligible candidates; use a larger pool") from err
        cand += 1
        site = site_ids[int(rng.integers(0, len(site_ids)))]
        cid = f"C{cand:05d}"
        screen = round(pool.mu[i] + rng.normal(0.0, m.screening_sd))
        u = rng.random()
        if screen < 45:
            screened.append(ScreeningRecord(cid, site, "not meeting inclusion criteria (AQ-anxiety < 45)"))
            continue
        if u < m.declined:
            screened.append(ScreeningRecord(cid, site, "declined to participate"))
            continue
        if u < m.declined + m.excluded_other:
            screened.append(ScreeningRecord(cid, site, "exclusion criterion (motion sickness, vestibular)"))
            continue
        pid = f"P{len(participants) + 1:04d}"
        baseline = _clip_score(pool.mu[i] + site_off[site] + rng.normal(0.0, m.noise_sd))
        factors: dict[str, str] = {}
        for f in protocol.stratification:
            if f is sev and set(f.levels) >= {"moderate", "severe"}:
                factors[f.id] = "severe" if baseline >= 75 else "moderate"
            else:
                factors[f.id] = f.levels[int(rng.integers(0, len(f.levels)))]
        stratum = stratum_key(protocol, site, factors)
        alloc = concealer.allocate(pid, stratum, enrolled=True)
        arm = protocol.arm(alloc.arm)
        vr = arm.policy != "none" and arm.planned_sessions > 0
        if vr:
            vr_count[site] += 1
        p = ParticipantRecord(
            id=pid, site=site, strata=factors, stratum=stratum, arm=arm.id, baseline={instrument: baseline},
            characteristics={"age": int(np.clip(round(rng.normal(38, 12)), 18, 70)),
                             "sex": "female" if rng.random() < 0.6 else "male"},
            sessions_planned=arm.planned_sessions)
        p.visits.append(VisitRecord(base_visit.id, 0, {instrument: baseline}))
        impr = float(pool.improvement[arm.id][i]) + float(pool.natural[i])
        if vr:
            p.sessions_attended = int(pool.sessions[arm.id][i])
            p.minutes_at_level = [round(float(s) / 60.0, 2) for s in pool.seconds_at_level[arm.id][i]]
            if pool.nonstart[i]:
                p.discontinued = "did not start allocated intervention"
            elif pool.dropped[arm.id][i] > 0:
                p.discontinued = ("cybersickness" if pool.sickness_ended[arm.id][i] > 0 else
                                  "distress during exposure" if pool.overloads[arm.id][i] > 0 else
                                  "stopped attending")
            for _ in range(int(min(pool.overloads[arm.id][i], 5))):
                p.adverse_events.append(AdverseEventRecord("emotional_overload", "mild", False, "probable", True))
            for _ in range(int(pool.sickness_ended[arm.id][i])):
                p.adverse_events.append(AdverseEventRecord("cybersickness", "moderate", False, "definite", True))
            p.cost = {"staff": p.sessions_attended * m.staff_minutes_per_session * m.staff_cost_per_minute}
        else:
            p.cost = {"staff": 0.0}
        last = baseline
        for v in later:
            if v.kind == "follow_up":
                h = loss_base.get(arm.policy, 0.05) * math.exp(m.loss_slope * (last - 70.0))
                if rng.random() < min(h, 0.9):
                    r = rng.random()
                    p.lost = ("no contact" if r < 0.6 else "moved away" if r < 0.8 else "withdrew consent")
                    p.lost_after = p.visits[-1].visit
                    break
            day = v.day + int(round(rng.normal(0.0, max(v.window_days, 1) / 2.0)))
            dev = ""
            if abs(day - v.day) > v.window_days:
                dev = f"visit {v.id} on day {day}, outside day {v.day} +/- {v.window_days}"
            scores: dict[str, float] = {}
            if instrument in v.instruments:
                g = min(1.0, max(day, 0) / post_day) if day < post_day else max(0.0, 1.0 - m.decay_per_day
                                                                                  * (day - post_day))
                y = (pool.mu[i] + site_off[site] - m.points_per_threshold * impr * g
                     + rng.normal(0.0, m.noise_sd))
                scores[instrument] = _clip_score(y)
                last = scores[instrument]
            if "ssq" in v.instruments and vr and p.sessions_attended > 0:
                scores["ssq"] = round(3.74 * min(48, rng.poisson(3 + 6 * pool.sickness_ended[arm.id][i])), 2)
            p.visits.append(VisitRecord(v.id, day, scores, dev))
        participants.append(p)
        picks.append(i)
    for p in participants:
        if p.arm in {a.id for a in protocol.arms if a.policy != "none"} and vr_count[p.site]:
            p.cost["equipment"] = round(m.equipment_per_site / vr_count[p.site], 2)
    exp, comp = protocol.analysis.comparison
    notes = {"outcome_model": asdict(m), "pool_size": pool.n,
             "assumed_true_effect": round(pool.true_effect(exp, comp), 3),
             "sampled_with_replacement": sample_with_replacement}
    return TrialData(protocol, participants, screened, simulated=True, seed_fingerprint=seed_fingerprint(seed),
                     notes=notes)


@dataclass(frozen=True)
class PowerResult:
    """Repeated simulated trials: coverage of the assumed true effect, power, and the estimates' spread."""

    reps: int
    per_arm: int
    coverage: float
    power: float
    true_effect: float
    mean_estimate: float
    sd_estimate: float
    contrast: str
    engine_max_abs_diff: float


def simulate_power(protocol: Protocol, per_arm: int, reps: int, seed: int = 0, pool_size: int = 1000,
                   check_engine: int = 3, progress: Callable[[int, int], None] | None = None) -> PowerResult:
    """Run ``reps`` whole trials on participants drawn from one pool of virtual patients.

    Each trial goes through screening, concealed randomization, visits, dropout and the primary mixed model. The
    model is fitted with the closed-form REML engine (same design and estimates as statsmodels MixedLM); the first
    ``check_engine`` trials are also fitted with statsmodels and the largest difference is reported. Power is the
    share of trials whose 95 % CI excludes 0; coverage the share whose CI covers the pool's true effect.
    SIMULATED EFFECTS ARE ASSUMPTIONS, NOT EVIDENCE.
    """
    from attunexr.trials._analysis import fit_primary_model

    if reps < 1:
        raise ConfigurationError(f"reps must be at least 1, got {reps}")
    exp, comp = protocol.analysis.comparison
    pool = build_pool(protocol, pool_size, seed=seed)
    truth = pool.true_effect(exp, comp)
    covered = significant = 0
    effects: list[float] = []
    diff = 0.0
    for r in range(reps):
        data = simulate_trial(protocol, per_arm, seed=seed * 100_003 + r + 1, pool=pool)
        c = fit_primary_model(data, engine="closed_form").primary
        if c is None:
            raise ConfigurationError("the primary contrast could not be estimated")
        if r < check_engine:
            ref = fit_primary_model(data).primary
            if ref is not None:
                diff = max(diff, abs(ref.effect - c.effect), abs(ref.ci[0] - c.ci[0]), abs(ref.ci[1] - c.ci[1]))
        effects.append(c.effect)
        covered += int(c.ci[0] <= truth <= c.ci[1])
        significant += int(c.ci[1] < 0 or c.ci[0] > 0)
        if progress is not None:
            progress(r + 1, reps)
    arr = np.asarray(effects)
    return PowerResult(reps, per_arm, round(covered / reps, 4), round(significant / reps, 4), round(truth, 3),
                       round(float(arr.mean()), 3), round(float(arr.std(ddof=1)) if reps > 1 else 0.0, 3),
                       f"{exp} - {comp}", round(diff, 4))
