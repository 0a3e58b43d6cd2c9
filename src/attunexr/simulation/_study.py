"""In-silico comparison of exposure policies on virtual patients (fast path, vectorised across patients).

Every policy meets the same virtual patients with the same random draws (common random numbers): the comparison
is paired. Policies see only what a live session sees: window estimates computed from generated features by a
model with uncertainty and abstention, SUDS answers, quality flags. Each requested change goes through the same
clinician-bounds gate as the live controller (:func:`attunexr.exposure.gate_step`), and the same safety rules act
on prompts (SUDS overload de-escalates, FMS pauses or ends, signal loss blocks escalation).

In-silico results are not clinical evidence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError
from attunexr.exposure import (
    TREND_TAUS,
    ArousalAdaptive,
    ControllerBounds,
    ExposurePolicy,
    PersonalCalibration,
    PolicyObservation,
    ema_update,
    gate_step,
    make_policy,
    trend_per_minute,
)
from attunexr.simulation._calibration import SCL_OFFSET, Calibration, load_calibration
from attunexr.simulation._dynamics import FEAR_FLOOR, latent_step, suds_report
from attunexr.simulation._estimator import WindowArousalEstimator
from attunexr.simulation._physiology import (
    _SCR_RISE,
    SCR_MEAN_AREA_US_S,
    PhysiologyState,
    fast_window_features,
    physiology_step,
)
from attunexr.simulation._population import FEAR_AT_LAB_STRESS, Population, draw_population

__all__ = ["METRICS", "StudyConfig", "StudyResult", "arousal_window", "default_policies", "population_suds_mapping", "run_study"]

logger = logging.getLogger(__name__)

#: The per-policy figures reported by :func:`run_study` (and `attunexr simulate`).
METRICS: tuple[str, ...] = ("time_in_window", "overload_per_session", "sickness_per_session", "max_level_mean",
                            "dropout_rate", "escalations_during_signal_loss")


@dataclass
class StudyConfig:
    """Protocol of the simulated study. Thresholds on the latent state define the outcomes (ASSUMPTIONS).

    Parameters
    ----------
    session_length_s
        Exposure time per session (after a resting baseline).
    window_s, hop_s
        Feature window and hop (as in the live pipeline).
    prompt_every_s, first_prompt_s
        SUDS and FMS prompts: the first ``first_prompt_s`` after the session starts, then every ``prompt_every_s``.
    n_levels
        Levels of the hierarchy.
    start_suds
        The first session starts at the highest level whose anticipated SUDS (rated when the hierarchy was built)
        is at most this; later sessions start one level below the previous session's highest level.
    bounds
        Clinician bounds applied to every policy.
    therapeutic_window
        Latent fear range counted as "in the therapeutic window" (moderate, processable fear).
    overload_fear, overload_min_s
        An overload event: latent fear above ``overload_fear`` for at least ``overload_min_s``.
    sickness_event
        A sickness event: latent cybersickness reaches this (FMS ~ 10).
    signal_loss_per_session, signal_loss_s
        Poisson mean count and duration range of signal-loss episodes (sensor off, Bluetooth drop).
    """

    session_length_s: int = 1200
    window_s: int = 60
    hop_s: int = 10
    prompt_every_s: int = 120
    first_prompt_s: int = 30
    start_suds: float = 30.0
    n_levels: int = 8
    bounds: ControllerBounds = field(default_factory=lambda: ControllerBounds(
        max_level=7, min_dwell_s=30.0, max_step=2, session_length_s=1200.0, arousal_ceiling=0.95,
        suds_ceiling=85.0, estimate_max_age_s=20.0, suds_max_age_s=180.0))
    therapeutic_window: tuple[float, float] = (0.35, 0.80)
    overload_fear: float = 0.85
    overload_min_s: float = 20.0
    sickness_event: float = 0.5
    signal_loss_per_session: float = 1.5
    signal_loss_s: tuple[float, float] = (15.0, 90.0)
    safety_block_s: float = 120.0
    pause_s: float = 60.0
    suds_overload: float = 85.0
    fms_pause: float = 10.0
    fms_end: float = 15.0

    def __post_init__(self) -> None:
        if self.session_length_s % self.hop_s or self.prompt_every_s % self.hop_s or self.first_prompt_s % self.hop_s:
            raise ConfigurationError("session_length_s and prompt_every_s must be multiples of hop_s")
        if self.bounds.max_level > self.n_levels - 1:
            raise ConfigurationError("bounds.max_level exceeds the hierarchy")


@dataclass
class StudyResult:
    """Figures per policy plus per-session arrays for plots."""

    patients: int
    sessions: int
    wall_s: float
    policies: dict[str, dict[str, float]]
    per_session: dict[str, dict[str, list[float]]]
    traces: dict[str, dict[str, list[list[float]]]]
    details: dict[str, dict[str, float]]
    config: dict[str, Any]
    #: per policy, one value per patient: ``threshold_start``, ``threshold_end`` (latent fear threshold before the
    #: first and after the last session), ``sessions`` attended, ``dropped`` (1.0 if the patient stopped coming),
    #: ``overloads``, ``sickness_events``, ``ended_by_sickness``, and ``seconds_at_level`` (one list per patient)
    per_patient: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """The CLI's output object: patients, sessions, wall_s and the figures per policy."""
        return {"patients": self.patients, "sessions": self.sessions, "wall_s": round(self.wall_s, 3),
                "policies": self.policies}


def arousal_window(cal: Calibration, fear_low: float, fear_high: float) -> tuple[float, float]:
    """Estimated probability at two latent fear levels for the population-average responder.

    Used to configure :class:`ArousalAdaptive` from population figures only (never from a patient's latent state).
    """
    out = []
    for f in (fear_low, fear_high):
        k = f / FEAR_AT_LAB_STRESS
        b = cal.estimator_coef
        logit = b[0] + b[1] * cal.dhr_task_mean * k + b[2] * max(cal.dlog_scl_task_mean, 0.0) * k
        out.append(float(1.0 / (1.0 + np.exp(-logit))))
    return out[0], out[1]


def population_suds_mapping(cal: Calibration) -> tuple[float, float]:
    """``(a0, c0)`` with ``SUDS = a0 + c0 * logit(p)`` for the population-average responder (SUDS = 100 x fear)."""
    b = cal.estimator_coef
    k_f = (b[1] * cal.dhr_task_mean + b[2] * max(cal.dlog_scl_task_mean, 0.0)) / FEAR_AT_LAB_STRESS
    if k_f <= 0:
        raise ConfigurationError("the calibration gives no arousal response to fear; rebuild the calibration")
    return -100.0 * b[0] / k_f, 100.0 / k_f


def default_policies(names: Sequence[str], cal: Calibration, config: StudyConfig) -> dict[str, ExposurePolicy]:
    """The three standard policies, the arousal window derived from the population calibration."""
    out: dict[str, ExposurePolicy] = {}
    for name in names:
        if name == "arousal":
            # the window is on the personally calibrated (SUDS-equivalent) arousal scale, see PersonalCalibration
            out[name] = ArousalAdaptive(low=0.45, high=0.70, suds_overload=config.suds_overload)
        else:
            out[name] = make_policy(name)
    return out


def _loss_mask(rng: np.random.Generator, n: int, total: int, offset: int, cfg: StudyConfig) -> NDArray[np.bool_]:
    """``valid[s, p]``: True where patient p's sensors deliver in second s (loss episodes removed)."""
    valid = np.ones((total, n), dtype=bool)
    counts = rng.poisson(cfg.signal_loss_per_session, n)
    for p in np.flatnonzero(counts):
        for _ in range(counts[p]):
            start = offset + int(rng.integers(0, cfg.session_length_s))
            dur = int(rng.uniform(*cfg.signal_loss_s))
            valid[start:start + dur, p] = False
    return valid


def run_study(
    n_patients: int,
    n_sessions: int,
    policies: Sequence[str] | dict[str, ExposurePolicy] = ("fixed", "suds", "arousal"),
    seed: int = 0,
    config: StudyConfig | None = None,
    calibration: Calibration | None = None,
    population: Population | None = None,
    progress: Callable[[int, int], None] | None = None,
    n_traces: int = 3,
) -> StudyResult:
    """Run every policy on the same virtual patients for ``n_sessions`` sessions.

    Parameters
    ----------
    n_patients, n_sessions
        Population size and sessions per patient.
    policies
        Names (``fixed``, ``suds``, ``arousal``) or ready policies by name.
    seed
        Seeds the population and every random draw (identical across policies).
    progress
        Called with (session done, sessions) after each session.
    n_traces
        Record decision-time traces (latent fear, level, estimate, SUDS) of the first ``n_traces`` patients.
    """
    if n_sessions < 1:
        raise ConfigurationError(f"need at least one session, got {n_sessions}")
    t_wall = time.perf_counter()
    cfg = config or StudyConfig()
    cal = calibration or load_calibration()
    pol = policies if isinstance(policies, dict) else default_policies(list(policies), cal, cfg)
    if not pol:
        raise ConfigurationError("give at least one policy")
    names = list(pol)
    pop = population or draw_population(n_patients, seed, cal)
    P, M = pop.n, len(names)
    W, L, hop = cfg.window_s, cfg.session_length_s, cfg.hop_s
    est = WindowArousalEstimator(cal)
    rng = np.random.default_rng(seed + 1)  # every draw from it has one value per patient: shared by all policies
    feature_rng = np.random.default_rng(seed + 2)  # per-policy draws that no policy sees (SCR counts)
    b = cfg.bounds
    lo_w, hi_w = cfg.therapeutic_window
    max_idx = cfg.n_levels - 1

    threshold = np.broadcast_to(pop.threshold, (M, P)).copy()
    a0, c0 = population_suds_mapping(cal)
    personal = PersonalCalibration(a0, c0, shape=(M, P))
    dropped = np.zeros((M, P), dtype=bool)
    # first session: start at the highest level the patient rated at most `start_suds` when the hierarchy was built
    # (anticipated SUDS per level, asked before treatment; same start for every policy)
    intensities = np.arange(cfg.n_levels) / max_idx
    anticipated = (100.0 * pop.gain[:, None] * np.maximum(intensities[None, :] - pop.threshold[:, None], 0.0)
                   + pop.suds_bias[:, None] + rng.normal(0.0, 10.0, (P, cfg.n_levels)))
    ok_start = anticipated <= cfg.start_suds
    first = np.where(ok_start.any(axis=1), cfg.n_levels - 1 - np.argmax(ok_start[:, ::-1], axis=1), 0)
    start_level = np.broadcast_to(np.minimum(first, b.max_level), (M, P)).astype(np.int64).copy()
    tot = {k: np.zeros(M) for k in ("run_s", "in_window_s", "overloads", "sick", "sessions", "max_level",
                                    "esc_loss", "req_loss", "below_s", "above_s", "at_top_below_s", "blocked_quality", "ended_early", "safety_de_esc")}
    per_session: dict[str, dict[str, list[float]]] = {n: {"time_in_window": [], "overloads": [], "max_level": [],
                                                          "active": []} for n in names}

    nt = min(n_traces, P)
    traces: dict[str, dict[str, list[list[float]]]] = {
        n: {key: [] for key in ("t", "fear", "level", "probability", "lower", "upper", "suds", "abstained",
                                "policy_arousal")}
        for n in names}
    pp_sessions = np.zeros((M, P))
    pp_over = np.zeros((M, P))
    pp_sick = np.zeros((M, P))
    pp_ended = np.zeros((M, P))
    pp_level_s = np.zeros((M, P, cfg.n_levels))
    m_idx, p_idx = np.arange(M)[:, None], np.arange(P)[None, :]
    for k in range(n_sessions):
        running = ~dropped
        active_start = running.copy()
        level = start_level.copy()
        time_at_level = np.zeros((M, P))
        fear = np.zeros((M, P))
        hab = np.zeros((M, P))
        sick = np.zeros((M, P))
        phys = PhysiologyState.at_rest(pop, (M, P))
        phys.hr_ou[:] = rng.normal(0, 1.5, P)
        phys.lscl_ou[:] = rng.normal(0, 0.05, P)
        hr_base = pop.hr0 + rng.normal(0, 1.0, P)  # personal resting baseline measured before exposure
        scl_base = (np.exp(pop.lscl0 + rng.normal(0, 0.03, P)) - SCL_OFFSET
                    + (pop.scr0 + _SCR_RISE * FEAR_FLOOR) / 60.0 * SCR_MEAN_AREA_US_S)
        hr_tr = np.empty((L + W, M, P))
        lscl_tr = np.empty((L + W, M, P))
        scr_tr = np.empty((L + W, M, P))
        scr_tr[:W] = pop.scr0
        hr_tr[:W] = phys.hr_lag + phys.hr_ou
        lscl_tr[:W] = phys.lscl_lag + phys.lscl_ou
        valid = _loss_mask(rng, P, L + W, W, cfg)
        p_last = np.full((M, P), np.nan)
        fast = np.full((M, P), np.nan)
        slow = np.full((M, P), np.nan)
        suds_val = np.full((M, P), np.nan)
        suds_t = np.full((M, P), -np.inf)
        suds_peak = np.full((M, P), np.nan)
        block_until = np.full((M, P), -np.inf)
        pause_until = np.full((M, P), -np.inf)
        over_since = np.full((M, P), np.nan)
        over_counted = np.zeros((M, P), dtype=bool)
        sick_event = np.zeros((M, P), dtype=bool)
        s_in = np.zeros((M, P))
        s_run = np.zeros((M, P))
        s_over = np.zeros((M, P))
        s_max = level.copy()
        ended = np.zeros((M, P), dtype=bool)
        zs = rng.standard_normal((L, 4, P))
        u_prompt = rng.random((L // cfg.prompt_every_s + 1, 3, P))
        for s in range(L):
            t = float(s + 1)
            paused = t <= pause_until
            intensity = np.where(paused, 0.0, level / max_idx)
            fear, hab, sick = latent_step(fear, hab, sick, intensity, paused, threshold, pop, zs[s, 0])
            sig = physiology_step(phys, fear, pop, cal, 1.0, zs[s, 1], zs[s, 2])
            hr_tr[W + s] = sig["hr"]
            lscl_tr[W + s] = sig["lscl"]
            scr_tr[W + s] = sig["scr_rate"]
            s_run += running
            pp_level_s[m_idx, p_idx, level] += running
            s_in += running & (fear >= lo_w) & (fear <= hi_w)
            tot["below_s"] += (running & (fear < lo_w)).sum(axis=1)
            tot["above_s"] += (running & (fear > hi_w)).sum(axis=1)
            tot["at_top_below_s"] += (running & (fear < lo_w) & (level >= b.max_level)).sum(axis=1)
            over = running & (fear > cfg.overload_fear)
            over_since = np.where(over, np.where(np.isnan(over_since), t, over_since), np.nan)
            new_over = over & ~over_counted & (t - over_since >= cfg.overload_min_s)
            s_over += new_over
            over_counted = np.where(over, over_counted | new_over, False)
            new_sick = running & ~sick_event & (sick >= cfg.sickness_event)
            sick_event |= new_sick

            since_first = int(t) - cfg.first_prompt_s
            if since_first >= 0 and since_first % cfg.prompt_every_s == 0:  # SUDS/FMS prompts and safety rules
                j = since_first // cfg.prompt_every_s
                answers, suds = suds_report(fear, pop, u_prompt[j, 0], u_prompt[j, 1])
                answered = running & answers
                personal.update(p_last, suds, answered)
                suds_val = np.where(answered, suds, suds_val)
                suds_t = np.where(answered, t, suds_t)
                suds_peak = np.where(answered, np.fmax(suds_peak, suds), suds_peak)
                fms = np.clip(np.round(20.0 * sick + 1.5 * (2.0 * u_prompt[j, 2] - 1.0)), 0, 20)
                de_esc = answered & (suds >= cfg.suds_overload) & (level > 0)
                tot["safety_de_esc"] += de_esc.sum(axis=1)
                level = np.where(de_esc, level - 1, level)
                time_at_level = np.where(de_esc, 0.0, time_at_level)
                block_until = np.where(answered & (suds >= cfg.suds_overload), t + cfg.safety_block_s, block_until)
                end_now = answered & (fms >= cfg.fms_end)
                ended |= end_now
                running = running & ~end_now
                pz = answered & (fms >= cfg.fms_pause) & ~end_now & ~paused
                pause_until = np.where(pz, t + cfg.pause_s, pause_until)
                block_until = np.where(pz, t + cfg.safety_block_s, block_until)
                time_at_level = np.where(pz, 0.0, time_at_level)

            if int(t) % hop == 0:
                win = slice(s + 1, s + 1 + W)
                v = valid[win]
                feats = fast_window_features({"hr": hr_tr[win], "lscl": lscl_tr[win], "scr_rate": scr_tr[win]},
                                             np.broadcast_to(v[:, None, :], (W, M, P)), feature_rng,
                                             {"hr": zs[s, 3], "scl": zs[s - 1, 3]})
                signal_now = valid[W + s]
                quality_ok = (feats["coverage"] >= 0.8) & signal_now
                e = est.estimate(feats["hr_mean"], feats["scl_mean"], hr_base, scl_base, quality_ok)
                ok = ~e.abstained
                p_ok = np.where(ok, e.probability, np.nan)
                p_last = p_ok
                cal_p = personal.transform(p_ok)
                fast = ema_update(fast, cal_p, float(hop), TREND_TAUS[0])
                slow = ema_update(slow, cal_p, float(hop), TREND_TAUS[1])
                trend = trend_per_minute(fast, slow)
                suds_age = t - suds_t
                recent_suds = np.where(suds_age <= b.suds_max_age_s, suds_val, np.nan)
                cal_lo = personal.transform(e.lower)
                cal_hi = personal.transform(e.upper)
                step = np.zeros((M, P), dtype=np.int64)
                for m, name in enumerate(names):
                    obs = PolicyObservation(
                        t=np.full(P, t), elapsed=np.full(P, t), time_at_level=time_at_level[m], level=level[m],
                        max_level=np.full(P, b.max_level), probability=cal_p[m],
                        lower=np.where(ok[m], cal_lo[m], np.nan), upper=np.where(ok[m], cal_hi[m], np.nan),
                        estimate_ok=ok[m], trend=trend[m], suds=suds_val[m], suds_age=suds_age[m],
                        suds_peak=suds_peak[m],
                    )
                    step[m], _ = pol[name].decide(obs)
                applied, reason = gate_step(step, level, time_at_level, t, quality_ok, True, e.abstained, p_ok,
                                            recent_suds, (t < block_until) | paused, b)
                applied = np.where(running & ~paused, applied, 0)
                loss = ~signal_now[None, :] & running
                tot["esc_loss"] += ((applied > 0) & loss).sum(axis=1)
                tot["req_loss"] += ((step > 0) & loss).sum(axis=1)
                tot["blocked_quality"] += ((step > 0) & running & (reason >= 3) & (reason <= 5)).sum(axis=1)
                level = level + applied
                changed = applied != 0
                time_at_level = np.where(changed, 0.0, time_at_level)
                hab = np.where(applied > 0, hab * pop.hab_carry, hab)
                suds_peak = np.where(changed, np.nan, suds_peak)
                s_max = np.where(running, np.maximum(s_max, level), s_max)
                for m, name in enumerate(names):  # patients who dropped out or ended appear as NaN
                    tr = traces[name]
                    live = running[m, :nt]
                    tr["t"].append([k * L + t] * nt)
                    tr["fear"].append(np.where(live, fear[m, :nt], np.nan).tolist())
                    tr["level"].append(np.where(live, level[m, :nt], np.nan).tolist())
                    tr["probability"].append(np.where(live, e.probability[m, :nt], np.nan).tolist())
                    tr["lower"].append(e.lower[m, :nt].tolist())
                    tr["upper"].append(e.upper[m, :nt].tolist())
                    tr["suds"].append(np.where(running[m, :nt], suds_val[m, :nt], np.nan).tolist())
                    tr["abstained"].append(e.abstained[m, :nt].astype(float).tolist())
                    tr["policy_arousal"].append(np.where(live, cal_p[m, :nt], np.nan).tolist())
            time_at_level += 1.0

        # session bookkeeping, between-session learning, dropout
        n_sess = active_start.sum(axis=1)
        tot["sessions"] += n_sess
        tot["run_s"] += s_run.sum(axis=1)
        tot["in_window_s"] += s_in.sum(axis=1)
        tot["overloads"] += s_over.sum(axis=1)
        tot["sick"] += sick_event.sum(axis=1)
        tot["max_level"] += np.where(active_start, s_max, 0).sum(axis=1)
        tot["ended_early"] += ended.sum(axis=1)
        pp_sessions += active_start
        pp_over += s_over
        pp_sick += sick_event
        pp_ended += ended
        frac_in = np.where(s_run > 0, s_in / np.maximum(s_run, 1), 0.0)
        threshold = threshold + pop.learn_rate * frac_in * (1.0 - threshold) * active_start
        threshold = threshold - np.where(pop.sensitizer, pop.sens_step, 0.0) * s_over
        threshold = np.clip(threshold, 0.02, 0.95)
        if k < n_sessions - 1:
            u = rng.random(P)
            hazard = pop.dropout_base + 0.08 * np.minimum(s_over, 3) + 0.10 * sick_event + 0.15 * ended
            dropped |= active_start & (u < hazard)
        start_level = np.maximum(s_max - 1, 0)
        for m, name in enumerate(names):
            a = active_start[m]
            per_session[name]["time_in_window"].append(float(s_in[m][a].sum() / max(s_run[m][a].sum(), 1)))
            per_session[name]["overloads"].append(float(s_over[m][a].mean()) if a.any() else 0.0)
            per_session[name]["max_level"].append(float(s_max[m][a].mean()) if a.any() else 0.0)
            per_session[name]["active"].append(float(a.mean()))
        if progress is not None:
            progress(k + 1, n_sessions)

    wall = time.perf_counter() - t_wall
    figures: dict[str, dict[str, float]] = {}
    details: dict[str, dict[str, float]] = {}
    for m, name in enumerate(names):
        ns = max(tot["sessions"][m], 1)
        figures[name] = {
            "time_in_window": round(float(tot["in_window_s"][m] / max(tot["run_s"][m], 1)), 4),
            "overload_per_session": round(float(tot["overloads"][m] / ns), 4),
            "sickness_per_session": round(float(tot["sick"][m] / ns), 4),
            "max_level_mean": round(float(tot["max_level"][m] / ns), 3),
            "dropout_rate": round(float(dropped[m].mean()), 4),
            "escalations_during_signal_loss": int(tot["esc_loss"][m]),
        }
        details[name] = {
            "sessions_delivered": int(tot["sessions"][m]),
            "escalation_requests_during_signal_loss": int(tot["req_loss"][m]),
            "escalations_blocked_by_quality_or_abstention": int(tot["blocked_quality"][m]),
            "sessions_ended_by_cybersickness": int(tot["ended_early"][m]),
            "safety_de_escalations": int(tot["safety_de_esc"][m]),
            "time_below_window": round(float(tot["below_s"][m] / max(tot["run_s"][m], 1)), 4),
            "time_above_window": round(float(tot["above_s"][m] / max(tot["run_s"][m], 1)), 4),
            "time_below_window_at_max_level": round(float(tot["at_top_below_s"][m] / max(tot["run_s"][m], 1)), 4),
        }
    per_patient: dict[str, dict[str, list[Any]]] = {
        name: {"threshold_start": pop.threshold.tolist(), "threshold_end": threshold[m].tolist(),
               "sessions": pp_sessions[m].tolist(), "dropped": dropped[m].astype(float).tolist(),
               "overloads": pp_over[m].tolist(), "sickness_events": pp_sick[m].tolist(),
               "ended_by_sickness": pp_ended[m].tolist(), "seconds_at_level": pp_level_s[m].tolist()}
        for m, name in enumerate(names)}
    cfg_d = asdict(cfg)
    cfg_d["policies"] = {n: {k2: v for k2, v in vars(p).items()} for n, p in pol.items()}
    logger.info("simulated %d patients x %d sessions x %d policies in %.1f s", P, n_sessions, M, wall)
    return StudyResult(P, n_sessions, wall, figures, per_session, traces, details, cfg_d, per_patient)
