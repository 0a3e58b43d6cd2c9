"""Readers and writers for real formats and datasets."""

from attunexr.io._empatica import read_empatica
from attunexr.io._paths import data_root, dataset_dir

__all__ = ["data_root", "dataset_dir", "read_empatica"]
