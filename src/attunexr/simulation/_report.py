"""Plots and an HTML report of an in-silico policy comparison."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import numpy as np

from attunexr.simulation._study import METRICS, StudyResult

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
        axes[0].plot(sessions, ps["time_in_window"], marker="o", label=n)
        axes[1].plot(sessions, ps["overloads"], marker="o", label=n)
        axes[2].plot(sessions, ps["active"], marker="o", label=n)
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
        ax.set_title(f"{n}: virtual patient 0, all sessions back to back")
    axes[0, 0].legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("minutes of exposure")
    fig.tight_layout()
    fig.savefig(out / "example_patient.png", dpi=110)
    plt.close(fig)
    files.append("example_patient.png")
    return files


def write_report(result: StudyResult, out_dir: str | Path) -> Path:
    """Write ``report.html``, PNG plots and ``details.json`` into ``out_dir``; return the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = _plots(result, out)
    (out / "details.json").write_text(json.dumps({**result.to_json_dict(), "details": result.details,
                                                  "config": result.config}, indent=1, default=str))
    rows = "".join(
        "<tr><th>" + html.escape(n) + "</th>" + "".join(f"<td>{result.policies[n][m]}</td>" for m in METRICS)
        + "</tr>" for n in result.policies)
    drows = "".join(
        "<tr><th>" + html.escape(n) + "</th>" + "".join(f"<td>{v}</td>" for v in d.values()) + "</tr>"
        for n, d in result.details.items())
    dhead = "".join(f"<th>{html.escape(k)}</th>" for k in next(iter(result.details.values())))
    imgs = "".join(f'<p><img src="{f}" alt="{f}" style="max-width:100%"></p>' for f in files)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>attunexr in-silico policy comparison</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}} .warn{{background:#fff3cd;border:1px solid #e0c36b;padding:1em}}</style></head><body>
<h1>In-silico comparison of exposure policies</h1>
<p class="warn"><strong>Not clinical evidence.</strong> {html.escape(DISCLAIMER)}</p>
<p>{result.patients} virtual patients &times; {result.sessions} sessions, every policy on the same patients with the
same random draws (paired). Wall time {result.wall_s:.1f} s.</p>
<h2>Figures</h2><table><tr><th>policy</th>{''.join(f'<th>{m}</th>' for m in METRICS)}</tr>{rows}</table>
<p>time_in_window: share of session time with latent fear inside {result.config['therapeutic_window']};
overload: latent fear above {result.config['overload_fear']} for {result.config['overload_min_s']} s;
escalations_during_signal_loss: escalations applied while the sensors delivered nothing (must be 0).</p>
<h2>Details</h2><table><tr><th>policy</th>{dhead}</tr>{drows}</table>
<h2>Plots</h2>{imgs}
<h2>Protocol</h2><pre>{html.escape(json.dumps(result.config, indent=1, default=str))}</pre>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    logger.info("wrote %s", path)
    return path
