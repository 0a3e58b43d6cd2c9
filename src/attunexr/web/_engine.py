"""The web app's built-in scenario levels, used when :mod:`attunexr.exposure` gives none for a scenario.

(The live runtime is :class:`attunexr.session.LiveSession` fed by :mod:`attunexr.sensors` sources; see
:mod:`attunexr.web._live`.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["default_levels"]


def default_levels(scenario: str) -> list[dict[str, Any]]:
    """The built-in exposure hierarchy of a scenario (used when :mod:`attunexr.exposure` gives none).

    Heights: floors of a glass-walled balcony; spiders: distance, size, movement, count; public speaking: audience
    size, attention and reactions. Level 0 is always the least demanding.
    """
    if scenario == "heights":
        floors = [1, 2, 4, 6, 10, 15, 20, 30]
        return [
            {"name": f"floor {f}", "floor": f, "height_m": round(3.2 * (f - 1), 1),
             "railing_distance_m": round(max(0.2, 2.0 - 0.25 * i), 2), "glass_floor": i >= 6}
            for i, f in enumerate(floors)
        ]
    if scenario == "spiders":
        spiders = [(4.0, 0.3, "still", 1), (3.0, 0.5, "still", 1), (2.0, 0.7, "crawl", 1), (1.5, 1.0, "crawl", 2),
                 (1.0, 1.2, "crawl", 3), (0.6, 1.5, "scurry", 3), (0.3, 1.8, "scurry", 5)]
        return [{"name": f"{c} spider{'s' if c > 1 else ''} at {d:g} m ({m})", "distance_m": d, "size": s,
                 "movement": m, "count": c} for d, s, m, c in spiders]
    if scenario == "public_speaking":
        audiences = [(0, "none", "none"), (3, "attentive", "neutral"), (8, "attentive", "neutral"),
                 (15, "mixed", "neutral"), (30, "mixed", "some bored"), (60, "distracted", "critical")]
        return [{"name": f"audience of {n}" if n else "empty room", "audience": n, "attention": a,
                 "reactions": r} for n, a, r in audiences]
    from attunexr.errors import ConfigurationError

    raise ConfigurationError(f"unknown scenario {scenario!r}; choose heights, spiders or public_speaking")
