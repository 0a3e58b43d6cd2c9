"""Cue reactivity and habituation: per-cue responses to tables, linear mixed models, reliability.

The analysis that PTSD and phobia research reports (e.g. Pole 2007; Craske et al. 2008 on within- and
between-session habituation in exposure therapy):

* **event-locked averages** of skin conductance and heart rate per cue category;
* **within-session habituation**: the response as a function of the presentation index (0 = first cue of its
  category in the session), a linear mixed model with a random intercept per participant,
  ``response ~ index + category [* group] + (1 | participant)``; the slope is the change per presentation;
* **between-session habituation**: the response to the first cue of each category per session,
  ``response ~ session + category [* group] + (1 | participant)``;
* **fear activation** (the largest response of a session) and its **decline** from the first to the last
  presentation, model-based;
* **group and condition comparisons**: ``response ~ category * group + index + (1 | participant)``; for each
  category the group difference with a Wald 95 % CI and a standardized effect size (difference over the total
  SD of the model: residual plus participant variance, treated as known when its CI is formed);
* **per-person reactivity** (the mean response to the target category, minus the reference category when one
  is given) with **split-half reliability** (odd vs even presentations, Spearman-Brown corrected, bootstrap CI
  over participants), so a clinician knows how far one person's number can be trusted.

Responses that could not be scored are kept in the table with their reason and left out of the models, and the
counts say how many. Models are fitted by REML with statsmodels ``MixedLM``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from attunexr.errors import ConfigurationError
from attunexr.features import (
    CUE_RESPONSE_MEASURES,
    Cue,
    CueResponse,
    CueRules,
    cues_from_recording,
    score_cues,
)
from attunexr.recording import Recording

__all__ = ["ReactivityResult", "analyse_reactivity", "responses_table"]

logger = logging.getLogger(__name__)

#: measures analysed by default (skin-conductance response amplitude, mean heart-rate change)
DEFAULT_MEASURES = ("scr_amplitude", "sc_change", "hr_change_mean")

_Z = 1.959963984540054


@dataclass
class ReactivityResult:
    """Everything the analysis found; :meth:`to_dict` is the JSON contract."""

    responses: pd.DataFrame
    rules: CueRules
    measures: tuple[str, ...]
    categories: tuple[str, ...]
    target: str
    reference: str | None
    group_by: str | None
    counts: dict[str, Any] = field(default_factory=dict)
    event_locked: dict[str, Any] = field(default_factory=dict)
    habituation: dict[str, Any] = field(default_factory=dict)
    between_sessions: dict[str, Any] = field(default_factory=dict)
    fear_activation: dict[str, Any] = field(default_factory=dict)
    comparisons: dict[str, Any] = field(default_factory=dict)
    reliability: dict[str, Any] = field(default_factory=dict)
    per_person: pd.DataFrame = field(default_factory=pd.DataFrame)
    assumptions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _clean(
            {
                "measures": {m: CUE_RESPONSE_MEASURES[m] for m in self.measures},
                "categories": list(self.categories),
                "target": self.target,
                "reference": self.reference,
                "group_by": self.group_by,
                "rules": {
                    "pre_s": self.rules.pre,
                    "post_s": self.rules.post,
                    "scr_latency_s": list(self.rules.scr_latency),
                    "scr_rise_s": self.rules.scr_rise,
                    "scr_min_amplitude_uS": self.rules.scr_min_amplitude,
                    "min_coverage": self.rules.min_coverage,
                },
                "counts": self.counts,
                "habituation": self.habituation,
                "between_sessions": self.between_sessions,
                "fear_activation": self.fear_activation,
                "comparisons": self.comparisons,
                "reliability": self.reliability,
                "per_person": self.per_person.to_dict(orient="records"),
                "event_locked": self.event_locked,
                "assumptions": self.assumptions,
                "notes": self.notes,
            }
        )
        return out


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf to None, numpy scalars to Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if obj is pd.NA or obj is None:
        return None
    return obj


# --- tables -------------------------------------------------------------------------------------------------
def responses_table(
    recordings: Sequence[Recording],
    categories: Sequence[str] | None = None,
    rules: CueRules | None = None,
    cues: Mapping[int, Sequence[Cue]] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every cue of every recording: one row per cue, and the mean event-locked traces.

    ``cues`` maps a recording's position in ``recordings`` to its cue list; by default the cues are the
    recording's interval onsets and events whose labels are in ``categories``.
    """
    rules = rules or CueRules()
    rows: list[dict[str, Any]] = []
    traces: dict[tuple[str, str], list[np.ndarray]] = {}
    sessions = _session_numbers(recordings)
    for pos, rec in enumerate(recordings):
        cue_list = list(cues[pos]) if cues is not None and pos in cues else cues_from_recording(rec, categories)
        for r in score_cues(rec, cue_list, rules):
            rows.append(_row(rec, r, sessions[pos]))
            for sig, tr in r.traces.items():
                traces.setdefault((r.cue.category, sig), []).append(tr)
    table = pd.DataFrame(rows, columns=_COLUMNS)
    grid = np.arange(-rules.pre, rules.post + 1e-9, rules.trace_step)
    locked: dict[str, Any] = {"t": grid.round(3).tolist()}
    for (cat, sig), trs in sorted(traces.items()):
        arr = np.vstack(trs)
        n = np.sum(np.isfinite(arr), axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(arr, axis=0)
            sem = np.nanstd(arr, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
        locked.setdefault(cat, {})[sig] = {"mean": mean.tolist(), "sem": sem.tolist(), "n": int(arr.shape[0])}
    return table, locked


_COLUMNS = [
    "participant", "session", "session_number", "cue_id", "category", "onset", "index", "scorable", "quality",
    *CUE_RESPONSE_MEASURES,
]


def _session_numbers(recordings: Sequence[Recording]) -> list[int]:
    """1-based session order per participant (numeric session labels in order, else order of appearance)."""
    by_person: dict[str, list[tuple[Any, int]]] = {}
    for pos, rec in enumerate(recordings):
        label = rec.meta.session or "1"
        key: Any = (0, float(label)) if _is_number(label) else (1, label)
        by_person.setdefault(rec.meta.subject, []).append((key, pos))
    out = [1] * len(recordings)
    for items in by_person.values():
        for rank, (_, pos) in enumerate(sorted(items), start=1):
            out[pos] = rank
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _row(rec: Recording, r: CueResponse, session_number: int) -> dict[str, Any]:
    return {
        "participant": rec.meta.subject,
        "session": rec.meta.session or "1",
        "session_number": session_number,
        "cue_id": r.cue.cue_id,
        "category": r.cue.category,
        "onset": r.cue.onset,
        "index": r.index,
        "scorable": r.scorable,
        "quality": "; ".join(f"{k}: {v}" for k, v in sorted(r.quality.items())),
        **r.measures(),
    }


# --- models -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Fit:
    """Fixed effects, their covariance and the variance components of one fitted model."""

    params: pd.Series
    cov: pd.DataFrame
    residual_variance: float
    participant_variance: float
    formula: str
    kind: str

    @property
    def description(self) -> str:
        if self.kind == "mixed":
            return f"{self.formula} + (1 | participant), REML"
        if self.kind == "ols-one-person":
            return f"{self.formula}, OLS over one person's cues"
        return f"{self.formula}, OLS with participant-clustered SEs (participant variance estimated as 0)"


def _fit(formula: str, data: pd.DataFrame) -> _Fit | None:
    """REML MixedLM with a random intercept per participant; None when it cannot be fitted.

    When the participant variance is estimated at zero (the mixed model is singular, as for baseline-corrected
    responses with no lasting person differences) the model is refitted by ordinary least squares with
    standard errors clustered by participant, and the result says so.
    """
    n_people = data["participant"].nunique()
    if n_people == 1 and len(data) >= 4:  # one person's session: responses over presentations, plain OLS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                one = smf.ols(formula, data).fit()
            except (ValueError, np.linalg.LinAlgError):
                return None
        if not np.all(np.isfinite(one.params.to_numpy())) or not np.all(np.isfinite(one.bse.to_numpy())):
            return None
        return _Fit(one.params, one.cov_params(), float(one.scale), 0.0, formula, "ols-one-person")
    if n_people < 3 or len(data) < 6:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = smf.mixedlm(formula, data, groups=data["participant"]).fit(reml=True, method=["lbfgs", "powell"])
            re_var = float(np.asarray(fit.cov_re)[0, 0])
            names = list(fit.fe_params.index)
            out = _Fit(fit.fe_params, fit.cov_params().loc[names, names], float(fit.scale), re_var, formula, "mixed")
            if np.all(np.isfinite(out.params.to_numpy())) and np.all(np.isfinite(out.cov.to_numpy())) and re_var > 1e-12:
                return out
        except (ValueError, np.linalg.LinAlgError) as err:
            logger.info("mixed model %s singular or not fitted (%s); using clustered OLS", formula, err)
        try:
            codes = pd.factorize(data["participant"])[0]
            ols = smf.ols(formula, data).fit(cov_type="cluster", cov_kwds={"groups": codes})
        except (ValueError, np.linalg.LinAlgError) as err:
            logger.info("model %s not fitted: %s", formula, err)
            return None
    if not np.all(np.isfinite(ols.params.to_numpy())):
        return None
    return _Fit(ols.params, ols.cov_params(), float(ols.scale), 0.0, formula, "ols-clustered")


def _contrast(fit: _Fit, weights: Mapping[str, float]) -> dict[str, Any]:
    names = [n for n in weights if n in fit.params.index]
    if not names:
        return {"value": None, "ci": [None, None], "p": None}
    w = np.array([weights[n] for n in names])
    value = float(w @ fit.params[names].to_numpy())
    cov = fit.cov.loc[names, names].to_numpy()
    se = float(math.sqrt(max(w @ cov @ w, 0.0)))
    p = float(math.erfc(abs(value / se) / math.sqrt(2))) if se > 0 else None
    return {"value": value, "ci": [value - _Z * se, value + _Z * se], "se": se, "p": p}


def _total_sd(fit: _Fit) -> float:
    return float(math.sqrt(fit.residual_variance + fit.participant_variance))


def _term(name: str, level: str) -> str:
    return f"C({name}, Treatment(reference={level!r}))"


def _design(
    measure: str, categories: Sequence[str], reference_cat: str, group_levels: Sequence[str] | None, extra: str
) -> str:
    rhs = []
    if len(categories) > 1:
        rhs.append(_term("category", reference_cat))
    if group_levels is not None:
        g = _term("group", group_levels[0])
        rhs = [f"{rhs[0]} * {g}"] if rhs else [g]
    rhs.append(extra)
    return f"{measure} ~ " + " + ".join(rhs)


def _category_name(cat: str, ref: str) -> str:
    return f"{_term('category', ref)}[T.{cat}]"


def _group_name(level: str, ref: str) -> str:
    return f"{_term('group', ref)}[T.{level}]"


def _habituation(data: pd.DataFrame, measure: str, cats: Sequence[str], ref: str, groups: Sequence[str] | None,
                 fit: _Fit | None) -> dict[str, Any]:
    d = data.dropna(subset=[measure])
    out: dict[str, Any] = {"n_responses": len(d), "n_participants": int(d["participant"].nunique())}
    if d["index"].nunique() < 2:
        out["slope"] = None
        out["note"] = "each category was presented once per session: no within-session habituation to estimate"
        return out
    if fit is None:
        out["slope"] = None
        out["note"] = "too few scorable responses or participants for the mixed model"
        return out
    slope = _contrast(fit, {"index": 1.0})
    out["slope"] = slope
    out["model"] = fit.description
    per_cat: dict[str, Any] = {}
    for cat in cats:
        sub = d[d["category"] == cat]
        if sub["index"].nunique() < 2:
            per_cat[cat] = None
            continue
        f = _fit(_design(measure, [cat], cat, groups if groups and sub["group"].nunique() > 1 else None, "index"), sub)
        per_cat[cat] = _contrast(f, {"index": 1.0}) if f is not None else None
    out["slope_by_category"] = per_cat
    per_person = []
    for (pid, ses), sub in d.groupby(["participant", "session_number"]):
        if sub["index"].nunique() >= 3:
            b = np.polyfit(sub["index"].to_numpy(float), sub[measure].to_numpy(float), 1)[0]
            per_person.append({"participant": pid, "session_number": int(ses), "slope": float(b)})
    out["per_person_slopes"] = per_person
    return out


def _between(data: pd.DataFrame, measure: str, cats: Sequence[str], ref: str, groups: Sequence[str] | None,
             ) -> dict[str, Any] | None:
    first = data[data["index"] == 0].dropna(subset=[measure])
    if first["session_number"].nunique() < 2:
        return None
    fit = _fit(_design(measure, cats, ref, groups, "session_number"), first)
    if fit is None:
        return {"slope": None, "note": "too few first-cue responses for the mixed model"}
    return {
        "slope": _contrast(fit, {"session_number": 1.0}),
        "n_sessions": int(first["session_number"].nunique()),
        "model": fit.description,
        "means_by_session": {
            str(int(k)): float(v) for k, v in first.groupby("session_number")[measure].mean().items()
        },
    }


def _activation(data: pd.DataFrame, measure: str, target: str, hab: Mapping[str, Any]) -> dict[str, Any]:
    d = data[data["category"] == target].dropna(subset=[measure])
    if d.empty:
        return {}
    peaks = d.groupby(["participant", "session_number"])[measure].max()
    first = d[d["index"] == 0][measure].mean()
    last_index = int(d["index"].max())
    out: dict[str, Any] = {
        "peak_mean": float(peaks.mean()),
        "first_presentation_mean": float(first),
        "last_index": last_index,
    }
    slope = (hab.get("slope_by_category") or {}).get(target) or hab.get("slope")
    if last_index > 0 and slope and slope.get("value") is not None and math.isfinite(first) and first != 0:
        change = slope["value"] * last_index
        out["decline_percent"] = -100.0 * change / float(first)
        out["decline_percent_ci"] = sorted(-100.0 * c * last_index / float(first) for c in slope["ci"])
    return out


def _comparisons(data: pd.DataFrame, measure: str, cats: Sequence[str], groups: Sequence[str] | None,
                 fit: _Fit | None, ref: str) -> dict[str, Any]:
    d = data.dropna(subset=[measure])
    if fit is None:
        return {"note": "too few scorable responses or participants for the mixed model"}
    sd = _total_sd(fit)
    out: dict[str, Any] = {
        "model": fit.description,
        "n_responses": len(d),
        "n_participants": int(d["participant"].nunique()),
        "total_sd": sd,
        "participant_variance": fit.participant_variance,
        "residual_variance": fit.residual_variance,
    }
    if len(cats) > 1:
        out["category_vs_reference"] = {
            cat: _with_d(_contrast(fit, {_category_name(cat, ref): 1.0}), sd) for cat in cats if cat != ref
        }
    if groups is not None:
        g0 = groups[0]
        diffs: dict[str, Any] = {}
        for level in groups[1:]:
            by_cat = {}
            for cat in cats:
                w = {_group_name(level, g0): 1.0}
                if cat != ref and len(cats) > 1:
                    w[f"{_category_name(cat, ref)}:{_group_name(level, g0)}"] = 1.0
                by_cat[cat] = _with_d(_contrast(fit, w), sd)
            diffs[f"{level} - {g0}"] = by_cat
        out["group_difference"] = diffs
        if len(cats) > 1:
            out["interaction"] = {
                f"({cat} - {ref}) x ({level} - {g0})": _contrast(
                    fit, {f"{_category_name(cat, ref)}:{_group_name(level, g0)}": 1.0}
                )
                for level in groups[1:]
                for cat in cats
                if cat != ref
            }
    return out


def _with_d(c: dict[str, Any], sd: float) -> dict[str, Any]:
    if c.get("value") is None or not sd > 0:
        return c
    return {**c, "d": c["value"] / sd, "d_ci": [c["ci"][0] / sd, c["ci"][1] / sd]}


def _person_scores(data: pd.DataFrame, measure: str, target: str, reference: str | None) -> pd.DataFrame:
    d = data.dropna(subset=[measure])
    t = d[d["category"] == target].groupby("participant")[measure].agg(["mean", "count"])
    out = pd.DataFrame({"participant": t.index, "target_mean": t["mean"].to_numpy(), "n_target": t["count"].to_numpy()})
    if reference is not None:
        r = d[d["category"] == reference].groupby("participant")[measure].mean()
        out["reference_mean"] = out["participant"].map(r)
        out["reactivity"] = out["target_mean"] - out["reference_mean"]
    else:
        out["reactivity"] = out["target_mean"]
    out.insert(1, "measure", measure)
    return out


def _half_score(d: pd.DataFrame, measure: str, target: str, reference: str | None, parity: int) -> pd.Series:
    h = d[d["index"] % 2 == parity]
    s = h[h["category"] == target].groupby("participant")[measure].mean()
    if reference is not None:
        s = s - h[h["category"] == reference].groupby("participant")[measure].mean()
    return s


def _reliability(data: pd.DataFrame, measure: str, target: str, reference: str | None, seed: int = 0,
                 n_boot: int = 500) -> dict[str, Any]:
    d = data.dropna(subset=[measure])
    odd = _half_score(d, measure, target, reference, 1)
    even = _half_score(d, measure, target, reference, 0)
    both = pd.concat([odd.rename("odd"), even.rename("even")], axis=1).dropna()
    n = len(both)
    if n < 5 or both["odd"].std() == 0 or both["even"].std() == 0:
        return {"n_participants": n, "spearman_brown": None, "note": "fewer than 5 people with both halves"}

    def sb(a: np.ndarray, b: np.ndarray) -> float:
        r = float(np.corrcoef(a, b)[0, 1])
        return 2 * r / (1 + r) if r > -1 else math.nan

    a, b = both["odd"].to_numpy(), both["even"].to_numpy()
    r = float(np.corrcoef(a, b)[0, 1])
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if np.std(a[idx]) > 0 and np.std(b[idx]) > 0:
            boots.append(sb(a[idx], b[idx]))
    lo, hi = np.nanpercentile(boots, [2.5, 97.5]) if boots else (math.nan, math.nan)
    return {
        "n_participants": n,
        "split": "odd vs even presentations",
        "r_halves": r,
        "spearman_brown": sb(a, b),
        "ci": [float(lo), float(hi)],
    }


# --- entry point --------------------------------------------------------------------------------------------
def analyse_reactivity(
    recordings: Sequence[Recording],
    categories: Sequence[str],
    *,
    rules: CueRules | None = None,
    participants: pd.DataFrame | None = None,
    group_by: str | None = None,
    target: str | None = None,
    reference: str | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    cues: Mapping[int, Sequence[Cue]] | None = None,
    table: pd.DataFrame | None = None,
    event_locked: dict[str, Any] | None = None,
) -> ReactivityResult:
    """Score the cues of ``recordings`` and analyse responses, habituation, comparisons and reliability.

    Parameters
    ----------
    categories
        Cue categories to analyse (interval or event labels), e.g. ``["trauma", "neutral"]``. The first is the
        *target* unless ``target`` is given; ``reference`` (default: the last category when there are several)
        is the comparison category.
    participants
        A table with a ``participant_id`` column (BIDS ``participants.tsv``) holding ``group_by``.
    group_by
        Column of ``participants`` whose values are the groups to compare (e.g. ``group``: patient/control).
    table, event_locked
        Responses already scored (from :func:`responses_table`), to analyse them again without rescoring.
    """
    rules = rules or CueRules()
    cats = [c for c in dict.fromkeys(categories)]
    if not cats:
        raise ConfigurationError("name at least one cue category to analyse (e.g. --cues trauma,neutral)")
    bad = [m for m in measures if m not in CUE_RESPONSE_MEASURES]
    if bad:
        raise ConfigurationError(f"unknown response measure(s) {bad}; use some of {list(CUE_RESPONSE_MEASURES)}")
    target = target or cats[0]
    if target not in cats:
        raise ConfigurationError(f"target category {target!r} is not among the cue categories {cats}")
    reference = reference if reference is not None else (cats[-1] if len(cats) > 1 and cats[-1] != target else None)
    if table is None:
        table, event_locked = responses_table(recordings, cats, rules, cues)
    table = table[table["category"].isin(cats)].copy()
    notes: list[str] = []
    found = set(table["category"])
    missing = [c for c in cats if c not in found]
    if missing:
        notes.append(f"no cue of category {', '.join(missing)} was found in the recordings")
    cats = [c for c in cats if c in found]
    if not cats:
        raise ConfigurationError(
            f"none of the cue categories {list(categories)} occurs in the recordings' events or intervals"
        )
    if target not in cats:
        target = cats[0]
    groups: list[str] | None = None
    if group_by is not None:
        table["group"] = _groups(table, participants, group_by)
        n_unknown = int(table["group"].isna().sum())
        if n_unknown:
            notes.append(f"{n_unknown} responses of participants without a {group_by!r} value are left out")
            table = table.dropna(subset=["group"])
        groups = sorted(table["group"].unique().tolist())
        if len(groups) < 2:
            raise ConfigurationError(f"--group-by {group_by!r} has fewer than two groups among the participants")
    ref_cat = reference if reference in cats else cats[0]
    result = ReactivityResult(
        responses=table,
        rules=rules,
        measures=tuple(measures),
        categories=tuple(cats),
        target=target,
        reference=reference if reference in cats else None,
        group_by=group_by,
        event_locked=event_locked or {},
        notes=notes,
    )
    result.counts = _counts(table, measures)
    persons = []
    for m in measures:
        scored = table.dropna(subset=[m])
        need = min(3, int(table["participant"].nunique()))
        thin = [
            c for c in cats
            if scored.loc[scored["category"] == c, "participant"].nunique() < need
            or int((scored["category"] == c).sum()) < 3
        ]
        main = None
        if thin:
            result.notes.append(f"{m}: too few scored responses to {', '.join(thin)} (at least 3, from at least "
                                f"{need} participant(s)); no model fitted for this measure")
        else:
            extra = "index" if scored["index"].nunique() > 1 else "1"
            main = _fit(_design(m, cats, ref_cat, groups, extra), scored)
        hab = _habituation(table, m, cats, ref_cat, groups, main)
        result.habituation[m] = hab
        between = _between(table, m, cats, ref_cat, groups)
        if between is not None:
            result.between_sessions[m] = between
        result.fear_activation[m] = _activation(table, m, target, hab)
        result.comparisons[m] = _comparisons(table, m, cats, groups, main, ref_cat)
        result.reliability[m] = _reliability(table, m, target, result.reference)
        persons.append(_person_scores(table, m, target, result.reference))
    result.per_person = pd.concat(persons, ignore_index=True) if persons else pd.DataFrame()
    result.assumptions = [
        "Linear mixed models (REML) with a random intercept per participant; residuals assumed normal and "
        "independent given the participant; habituation assumed linear in the presentation index.",
        "Confidence intervals are Wald intervals (estimate +/- 1.96 SE) from the model's covariance.",
        "Effect sizes d divide a difference by the model's total SD (residual plus participant variance), "
        "treated as known when the CI of d is formed.",
        "Responses that could not be scored are left out of the models (missing at random given the model's "
        "terms); non-responses (rise below the minimum amplitude) count as 0 in scr_amplitude.",
        "Split-half reliability: odd vs even presentations, Spearman-Brown corrected, percentile bootstrap CI "
        "over participants (500 resamples).",
    ]
    return result


def _groups(table: pd.DataFrame, participants: pd.DataFrame | None, column: str) -> pd.Series:
    if participants is None or column not in participants.columns:
        have = [] if participants is None else [c for c in participants.columns if c != "participant_id"]
        raise ConfigurationError(
            f"--group-by {column!r}: no such column in participants.tsv (columns: {', '.join(have) or 'none'})"
        )
    ids = participants["participant_id"].astype(str).str.removeprefix("sub-")
    mapping = dict(zip(ids, participants[column].astype(str), strict=True))
    values = table["participant"].astype(str).str.removeprefix("sub-").map(mapping)
    return values.where(~values.isin(["n/a", "nan", ""]))


def _counts(table: pd.DataFrame, measures: Sequence[str]) -> dict[str, Any]:
    n = len(table)
    out: dict[str, Any] = {
        "cues": n,
        "participants": int(table["participant"].nunique()),
        "sessions": int(table.groupby(["participant", "session"]).ngroups) if n else 0,
        "by_category": {str(k): int(v) for k, v in table["category"].value_counts().sort_index().items()},
        "scorable_any": int(table["scorable"].sum()) if n else 0,
    }
    out["scorable_share"] = {
        m: (float(table[m].notna().mean()) if n else None) for m in measures
    }
    out["scored"] = {m: int(table[m].notna().sum()) for m in measures}
    reasons = table.loc[table["quality"] != "", "quality"].value_counts().head(10)
    out["unscored_reasons"] = {str(k): int(v) for k, v in reasons.items()}
    return out
