"""The public surface of attunexr.signals is deliberate."""

from __future__ import annotations

import attunexr.signals as signals


def test_all_names_exist_and_are_documented() -> None:
    for name in signals.__all__:
        obj = getattr(signals, name)
        if callable(obj):
            assert obj.__doc__, name
    assert "BlockPeakDetector" in signals.__all__ and "signal_quality" in signals.__all__
    assert not [
        n for n in dir(signals) if not n.startswith("_") and n not in signals.__all__ and n[0].isupper()
    ]
