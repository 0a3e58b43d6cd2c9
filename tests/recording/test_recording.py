import numpy as np
import pytest

from attunexr.errors import SignalError
from attunexr.recording import Interval, Recording, RecordingMeta, Stream


def _rec() -> Recording:
    rec = Recording(RecordingMeta(subject="p01", dataset="unit"))
    rec.add_stream(Stream.regular("eda", "eda", np.arange(40.0), rate=4.0))
    rec.add_stream(Stream.regular("bvp", "ppg", np.arange(640.0), rate=64.0, t0=0.5))
    rec.intervals.append(Interval(2.0, 4.0, "stroop"))
    return rec


def test_stream_rejects_unknown_kind_and_bad_timestamps() -> None:
    with pytest.raises(SignalError, match="unknown kind"):
        Stream.regular("x", "brainwaves", [1.0], rate=1.0)
    with pytest.raises(SignalError, match="non-decreasing"):
        Stream("x", "eda", np.array([1.0, 2.0]), np.array([1.0, 0.5]))
    with pytest.raises(SignalError, match="values but"):
        Stream("x", "eda", np.array([1.0, 2.0]), np.array([1.0]))


def test_crop_labels_and_chunks_cover_everything_once() -> None:
    rec = _rec()
    assert rec.t_start == 0.0 and rec.t_end == pytest.approx(10.5)
    cropped = rec.crop(1.0, 3.0)
    assert cropped.streams["eda"].n_samples == 8
    assert cropped.intervals == [Interval(2.0, 1.0, "stroop")]
    assert list(rec.label_at([1.0, 2.5, 6.0])) == [None, "stroop", None]
    assert rec.window_label(2.0, 5.0) == "stroop" and rec.window_label(0.0, 3.0) is None
    chunks = list(rec.iter_chunks(0.7))
    for name, stream in rec.streams.items():
        got = np.concatenate([c.values for c in chunks if c.stream == name])
        np.testing.assert_array_equal(got, stream.values)


def test_window_label_adds_up_split_intervals_and_prefers_inner_labels() -> None:
    rec = Recording(RecordingMeta(subject="p02"))
    rec.intervals += [
        Interval(0.0, 100.0, "vr"),
        Interval(0.0, 25.0, "not_sick"),
        Interval(25.0, 16.0, "sick"),
        Interval(41.0, 59.0, "not_sick"),
    ]
    # 25 s + 19 s of not_sick in a 60 s window: together more than half, although no single interval is.
    assert rec.window_label(0.0, 60.0) == "not_sick"
    assert rec.window_label(20.0, 45.0) == "sick"
    assert list(rec.label_at([30.0, 50.0])) == ["sick", "not_sick"]
