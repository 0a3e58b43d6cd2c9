"""The public surface of attunexr.trials is deliberate."""

from __future__ import annotations

import attunexr.trials as trials


def test_all_is_complete_and_exact() -> None:
    assert sorted(trials.__all__) == sorted(set(trials.__all__))
    for name in trials.__all__:
        assert hasattr(trials, name), name
    public = {k for k, v in vars(trials).items() if not k.startswith("_") and not getattr(v, "__file__", None)}
    assert public <= set(trials.__all__), public - set(trials.__all__)
