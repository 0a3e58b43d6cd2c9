"""The pre-specified analysis of a trial: ITT linear mixed model, per-protocol and multiple-imputation sensitivity
analyses, responder analysis with reliable change, and cost per responder.

Every result carries the assumptions it rests on. Primary model (statsmodels ``MixedLM``, REML)::

    y_iv = arm x visit + baseline_i + site + strata + u_i + e_iv,  u_i ~ N(0, tau^2), e_iv ~ N(0, sigma^2)

over all post-baseline visits with a score of the primary instrument; the between-arm effect is the arm contrast at
the primary visit (visit reference level), with a Wald 95 % CI. Participants without any post-baseline score are
not in the model (listed as excluded from analysis, with the reason, in the CONSORT flow).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from attunexr.clinical import reliable_change
from attunexr.errors import ConfigurationError
from attunexr.trials._data import ParticipantRecord, TrialData
from attunexr.trials._lmm import fit_random_intercept
from attunexr.words import label

__all__ = [
    "Contrast",
    "ModelResult",
    "ResponderResult",
    "TrialAnalysis",
    "analyse_trial",
    "fit_primary_model",
    "multiple_imputation",
    "per_protocol_participants",
    "responder_analysis",
]

logger = logging.getLogger(__name__)

#: AQ-anxiety reliability assumptions for reliable change (Cohen 1977 test-retest r = .82; SD 17 points in
#: phobic samples is an ASSUMPTION): override with your sample's values.
AQ_RELIABILITY = (17.0, 0.82)


@dataclass(frozen=True)
class Contrast:
    """A between-arm difference (``arm`` minus ``versus``) at the primary visit."""

    arm: str
    versus: str
    effect: float
    ci: tuple[float, float]
    se: float
    p: float


@dataclass
class ModelResult:
    """One fitted analysis."""

    name: str
    model: str
    population: str
    n_participants: int
    n_observations: int
    primary: Contrast | None
    contrasts: list[Contrast]
    assumptions: list[str]
    notes: list[str] = field(default_factory=list)
    #: the exact model formula (patsy), for a statistician to refit; ``model`` says it in words
    formula: str = ""


@dataclass
class ResponderResult:
    """Reliable improvement from baseline to the primary visit, by arm, and cost per responder."""

    definition: str
    by_arm: dict[str, dict[str, float]]
    risk_difference: Contrast | None
    assumptions: list[str]


@dataclass
class TrialAnalysis:
    """All analyses of one trial."""

    primary: ModelResult
    per_protocol: ModelResult | None
    multiple_imputation: ModelResult | None
    responders: ResponderResult

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def _frame(data: TrialData, participants: list[ParticipantRecord] | None = None) -> pd.DataFrame:
    prot = data.protocol
    inst = prot.primary.instrument
    sub = TrialData(prot, participants if participants is not None else data.participants)
    df = sub.long_outcomes(inst)
    df = df[df["visit"].isin([v.id for v in prot.visits if inst in v.instruments])]
    return df.dropna(subset=["y", "baseline"])


def _covariate_terms(data: TrialData, df: pd.DataFrame) -> list[str]:
    terms = ["baseline"]
    if df["site"].nunique() > 1:
        terms.append("C(site)")
    for f in data.protocol.stratification:
        if f.id in df and df[f.id].nunique() > 1:
            terms.append(f"C({f.id})")
    return terms


def _terms_in_words(data: TrialData, terms: list[str], multi_visit: bool) -> str:
    """``arm_c * visit_c + baseline + C(site) + C(severity)`` as a reader says it."""
    names = {"baseline": "the baseline score", "C(site)": "site"}
    names.update({f"C({f.id})": label(f.id) for f in data.protocol.stratification})
    parts = ["arm", "visit", "their interaction"] if multi_visit else ["arm"]
    parts += [names.get(t, t) for t in terms]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _contrasts(names: list[str], params: pd.Series, cov: pd.DataFrame, arms: list[str], ref: str,
               pairs: list[tuple[str, str]], df_t: float | None = None) -> list[Contrast]:
    out = []
    crit = stats.norm.ppf(0.975) if df_t is None else stats.t.ppf(0.975, df_t)
    for a, b in pairs:
        vec = pd.Series(0.0, index=names)
        if a != ref:
            vec[f"arm_c[T.{a}]"] += 1.0
        if b != ref:
            vec[f"arm_c[T.{b}]"] -= 1.0
        est = float(vec @ params[names])
        se = float(math.sqrt(max(vec @ cov.loc[names, names] @ vec, 0.0)))
        z = est / se if se > 0 else float("nan")
        p = float(2 * (stats.norm.sf(abs(z)) if df_t is None else stats.t.sf(abs(z), df_t)))
        out.append(Contrast(a, b, round(est, 3), (round(float(est - crit * se), 3), round(float(est + crit * se), 3)),
                            round(se, 3), round(p, 4)))
    return out


def _pairs(data: TrialData) -> list[tuple[str, str]]:
    exp, comp = data.protocol.analysis.comparison
    arms = [a.id for a in data.protocol.arms]
    pairs = [(exp, comp)]
    for a in arms:
        for b in arms:
            if a < b and {a, b} != {exp, comp}:
                # experimental arms against usual care read as "arm minus control"
                pairs.append((a, b) if data.protocol.arm(b).policy == "none" else (b, a)
                             if data.protocol.arm(a).policy == "none" else (a, b))
    return pairs


def fit_primary_model(data: TrialData, participants: list[ParticipantRecord] | None = None,
                      name: str = "itt", population: str = "all randomized (ITT)",
                      engine: Literal["statsmodels", "closed_form"] = "statsmodels") -> ModelResult:
    """Fit the linear mixed model on the given participants (default all randomized).

    ``engine="closed_form"`` fits the same model on the same design matrix by profiled REML in numpy
    (:mod:`._lmm`; equal to statsmodels within optimizer tolerance, a test checks it) for the power benchmark.
    """
    import statsmodels.formula.api as smf

    prot = data.protocol
    df = _frame(data, participants)
    exp, comp = prot.analysis.comparison
    arms = [a.id for a in prot.arms]
    present = [a for a in arms if a in set(df["arm"])]
    if comp not in present or exp not in present or df["participant"].nunique() < 6:
        raise ConfigurationError(f"{name}: not enough outcome data to fit the model (arms with data: {present})")
    df = df.copy()
    df["arm_c"] = pd.Categorical(df["arm"], categories=[comp] + [a for a in present if a != comp])
    visits = [v for v in df["visit"].unique()]
    pv = prot.primary.visit
    if pv not in visits:
        raise ConfigurationError(f"{name}: no scores at the primary visit {pv!r}")
    df["visit_c"] = pd.Categorical(df["visit"], categories=[pv] + sorted(v for v in visits if v != pv))
    terms = _covariate_terms(data, df)
    multi_visit = df["visit"].nunique() > 1
    fixed = ("arm_c * visit_c" if multi_visit else "arm_c") + " + " + " + ".join(terms)
    formula = f"y ~ {fixed}"
    notes = []
    if engine == "closed_form":
        from patsy import dmatrices

        yv, X = dmatrices(formula, df, return_type="dataframe")
        codes = pd.factorize(df.loc[X.index, "participant"])[0]
        cf = fit_random_intercept(X.to_numpy(float), yv.to_numpy(float)[:, 0], codes)
        fe = list(X.columns)
        fe_params = pd.Series(cf.params, index=fe)
        cov = pd.DataFrame(cf.cov, index=fe, columns=fe)
        engine_words = "closed-form profiled REML, equal to statsmodels MixedLM"
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = smf.mixedlm(formula, df, groups=df["participant"]).fit(reml=True, method=["bfgs", "lbfgs"])
        for w in caught:
            if "converge" in str(w.message).lower() or "boundary" in str(w.message).lower():
                notes.append(f"statsmodels: {w.message}")
        fe = list(fit.fe_params.index)
        fe_params = fit.fe_params
        cov = fit.cov_params()
        engine_words = "statsmodels MixedLM, REML"
    contrasts = _contrasts(fe, fe_params, cov, present, comp,
                           [(a, b) for a, b in _pairs(data) if a in present and b in present])
    model = (f"linear mixed model ({engine_words}) of the score on "
             + _terms_in_words(data, terms, multi_visit)
             + f", with a random intercept per participant; effect = arm difference at {prot.visit_name(pv)}")
    assumptions = [
        "outcomes missing at random given arm, site, strata, baseline and observed visits (likelihood-based ITT)",
        "normally distributed participant intercepts and residuals; compound-symmetric within-participant "
        "correlation (random intercept only)",
        "linear effect of the baseline score, the same in every arm",
        "site as a fixed effect" if prot.analysis.site_effect == "fixed" else "site as a fixed effect (a random "
        "site effect is the protocol's choice; with few sites its variance is poorly estimated)",
        "participants analysed in the arm they were randomized to, whatever treatment they received",
        "Wald 95 % confidence intervals (normal approximation)",
    ]
    return ModelResult(name, model, population, int(df["participant"].nunique()), int(len(df)),
                       contrasts[0] if contrasts else None, contrasts, assumptions, notes, formula=formula)


def per_protocol_participants(data: TrialData, min_share: float = 0.75) -> list[ParticipantRecord]:
    """Participants who received at least ``min_share`` of the planned sessions (all of a no-session arm)."""
    return [p for p in data.participants
            if p.sessions_planned == 0 or p.sessions_attended >= min_share * p.sessions_planned]


def multiple_imputation(data: TrialData, m: int = 20, seed: int = 0) -> ModelResult:
    """ANCOVA at the primary visit after sequential regression imputation (MAR), pooled by Rubin's rules."""
    prot = data.protocol
    inst = prot.primary.instrument
    base_id = prot.baseline_visit().id
    visits = [v.id for v in sorted(prot.visits, key=lambda v: v.day) if inst in v.instruments and v.id != base_id
              and v.day > 0]
    pv = prot.primary.visit
    if pv not in visits:
        raise ConfigurationError("multiple imputation: the primary visit has no primary-instrument score")
    visits = visits[: visits.index(pv) + 1]
    arms = [a.id for a in prot.arms]
    exp, comp = prot.analysis.comparison
    ps = [p for p in data.participants if inst in p.baseline]
    n = len(ps)
    if n < 10:
        raise ConfigurationError("multiple imputation needs at least 10 participants")
    cols = [np.ones(n), np.array([p.baseline[inst] for p in ps], dtype=float)]
    names = ["const", "baseline"]
    for a in arms:
        if a != comp:
            cols.append(np.array([p.arm == a for p in ps], dtype=float))
            names.append(a)
    sites = sorted({p.site for p in ps})
    for s in sites[1:]:
        cols.append(np.array([p.site == s for p in ps], dtype=float))
        names.append(f"site:{s}")
    for f in prot.stratification:
        for lv in f.levels[1:]:
            c = np.array([p.strata.get(f.id) == lv for p in ps], dtype=float)
            if 0 < c.sum() < n:
                cols.append(c)
                names.append(f"{f.id}:{lv}")
    X0 = np.column_stack(cols)
    Y = np.array([[np.nan if p.score(v, inst) is None else p.score(v, inst) for v in visits] for p in ps],
                 dtype=float)
    rng = np.random.default_rng(seed)
    ests, variances = [], []
    for _ in range(m):
        Yi = Y.copy()
        for j in range(len(visits)):
            X = np.column_stack([X0, Yi[:, :j]]) if j else X0
            obs = ~np.isnan(Y[:, j])
            if obs.sum() <= X.shape[1] + 2:
                raise ConfigurationError(f"multiple imputation: too few observed scores at visit {visits[j]}")
            beta, _, _, _ = np.linalg.lstsq(X[obs], Y[obs, j], rcond=None)
            resid = Y[obs, j] - X[obs] @ beta
            dof = int(obs.sum() - X.shape[1])
            sigma2 = float(resid @ resid) / rng.chisquare(dof)
            xtx_inv = np.linalg.pinv(X[obs].T @ X[obs])
            b_draw = rng.multivariate_normal(beta, sigma2 * xtx_inv)
            miss = ~obs
            Yi[miss, j] = X[miss] @ b_draw + rng.normal(0.0, math.sqrt(sigma2), int(miss.sum()))
        y = Yi[:, -1]
        beta, _, _, _ = np.linalg.lstsq(X0, y, rcond=None)
        resid = y - X0 @ beta
        s2 = float(resid @ resid) / (n - X0.shape[1])
        cov = s2 * np.linalg.pinv(X0.T @ X0)
        ests.append(beta)
        variances.append(cov)
    qbar = np.mean(ests, axis=0)
    ubar = np.mean(variances, axis=0)
    bvar = np.cov(np.array(ests).T, ddof=1)
    total = ubar + (1 + 1 / m) * bvar
    params = pd.Series(qbar, index=[f"arm_c[T.{x}]" if x in arms else x for x in names])
    covdf = pd.DataFrame(total, index=params.index, columns=params.index)
    # Rubin's degrees of freedom for the primary contrast
    idx = list(params.index)
    vec = np.zeros(len(idx))
    if exp != comp:
        vec[idx.index(f"arm_c[T.{exp}]")] = 1.0
    b_c = float(vec @ bvar @ vec)
    u_c = float(vec @ ubar @ vec)
    r = (1 + 1 / m) * b_c / u_c if u_c > 0 else 0.0
    df_t = (m - 1) * (1 + 1 / r) ** 2 if r > 0 else 1e6
    contrasts = _contrasts(idx, params, covdf, arms, comp, _pairs(data), df_t=df_t)
    n_missing = int(np.isnan(Y[:, -1]).sum())
    return ModelResult(
        "multiple_imputation",
        f"ANCOVA at {data.protocol.visit_name(pv)} (arm, the baseline score, site and strata) after {m} sequential "
        "regression imputations "
        "(earlier visits as predictors), pooled by Rubin's rules",
        "all randomized with a baseline score", n, n * len(visits), contrasts[0], contrasts,
        ["missing scores missing at random given arm, baseline, site, strata and earlier visits",
         "normal linear imputation models with proper (posterior) parameter draws",
         f"{m} imputations; t-based 95 % CI with Rubin's degrees of freedom"],
        [f"{n_missing} of {n} primary-visit scores imputed"])


def responder_analysis(data: TrialData, sd: float | None = None, reliability: float | None = None) -> ResponderResult:
    """Reliable improvement (Jacobson-Truax RCI < -1.96) baseline -> primary visit, by arm; cost per responder."""
    prot = data.protocol
    inst = prot.primary.instrument
    sd_v, r_v = (sd, reliability) if sd is not None and reliability is not None else AQ_RELIABILITY
    if inst in ("phq9", "gad7", "pcl5") and sd is None:
        sd_v, r_v = 0.0, 0.0
    by_arm: dict[str, dict[str, float]] = {}
    for arm, ps in data.by_arm().items():
        n_obs = resp = 0
        cost = 0.0
        for p in ps:
            cost += sum(p.cost.values())
            after = p.score(prot.primary.visit, inst)
            before = p.baseline.get(inst)
            if after is None or before is None:
                continue
            n_obs += 1
            rc = (reliable_change(inst, before, after) if sd_v == 0.0 else
                  reliable_change(inst, before, after, sd=sd_v, reliability=r_v))
            resp += int(rc.improved)
        share = resp / n_obs if n_obs else float("nan")
        by_arm[arm] = {"randomized": len(ps), "with_primary_score": n_obs, "responders": resp,
                       "responder_share": round(share, 4), "total_cost": round(cost, 2),
                       "cost_per_participant": round(cost / len(ps), 2) if ps else float("nan"),
                       "cost_per_responder": round(cost / resp, 2) if resp else float("nan")}
    exp, comp = prot.analysis.comparison
    rd = None
    a, b = by_arm.get(exp), by_arm.get(comp)
    if a and b and a["with_primary_score"] and b["with_primary_score"]:
        p1, n1 = a["responder_share"], a["with_primary_score"]
        p2, n2 = b["responder_share"], b["with_primary_score"]
        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        d = p1 - p2
        z = d / se if se > 0 else float("nan")
        rd = Contrast(exp, comp, round(d, 4), (round(d - 1.96 * se, 4), round(d + 1.96 * se, 4)), round(se, 4),
                      round(float(2 * stats.norm.sf(abs(z))), 4) if se > 0 else float("nan"))
    return ResponderResult(
        f"reliable improvement on {label(inst)}: RCI < -1.96 from baseline to {prot.visit_name(prot.primary.visit)} "
        f"(SD {sd_v:g}, reliability {r_v:g})" if sd_v else f"reliable improvement on {label(inst)} (published norms)",
        by_arm, rd,
        ["complete cases at the primary visit (participants without the score are not counted)",
         f"reliability norms for the instrument: SD {sd_v:g}, r {r_v:g} (ASSUMPTION unless from your sample)",
         "risk difference with a Wald 95 % CI",
         "cost per responder = all recorded costs of the arm / responders; costs of usual care not recorded "
         "count as 0"])


def analyse_trial(data: TrialData, imputations: int = 20, seed: int = 0) -> TrialAnalysis:
    """Run the protocol's analysis plan: ITT mixed model, sensitivity analyses, responders and cost."""
    primary = fit_primary_model(data)
    pp = None
    if "per_protocol" in data.protocol.analysis.sensitivity:
        try:
            pp = fit_primary_model(data, per_protocol_participants(data), "per_protocol",
                                   "per protocol: >= 75 % of planned sessions received")
            pp.assumptions.append("per-protocol estimates are not protected by randomization (adherence may "
                                  "depend on prognosis)")
        except ConfigurationError as err:
            logger.warning("per-protocol analysis not possible: %s", err)
    mi = None
    if "multiple_imputation" in data.protocol.analysis.sensitivity and imputations > 0:
        try:
            mi = multiple_imputation(data, imputations, seed)
        except ConfigurationError as err:
            logger.warning("multiple imputation not possible: %s", err)
    return TrialAnalysis(primary, pp, mi, responder_analysis(data))
