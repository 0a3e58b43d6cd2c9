"""The CONSORT flow of a trial, computed from the conduct record, and its diagram (SVG/PDF via matplotlib)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attunexr.trials._data import TrialData

__all__ = ["ConsortFlow", "consort_flow", "write_flow_diagram"]


@dataclass
class ConsortFlow:
    """Numbers of the CONSORT 2025 flow diagram; ``allocated[a] = analysed[a] + sum(excluded_from_analysis[a])``."""

    assessed: int
    excluded_before: dict[str, int]
    randomized: int
    arms: dict[str, str]
    allocated: dict[str, int]
    received: dict[str, int]
    not_received: dict[str, dict[str, int]]
    discontinued: dict[str, dict[str, int]]
    lost: dict[str, dict[str, int]]
    analysed: dict[str, int]
    excluded_from_analysis: dict[str, dict[str, int]]

    def to_json_dict(self) -> dict[str, Any]:
        return {"enrolled": self.randomized, "allocated": self.allocated, "lost": self.lost,
                "analysed": self.analysed, "assessed_for_eligibility": self.assessed,
                "excluded_before_randomization": self.excluded_before,
                "received_allocated_intervention": self.received,
                "did_not_receive_allocated_intervention": self.not_received,
                "discontinued_intervention": self.discontinued,
                "excluded_from_analysis": self.excluded_from_analysis}

    def check(self) -> list[str]:
        """Inconsistencies (empty when every number adds up)."""
        out = []
        if sum(self.allocated.values()) != self.randomized:
            out.append(f"allocated {sum(self.allocated.values())} != randomized {self.randomized}")
        if self.assessed != self.randomized + sum(self.excluded_before.values()):
            out.append("assessed != randomized + excluded before randomization")
        for a, n in self.allocated.items():
            if n != self.analysed[a] + sum(self.excluded_from_analysis[a].values()):
                out.append(f"{a}: allocated {n} != analysed + excluded from analysis")
            if n != self.received[a] + sum(self.not_received[a].values()):
                out.append(f"{a}: allocated {n} != received + did not receive")
        return out


def consort_flow(data: TrialData) -> ConsortFlow:
    """Count the flow from the participants' records (analysed = in the primary ITT model)."""
    prot = data.protocol
    inst = prot.primary.instrument
    base_id = prot.baseline_visit().id
    arms = {a.id: a.name for a in prot.arms}
    by_arm = data.by_arm()
    received: dict[str, int] = {}
    not_received: dict[str, dict[str, int]] = {}
    discontinued: dict[str, dict[str, int]] = {}
    lost: dict[str, dict[str, int]] = {}
    analysed: dict[str, int] = {}
    excluded: dict[str, dict[str, int]] = {}
    for a, ps in by_arm.items():
        nr: Counter[str] = Counter()
        dc: Counter[str] = Counter()
        ls: Counter[str] = Counter()
        ex: Counter[str] = Counter()
        rec = an = 0
        for p in ps:
            if p.sessions_planned > 0 and p.sessions_attended == 0:
                nr[p.discontinued or "did not start allocated intervention"] += 1
            else:
                rec += 1
                if p.discontinued:
                    dc[p.discontinued] += 1
            if p.lost:
                ls[p.lost] += 1
            has = any(v.visit != base_id and inst in v.scores for v in p.visits)
            if has and inst in p.baseline:
                an += 1
            elif inst not in p.baseline:
                ex["no baseline score"] += 1
            else:
                ex[f"no post-baseline score ({p.lost or 'missed visits'})"] += 1
        received[a], analysed[a] = rec, an
        not_received[a], discontinued[a], lost[a], excluded[a] = dict(nr), dict(dc), dict(ls), dict(ex)
    before = Counter(s.reason for s in data.screened_out)
    return ConsortFlow(len(data.participants) + len(data.screened_out), dict(before), len(data.participants), arms,
                       data.allocated(), received, not_received, discontinued, lost, analysed, excluded)


def _lines(d: dict[str, int]) -> str:
    return "\n".join(f"  {k}: {v}" for k, v in sorted(d.items())) or "  none"


def write_flow_diagram(flow: ConsortFlow, path: str | Path) -> list[Path]:
    """Draw the CONSORT flow diagram to ``path`` (.svg) and a .pdf beside it; returns both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(flow.arms)
    k = len(arms)
    fig_w = max(9.0, 3.6 * k)
    fig, ax = plt.subplots(figsize=(fig_w, 11))
    ax.set_xlim(0, fig_w)
    ax.set_ylim(0, 11)
    ax.axis("off")
    box = {"boxstyle": "square,pad=0.4", "fc": "white", "ec": "black", "lw": 0.8}

    def text(x: float, y: float, s: str, **kw: Any) -> None:
        ax.text(x, y, s, ha="center", va="center", fontsize=7.5, bbox=box, family="DejaVu Sans", **kw)

    mid = fig_w / 2
    text(mid, 10.4, f"Assessed for eligibility (n = {flow.assessed})")
    text(mid + fig_w * 0.27, 9.5, f"Excluded (n = {sum(flow.excluded_before.values())})\n"
                                  + _lines(flow.excluded_before), multialignment="left")
    text(mid, 8.6, f"Randomized (n = {flow.randomized})")
    ax.annotate("", (mid, 8.85), (mid, 10.15), arrowprops={"arrowstyle": "->"})
    xs = [fig_w * (i + 0.5) / k for i in range(k)]
    for label, y in (("Allocation", 7.6), ("Follow-up", 5.4), ("Analysis", 2.6)):
        ax.text(0.05, y + 0.6, label, fontsize=9, weight="bold")
    for x, a in zip(xs, arms, strict=True):
        ax.annotate("", (x, 7.9), (mid, 8.35), arrowprops={"arrowstyle": "->"})
        nr = flow.not_received[a]
        text(x, 7.2, f"{flow.arms[a]}\nAllocated (n = {flow.allocated[a]})\n"
                     f"Received allocated intervention (n = {flow.received[a]})\n"
                     f"Did not receive (n = {sum(nr.values())})\n" + _lines(nr), multialignment="left")
        text(x, 4.9, f"Lost to follow-up (n = {sum(flow.lost[a].values())})\n" + _lines(flow.lost[a])
             + f"\nDiscontinued intervention (n = {sum(flow.discontinued[a].values())})\n"
             + _lines(flow.discontinued[a]), multialignment="left")
        ex = flow.excluded_from_analysis[a]
        # connectors between the stages (box half-heights from their line counts)
        h_alloc = 0.09 * (4 + max(len(nr), 1)) + 0.12
        h_fu = 0.09 * (2 + max(len(flow.lost[a]), 1) + max(len(flow.discontinued[a]), 1)) + 0.12
        h_an = 0.09 * (2 + max(len(ex), 1)) + 0.12
        ax.annotate("", (x, 4.9 + h_fu), (x, 7.2 - h_alloc), arrowprops={"arrowstyle": "->"})
        ax.annotate("", (x, 2.4 + h_an), (x, 4.9 - h_fu), arrowprops={"arrowstyle": "->"})
        text(x, 2.4, f"Analysed (n = {flow.analysed[a]})\nExcluded from analysis (n = {sum(ex.values())})\n"
             + _lines(ex), multialignment="left")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".svg"), bbox_inches="tight")
    fig.savefig(out.with_suffix(".pdf"), bbox_inches="tight")
    plt.close(fig)
    return [out.with_suffix(".svg"), out.with_suffix(".pdf")]
