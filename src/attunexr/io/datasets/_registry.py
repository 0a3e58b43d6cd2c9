"""The dataset registry: what each dataset is, where it comes from, and how to get it."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from attunexr.errors import ConfigurationError, DatasetNotFoundError
from attunexr.io._paths import data_root
from attunexr.recording import Recording

__all__ = ["Dataset", "DatasetCard", "get_dataset", "list_datasets", "load_recordings", "register"]

logger = logging.getLogger(__name__)

#: Seconds a ``git clone`` may take before ``download`` gives up.
DOWNLOAD_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class DatasetCard:
    """Static facts about a dataset: provenance, licence, signals and labels.

    ``n_subjects`` counts distinct people (duplicated folders removed).
    """

    name: str
    title: str
    folder: str
    origin: str
    git_url: str
    licence: str
    citation: str
    n_subjects: int
    signals: dict[str, str]
    labels: dict[str, str]
    caveats: tuple[str, ...] = ()
    site: str = ""
    population: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Dataset(ABC):
    """A real dataset on disk, read through one adapter.

    Subclasses set :attr:`card` and implement :meth:`subjects` and :meth:`load`. Data is found under
    ``data_dir`` (``--data-dir``), then ``ATTUNEXR_DATA``, then ``../shared/data`` beside the checkout.
    """

    card: DatasetCard

    @property
    def name(self) -> str:
        return self.card.name

    # --- locating the data ---------------------------------------------------------------------------
    def how_to_get(self) -> str:
        return (
            f"Get it with `attunexr datasets download {self.name} --dest DIR` (git clone of {self.card.git_url}) "
            f"and point attunexr at DIR with --data-dir DIR or ATTUNEXR_DATA=DIR."
        )

    def root(self, data_dir: str | Path | None = None) -> Path:
        """The dataset folder, or :class:`DatasetNotFoundError` saying where it comes from and how to get it."""
        base = data_root(data_dir)
        path = base / self.card.folder
        if not path.is_dir():
            raise DatasetNotFoundError(
                f"dataset {self.name!r} not found: folder {path} does not exist. "
                f"It comes from {self.card.origin} ({self.card.licence}). {self.how_to_get()}"
            )
        return path

    def available(self, data_dir: str | Path | None = None) -> bool:
        try:
            self.root(data_dir)
        except DatasetNotFoundError:
            return False
        return True

    # --- content ------------------------------------------------------------------------------------
    @abstractmethod
    def subjects(self, data_dir: str | Path | None = None) -> list[str]:
        """Subject ids of the distinct people in the dataset, in a stable order."""

    @abstractmethod
    def load(self, subject: str, data_dir: str | Path | None = None) -> Recording:
        """Read one subject's session as a :class:`Recording` with labelled intervals."""

    def load_sessions(self, subject: str, data_dir: str | Path | None = None) -> list[Recording]:
        """Every recording of one subject (default: the one session :meth:`load` reads)."""
        return [self.load(subject, data_dir)]

    #: Subject descriptors recorded before the session (name -> meaning) that :meth:`subject_metadata` returns.
    metadata_variables: ClassVar[dict[str, str]] = {}

    def subject_metadata(self, data_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
        """Values of :attr:`metadata_variables` by subject (for subgroup results); empty when there are none."""
        return {}

    def _check_subject(self, subject: str, data_dir: str | Path | None) -> None:
        known = self.subjects(data_dir)
        if subject not in known:
            raise ConfigurationError(
                f"dataset {self.name!r} has no subject {subject!r}; known subjects: {', '.join(known)}"
            )

    def summary(self, data_dir: str | Path | None = None) -> dict[str, Any]:
        """One JSON-ready object for ``attunexr datasets list``."""
        card = self.card
        return {
            "name": card.name,
            "title": card.title,
            "n_subjects": card.n_subjects,
            "n_sessions": int(card.extra.get("n_sessions", card.n_subjects)),
            "signals": sorted(card.signals),
            "labels": sorted(card.labels),
            "licence": card.licence,
            "citation": card.citation,
            "origin": card.origin,
            "available": self.available(data_dir),
            "path": str(data_root(data_dir) / card.folder),
        }

    def info(self, data_dir: str | Path | None = None) -> dict[str, Any]:
        """Details for ``attunexr datasets info``: the card plus what is measured on disk."""
        card = self.card
        return {
            **self.summary(data_dir),
            "site": card.site,
            "population": card.population,
            "signal_rates": dict(card.signals),
            "label_meanings": dict(card.labels),
            "caveats": list(card.caveats),
            "subjects": self.subjects(data_dir),
        }

    def n_sessions(self, data_dir: str | Path | None = None) -> int:
        """Sessions on disk (one per subject unless the dataset has several rides or visits per person)."""
        return len(self.subjects(data_dir))

    # --- download -----------------------------------------------------------------------------------
    def download(self, dest: str | Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
        """Fetch the dataset from its public origin into ``dest/<folder>`` with ``git clone``.

        This is the only network access attunexr makes for datasets. Fails with
        :class:`DatasetNotFoundError` (never hangs) when git is missing, the origin is unreachable or the
        clone takes longer than ``timeout`` seconds; a partial clone is removed.
        """
        target = Path(dest).expanduser() / self.card.folder
        if target.exists() and any(target.iterdir()):
            raise ConfigurationError(
                f"{target} already exists and is not empty; remove it or choose another --dest"
            )
        git = shutil.which("git")
        if git is None:
            raise DatasetNotFoundError(
                f"cannot download {self.name!r}: git is not installed. Install git, or clone {self.card.git_url} "
                f"by hand into {target}."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        cmd = [git, "clone", "--depth", "1", self.card.git_url, str(target)]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        logger.info("downloading %s: %s", self.name, " ".join(cmd))
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired as err:
            shutil.rmtree(target, ignore_errors=True)
            raise DatasetNotFoundError(
                f"cannot download {self.name!r}: git clone of {self.card.git_url} did not finish within "
                f"{timeout:g} s (no network?). Clone it by hand into {target}."
            ) from err
        if proc.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise DatasetNotFoundError(
                f"cannot download {self.name!r} from {self.card.git_url}: "
                f"{detail[-1] if detail else f'git exited with {proc.returncode}'}. "
                f"Check the network, or clone it by hand into {target}."
            )
        self._after_download(target)
        return target

    def _after_download(self, target: Path) -> None:  # noqa: B027 - optional hook, empty by default
        """Hook for datasets whose repository layout differs from the expected folder."""


_REGISTRY: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    _REGISTRY[dataset.name] = dataset
    return dataset


def get_dataset(name: str) -> Dataset:
    """The dataset adapter called ``name`` (e.g. ``"stress-predict"``, ``"nurse-stress"``)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_datasets() -> list[Dataset]:
    """Every registered dataset, by name."""
    return [_REGISTRY[n] for n in sorted(_REGISTRY)]


def load_recordings(
    name: str, subjects: Iterable[str] | None = None, data_dir: str | Path | None = None
) -> Iterator[Recording]:
    """Yield the recordings of ``subjects`` (default: every distinct subject) of dataset ``name``.

    A subject with several sessions (e.g. the segments of ``nurse-stress``) yields one recording per session.
    """
    ds = get_dataset(name)
    chosen = list(subjects) if subjects is not None else ds.subjects(data_dir)
    for subject in chosen:
        yield from ds.load_sessions(subject, data_dir)
