"""ROC, reliability, decision-curve and per-subject plots as base64 PNG (so an HTML report opens on its own)."""

from __future__ import annotations

import base64
import io

import matplotlib
import matplotlib.figure  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from attunexr.models._metrics import reliability_curve  # noqa: E402

__all__ = ["decision_curve_png", "per_subject_png", "reliability_png", "roc_png"]


def _png(fig: matplotlib.figure.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def roc_png(pred: pd.DataFrame, title: str, baseline_score: np.ndarray | None = None) -> str:
    """Pooled ROC curve (and the elapsed-time baseline when given)."""
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    fpr, tpr, _ = roc_curve(pred["y"], pred["probability"])
    ax.plot(fpr, tpr, label="model", color="#1f5fa8", lw=2)
    if baseline_score is not None:
        ok = np.isfinite(baseline_score)
        f2, t2, _ = roc_curve(pred["y"][ok], baseline_score[ok])
        ax.plot(f2, t2, label="time in VR only", color="#b35806", lw=1.5, ls="--")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def reliability_png(pred: pd.DataFrame, title: str) -> str:
    """Reliability diagram: observed frequency vs. mean predicted probability per bin, with bin counts."""
    mean_p, freq, counts = reliability_curve(pred["y"].to_numpy(), pred["probability"].to_numpy(dtype=float))
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.plot(mean_p, freq, marker="o", color="#1f5fa8")
    for x, yv, n in zip(mean_p, freq, counts, strict=True):
        ax.annotate(str(int(n)), (x, yv), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(title, fontsize=10)
    return _png(fig)


def per_subject_png(per_subject: list[dict[str, object]], title: str) -> str:
    """Bar chart of per-subject AUROC (subjects with one class only are omitted)."""
    rows = [r for r in per_subject if r.get("auroc") is not None]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.18 * len(rows) + 1.5), 3.0))
    ax.bar([str(r["subject"]) for r in rows], [float(r["auroc"]) for r in rows], color="#1f5fa8")  # type: ignore[arg-type]
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_ylim(0, 1)
    ax.set_ylabel("AUROC")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    return _png(fig)


def decision_curve_png(curve: dict[str, list[float]], title: str) -> str:
    """Decision curve: net benefit of the model, of acting on every window and of acting on none."""
    t = np.asarray(curve["thresholds"])
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot(t, curve["model"], label="model", color="#1f5fa8", lw=2)
    ax.plot(t, curve["act_on_all"], label="act on every window", color="#b35806", lw=1.2, ls="--")
    ax.plot(t, curve["act_on_none"], label="act on none", color="grey", lw=0.8, ls=":")
    top = max(max(curve["model"]), max(curve["act_on_all"]), 0.01)
    ax.set_ylim(-0.05 * top - 0.01, top * 1.1)
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    return _png(fig)
