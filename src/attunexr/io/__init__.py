"""Readers and writers for real formats and datasets."""

from attunexr.io._bids import iter_bids, read_bids, read_bids_recording, read_participants, write_bids
from attunexr.io._bids_write import write_bids_all
from attunexr.io._bitalino import read_bitalino
from attunexr.io._csv import read_csv_signals
from attunexr.io._edf import read_edf, write_edf
from attunexr.io._empatica import read_empatica
from attunexr.io._paths import data_root, dataset_dir
from attunexr.io._vr import read_vr_session
from attunexr.io._xdf import read_xdf

__all__ = [
    "data_root",
    "dataset_dir",
    "iter_bids",
    "read_bids",
    "read_bids_recording",
    "read_bitalino",
    "read_csv_signals",
    "read_edf",
    "read_empatica",
    "read_participants",
    "read_vr_session",
    "read_xdf",
    "write_bids",
    "write_bids_all",
    "write_edf",
]
