"""Core data model: streams, recordings, live chunks, events and labelled intervals on one clock in seconds."""

from attunexr.recording._chunk import Chunk
from attunexr.recording._recording import Event, Interval, Recording, RecordingMeta
from attunexr.recording._stream import STREAM_KINDS, Stream

__all__ = ["STREAM_KINDS", "Chunk", "Event", "Interval", "Recording", "RecordingMeta", "Stream"]
