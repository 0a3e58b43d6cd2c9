"""Plots and an HTML report of an in-silico policy comparison."""

from __future__ import annotations

import html
import json
import logging
import math
from pathlib import Path

import numpy as np

from attunexr.simulation._study import METRICS, StudyResult
from attunexr.words import describe, label

__all__ = ["write_report"]

logger = logging.getLogger(__name__)

DISCLAIMER = (
    "In-silico results are not clinical evidence. These figures come from virtual patients whose fear dynamics, "
    "habituation, sensitization, cybersickness and dropout are modelled assumptions (physiological response sizes "
    "and timing calibrated on Stress-Predict, healthy volunteers doing lab stress tasks). They show how policies "
    "behave under those assumptions and whether the safety rules hold; only clinical trials can show benefit."
)


def _plots(result: StudyResult, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.policies)
    files = []
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    sessions = np.arange(1, result.sessions + 1)
    for n in names:
        ps = result.per_session[n]
        axes[0].plot(sessions, ps["time_in_window"], marker="o", label=_policy(n))
        axes[1].plot(sessions, ps["overloads"], marker="o", label=_policy(n))
        axes[2].plot(sessions, ps["active"], marker="o", label=_policy(n))
    for ax, title in zip(axes, ("time in therapeutic window", "overload events per session",
                                "patients still in treatment"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("session")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "sessions.png", dpi=110)
    plt.close(fig)
    files.append("sessions.png")

    fig, axes = plt.subplots(len(names), 1, figsize=(12, 2.6 * len(names)), sharex=True, squeeze=False)
    lo, hi = result.config["therapeutic_window"]
    for ax, n in zip(axes[:, 0], names, strict=True):
        tr = result.traces[n]
        if not tr["t"]:
            continue
        t = np.asarray(tr["t"])[:, 0] / 60.0
        fear = np.asarray(tr["fear"])[:, 0]
        level = np.asarray(tr["level"])[:, 0]
        prob = np.asarray(tr["policy_arousal"])[:, 0]
        ax.axhspan(lo, hi, color="tab:green", alpha=0.12, label="therapeutic window (latent)")
        ax.plot(t, fear, lw=0.8, color="tab:red", label="latent fear (hidden from the policy)")
        ax.plot(t, prob, lw=0.8, color="tab:blue", label="estimated arousal, personally calibrated (what the policy sees)")
        ax2 = ax.twinx()
        ax2.step(t, level, where="post", color="k", lw=0.8, label="level")
        ax2.set_ylim(-0.5, 7.5)
        ax2.set_ylabel("level")
        ax.set_ylim(0, 1)
        ax.set_title(f"{_policy(n)}: virtual patient 0, all sessions back to back")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("minutes of exposure")
    fig.tight_layout()
    fig.savefig(out / "example_patient.png", dpi=110)
    plt.close(fig)
    files.append("example_patient.png")
    return files


_ALT = {"sessions.png": "time in window, overloads and patients in treatment per session",
        "example_patient.png": "one virtual patient's latent fear, estimated arousal and level over all sessions"}

#: The policies compared, as a reader names them.
POLICY_NAMES = {"fixed": "fixed schedule", "suds": "guided by SUDS", "arousal": "guided by estimated arousal (AI)"}


def _policy(name: str) -> str:
    return POLICY_NAMES.get(name, label(name))


def _number(value: object) -> str:
    """A figure of the tables: 4 significant digits, integers as they are, no Python reprs."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return html.escape(describe(value))


def _settings(value: object) -> str:
    """The protocol as nested tables with labels (not a JSON dump)."""
    if isinstance(value, dict):
        return "<table>" + "".join(f"<tr><th>{html.escape(label(str(k)))}</th><td>{_settings(v)}</td></tr>"
                                   for k, v in value.items() if k != "name") + "</table>"
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value) and len(value) == 2:
        return f"{_number(value[0])} to {_number(value[1])}"
    return _number(value) if isinstance(value, float) else html.escape(describe(value))


def write_report(result: StudyResult, out_dir: str | Path) -> Path:
    """Write ``report.html``, PNG plots and ``details.json`` into ``out_dir``; return the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = _plots(result, out)
    (out / "details.json").write_text(json.dumps({**result.to_json_dict(), "details": result.details,
                                                  "config": result.config}, indent=1, default=str))
    rows = "".join(
        "<tr><th>" + html.escape(_policy(n)) + "</th>"
        + "".join(f"<td>{_number(result.policies[n][m])}</td>" for m in METRICS) + "</tr>" for n in result.policies)
    drows = "".join(
        "<tr><th>" + html.escape(_policy(n)) + "</th>" + "".join(f"<td>{_number(v)}</td>" for v in d.values())
        + "</tr>" for n, d in result.details.items())
    dhead = "".join(f"<th>{html.escape(label(k))}</th>" for k in next(iter(result.details.values())))
    policies = {_policy(n): cfg for n, cfg in (result.config.get("policies") or {}).items()}
    protocol = _settings({**{k: v for k, v in result.config.items() if k != "policies"}, "policies": policies})
    lo, hi = result.config["therapeutic_window"]
    imgs = "".join(f'<p><img src="{f}" alt="{_ALT.get(f, "plot")}" style="max-width:100%"></p>' for f in files)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>attunexr in-silico policy comparison</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}} .warn{{background:#fff3cd;border:1px solid #e0c36b;padding:1em}}</style></head><body>
<h1>In-silico comparison of exposure policies</h1>
<p class="warn"><strong>Not clinical evidence.</strong> {html.escape(DISCLAIMER)}</p>
<p>{result.patients} virtual patients &times; {result.sessions} sessions, every policy on the same patients with the
same random draws (paired). Wall time {result.wall_s:.1f} s.</p>
<h2>Figures</h2><table><tr><th>policy</th>{''.join(f'<th>{html.escape(label(m))}</th>' for m in METRICS)}</tr>{rows}</table>
<p>Time in the therapeutic window: share of session time with latent fear between {lo} and {hi};
overload: latent fear above {result.config['overload_fear']} for {result.config['overload_min_s']} s;
escalations during signal loss: escalations applied while the sensors delivered nothing (must be 0).</p>
<h2>Details</h2><table><tr><th>policy</th>{dhead}</tr>{drows}</table>
<h2>Plots</h2>{imgs}
<h2>Protocol</h2>{protocol}
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    logger.info("wrote %s", path)
    return path
