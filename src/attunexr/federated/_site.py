"""A federated site: one clinic's labelled feature windows, split into its own training and held-out people.

A site is a registered dataset (``"stress-predict"``), a participant-disjoint part of one (``"nurse-stress@1/2"``:
part 1 of 2) or a BIDS folder. Its feature rows come from the project's pipeline (:func:`attunexr.models.
feature_table` for datasets, :func:`attunexr.models.extract_table` on :func:`attunexr.io.read_bids` for BIDS), the
targets from the task's labels (:func:`attunexr.models.targets`). Only :data:`FEATURES` enter the model: the wrist
(Empatica E4-like) features that both stress datasets have, so every site speaks the same columns.

What stays on the site: the rows, the subject ids, the split, the imputation values and the standardization
(mean/std of the site's *own* training people). What leaves it: the weights :meth:`Site.fit` returns, the number of
training windows, and the aggregate numbers of :meth:`Site.evaluate`.

Flower starts a fresh process for every message, so a site must load fast: the first :func:`load_site` extracts
the features (minutes) and writes ``<name>-<key>.parquet`` plus ``.json`` into the cache folder; later calls read
only those two files with numpy and pyarrow (no pandas, scikit-learn or attunexr.models import on that path).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from attunexr.errors import ConfigurationError, DatasetNotFoundError, ModelError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FEATURES",
    "LOG_FEATURES",
    "Site",
    "SiteSpec",
    "Weights",
    "initial_weights",
    "load_site",
    "parse_site",
]

logger = logging.getLogger(__name__)

#: Model parameters as they travel: ``[coef (n_features,), intercept (1,)]``, float64.
Weights = list[NDArray[np.float64]]

#: Wrist features (PPG heart rate and variability, EDA, skin temperature, accelerometer, the device's own HR) that
#: both stress datasets have with (almost) no missing windows. Left out: ``lf``/``hf``/``lf_hf``/``resp_rate``
#: (29 % of Stress-Predict and 51 % of nurse-stress windows missing), ``scr_amp_mean`` (61 % / 24 %), ``ibi_hr``
#: (33 % / 70 %). The few missing values of the rest (``ibi_coverage``: 0.7 % / 1.8 %) are imputed with the site's
#: training mean.
FEATURES: tuple[str, ...] = (
    "hr_mean",
    "hr_std",
    "hr_slope",
    "rmssd",
    "sdnn",
    "pnn50",
    "scl_mean",
    "scl_slope",
    "scr_rate",
    "eda_phasic_area",
    "eda_phasic_max",
    "eda_dmax",
    "eda_range",
    "temp_mean",
    "temp_slope",
    "temp_range",
    "acc_mag_mean",
    "acc_mag_std",
    "acc_activity",
    "acc_hf",
    "device_hr_mean",
    "device_hr_std",
    "device_hr_slope",
    "ibi_coverage",
)
#: Non-negative features that are right-skewed (skewness > 1) in both stress datasets; they enter as ``log1p``
#: (skin conductance and its responses vary by orders of magnitude between people and devices).
LOG_FEATURES: frozenset[str] = frozenset(
    {"scl_mean", "scr_rate", "eda_phasic_area", "eda_dmax", "eda_range", "temp_range", "acc_activity", "acc_hf",
     "device_hr_std"}
)
_CACHE_VERSION = 2
_SPEC = re.compile(r"^(?P<dataset>[a-z0-9][a-z0-9-]*)(?:@(?P<part>[0-9]+)/(?P<n>[0-9]+))?$")
#: Packages whose source shapes a site table (the project's feature cache uses the first four as well).
_SOURCE_PACKAGES = ("io", "signals", "features", "recording")
_SOURCE_FILES = ("models/_data.py", "models/_tasks.py", "federated/_site.py")


# ---------------------------------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class SiteSpec:
    """Which data a site holds.

    Attributes
    ----------
    dataset
        A registered dataset name, or the absolute path of a BIDS folder.
    part, n_parts
        Participant-disjoint part ``part`` (1-based) of ``n_parts`` of the dataset; ``None`` for all of it.
    name
        How the site is called in results, e.g. ``"nurse-stress@1/2"`` or ``"bids:clinic-a"``.
    """

    dataset: str
    part: int | None
    n_parts: int | None
    name: str

    @property
    def is_bids(self) -> bool:
        """Whether the site reads a BIDS folder rather than a registered dataset."""
        return os.path.isabs(self.dataset)


def parse_site(spec: str, *, check_dataset: bool = True) -> SiteSpec:
    """The :class:`SiteSpec` of ``"NAME"``, ``"NAME@K/N"`` (part K of N, participant-disjoint) or a BIDS folder.

    ``check_dataset=False`` skips looking the name up in the dataset registry (an import that takes seconds);
    :func:`load_site` uses it to find a cached site fast and checks the name before extracting anything.

    Raises
    ------
    ConfigurationError
        When ``spec`` is none of these (unknown dataset, bad part numbers, a folder without
        ``dataset_description.json``).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigurationError(f"site {spec!r} is empty; give a dataset name, NAME@K/N or a BIDS folder")
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "dataset_description.json").is_file():
            raise ConfigurationError(
                f"site {spec!r} is a folder but not a BIDS dataset (no dataset_description.json); give a BIDS "
                "folder, a dataset name or NAME@K/N"
            )
        root = path.resolve()
        return SiteSpec(dataset=str(root), part=None, n_parts=None, name=f"bids:{root.name}")
    m = _SPEC.match(spec)
    if m is None:
        raise ConfigurationError(
            f"site {spec!r} is neither a dataset name (e.g. 'stress-predict'), NAME@K/N (e.g. 'nurse-stress@1/2': "
            "part 1 of 2, participant-disjoint) nor an existing BIDS folder"
        )
    dataset = m["dataset"]
    if check_dataset:
        known = _dataset_names()
        if dataset not in known:
            raise ConfigurationError(f"site {spec!r}: unknown dataset {dataset!r}; known: {', '.join(known)}")
    if m["part"] is None:
        return SiteSpec(dataset=dataset, part=None, n_parts=None, name=dataset)
    part, n = int(m["part"]), int(m["n"])
    if n < 2 or not 1 <= part <= n:
        raise ConfigurationError(
            f"site {spec!r}: part {part} of {n} is not valid; use NAME@K/N with N >= 2 and 1 <= K <= N"
        )
    return SiteSpec(dataset=dataset, part=part, n_parts=n, name=f"{dataset}@{part}/{n}")


def _dataset_names() -> list[str]:
    from attunexr.io.datasets import list_datasets

    return sorted(d.name for d in list_datasets())


# ---------------------------------------------------------------------------------------------------- split
def _rank(subject: str, salt: str) -> int:
    """A seeded, order-free position of ``subject`` (the split never depends on how subjects are listed)."""
    return int.from_bytes(hashlib.sha256(f"{salt}\0{subject}".encode()).digest()[:8], "big")


def part_subjects(subjects: list[str], part: int, n_parts: int, seed: int) -> list[str]:
    """Part ``part`` (1-based) of ``n_parts`` of ``subjects``: seeded, participant-disjoint, together covering all."""
    order = sorted(set(subjects), key=lambda s: (_rank(s, f"part:{seed}"), s))
    return sorted(s for i, s in enumerate(order) if i % n_parts == part - 1)


def split_subjects(
    subjects: list[str], y_by_subject: dict[str, NDArray[np.float64]], test_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """(train, test) people: a seeded draw of ``round(test_fraction * n)`` test people (at least one each side).

    The first of up to 200 seeded draws in which both parts hold windows of both classes is taken (needed for an
    AUROC on the held-out people and for fitting), so the split is deterministic for a given seed.
    """
    subs = sorted(set(subjects))
    if len(subs) < 2:
        raise ConfigurationError(f"a site needs at least two people to hold some out; it has {len(subs)}")
    n_test = min(len(subs) - 1, max(1, round(test_fraction * len(subs))))

    def classes(group: list[str]) -> set[float]:
        return {float(v) for s in group for v in np.unique(y_by_subject[s])}

    for attempt in range(200):
        order = sorted(subs, key=lambda s: (_rank(s, f"test:{seed}:{attempt}"), s))
        test, train = sorted(order[:n_test]), sorted(order[n_test:])
        if classes(test) == {0.0, 1.0} and classes(train) == {0.0, 1.0}:
            return train, test
    raise ModelError(
        f"no split of these {len(subs)} people into {len(subs) - n_test} training and {n_test} held-out people has "
        "both classes on each side; the site needs more people with both labels"
    )


# ---------------------------------------------------------------------------------------------------- site
class Site:
    """One site's data, split into training and held-out people, standardized with its own training statistics.

    Built by :func:`load_site`. Holds the rows in memory; none of them leave the object through :meth:`fit` or
    :meth:`evaluate`.
    """

    def __init__(
        self,
        spec: SiteSpec,
        raw: NDArray[np.float64],
        y: NDArray[np.float64],
        subjects: NDArray[np.str_],
        is_test: NDArray[np.bool_],
        feature_names: list[str],
        t_end: NDArray[np.float64] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.feature_names = list(feature_names)
        self._raw = raw
        self._y = y
        self._subjects = subjects
        self._is_test = is_test
        self._t_end = t_end
        values = self._transform(raw)
        train = ~is_test
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a feature missing in every row: filled with 0
            mean = np.nanmean(values[train], axis=0) if train.any() else np.zeros(values.shape[1])
        #: the site's own training-part means after the log transform (imputation values; local)
        self.fill_ = np.where(np.isfinite(mean), mean, 0.0)
        filled = np.where(np.isnan(values), self.fill_, values)
        std = filled[train].std(axis=0) if train.any() else np.ones(values.shape[1])
        #: standardization of the site's own training part (local; never sent)
        self.mean_ = filled[train].mean(axis=0) if train.any() else np.zeros(values.shape[1])
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self._X = (filled - self.mean_) / self.scale_
        self.n_train = int(train.sum())
        self.n_test = int(is_test.sum())
        self.n_train_subjects = int(np.unique(subjects[train]).size)
        self.n_test_subjects = int(np.unique(subjects[is_test]).size)

    def _transform(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        values = raw.astype(np.float64, copy=True)
        for j, f in enumerate(self.feature_names):
            if f in LOG_FEATURES:
                values[:, j] = np.log1p(np.clip(values[:, j], 0.0, None))
        return values

    def standardize(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Rows of :data:`FEATURES` (raw units) as the site's model inputs: log, impute, standardize (local)."""
        values = self._transform(np.asarray(raw, dtype=np.float64))
        values = np.where(np.isnan(values), self.fill_, values)
        return np.asarray((values - self.mean_) / self.scale_, dtype=np.float64)

    def arrays(self, part: str) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.str_]]:
        """(standardized X, y, subject ids) of ``part`` (``"train"`` or ``"test"``); for in-process use only."""
        if part not in ("train", "test"):
            raise ConfigurationError(f"part must be 'train' or 'test', not {part!r}")
        rows = self._is_test if part == "test" else ~self._is_test
        return self._X[rows], self._y[rows], self._subjects[rows]

    def raw_rows(self, part: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(raw feature values, y) of ``part``; for local calibration and tests."""
        rows = self._is_test if part == "test" else ~self._is_test
        return self._raw[rows], self._y[rows]

    def subjects(self, part: str | None = None) -> list[str]:
        """The sorted subject ids of ``part`` (or all); local, never sent."""
        rows = np.ones(self._y.size, dtype=bool) if part is None else (
            self._is_test if part == "test" else ~self._is_test
        )
        return sorted({str(s) for s in self._subjects[rows]})

    def fit(
        self, weights: Weights, *, epochs: int = 5, lr: float = 0.1, proximal_mu: float = 0.0
    ) -> tuple[Weights, int, dict[str, float]]:
        """Train the logistic model on the site's training part from ``weights`` (see
        :func:`attunexr.federated._model.train_logistic`); returns (new weights, training windows, metrics)."""
        from attunexr.federated._model import train_logistic

        X, y, _ = self.arrays("train")
        new, info = train_logistic(X, y, weights, epochs=epochs, lr=lr, proximal_mu=proximal_mu)
        return new, self.n_train, info

    def evaluate(self, weights: Weights, *, part: str = "test", n_boot: int = 500) -> dict[str, float]:
        """Aggregate numbers of ``weights`` on ``part``: AUROC with a subject-bootstrap CI, people, windows, loss."""
        from attunexr.federated._scores import evaluate_arrays

        X, y, g = self.arrays(part)
        return evaluate_arrays(weights, X, y, g, n_boot=n_boot)

    def __repr__(self) -> str:
        return (f"Site({self.name!r}, {len(self.feature_names)} features, train {self.n_train_subjects} people/"
                f"{self.n_train} windows, test {self.n_test_subjects} people/{self.n_test} windows)")


def initial_weights(n_features: int) -> Weights:
    """Zero weights for ``n_features`` inputs: ``[zeros(n_features), zeros(1)]``."""
    if n_features < 1:
        raise ConfigurationError(f"a model needs at least one feature, not {n_features}")
    return [np.zeros(n_features, dtype=np.float64), np.zeros(1, dtype=np.float64)]


# ---------------------------------------------------------------------------------------------------- loading
def default_cache_dir() -> Path:
    """``$ATTUNEXR_CACHE/federated`` or ``~/.cache/attunexr/federated`` (beside the project's feature cache)."""
    root = os.environ.get("ATTUNEXR_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "attunexr") / "federated"


def source_fingerprint() -> str:
    """Hash of the source files that shape a site table (reads files only; imports nothing heavy)."""
    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(f"site-cache/{_CACHE_VERSION}".encode())
    paths = [p for name in _SOURCE_PACKAGES for p in sorted((pkg / name).rglob("*.py"))]
    paths += [pkg / f for f in _SOURCE_FILES]
    for path in paths:
        h.update(str(path.relative_to(pkg)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _bids_stamp(root: Path) -> str:
    """Names, sizes and modification times of a BIDS folder's files (a changed file re-extracts)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _cache_key(spec: SiteSpec, task: str, seed: int, test_fraction: float, data_dir: Path | None) -> str:
    where = spec.dataset if spec.is_bids else str(data_dir or os.environ.get("ATTUNEXR_DATA", ""))
    stamp = _bids_stamp(Path(spec.dataset)) if spec.is_bids else ""
    parts = (spec.name, spec.dataset, where, stamp, task, int(seed), float(test_fraction), FEATURES,
             source_fingerprint())
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _cache_paths(cache_dir: Path, spec: SiteSpec, key: str) -> tuple[Path, Path]:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name)
    return cache_dir / f"{stem}-{key}.parquet", cache_dir / f"{stem}-{key}.json"


def load_site(
    spec: str | SiteSpec,
    *,
    task: str = "stress",
    seed: int = 0,
    test_fraction: float = 0.3,
    cache_dir: Path | None = None,
    data_dir: Path | None = None,
) -> Site:
    """Load a site: its labelled windows of :data:`FEATURES`, targets, subjects and train/held-out split.

    Parameters
    ----------
    spec
        See :func:`parse_site`.
    task
        The detection task (:data:`attunexr.models.TASKS`) whose labels become the targets.
    seed
        Seed of the participant split (and of the parts of ``NAME@K/N``).
    test_fraction
        Share of the site's people held out for evaluation.
    cache_dir
        Where the site table is cached (default :func:`default_cache_dir`).
    data_dir
        Folder holding the datasets (default ``$ATTUNEXR_DATA``).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigurationError(f"test_fraction must lie between 0 and 1, not {test_fraction}")
    site = spec if isinstance(spec, SiteSpec) else parse_site(spec, check_dataset=False)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _cache_key(site, task, seed, test_fraction, Path(data_dir) if data_dir is not None else None)
    table_path, meta_path = _cache_paths(folder, site, key)
    if table_path.is_file() and meta_path.is_file():
        try:
            return _read_cached(site, table_path, meta_path)
        except (OSError, ValueError, KeyError) as err:
            logger.warning("site cache %s unreadable (%s); extracting again", table_path, err)
    if not isinstance(spec, SiteSpec):
        site = parse_site(spec)  # the registry check skipped above
    frame = _site_frame(site, task, data_dir)
    y_all = frame["y"].to_numpy(dtype=float)
    subs_all = frame["subject"].astype(str).to_numpy()
    by_subject = {s: y_all[subs_all == s] for s in np.unique(subs_all)}
    subjects = sorted(by_subject)
    if site.part is not None and site.n_parts is not None:
        subjects = part_subjects(subjects, site.part, site.n_parts, seed)
    train, test = split_subjects(subjects, by_subject, test_fraction, seed)
    frame = frame[frame["subject"].astype(str).isin(subjects)].reset_index(drop=True)
    frame["is_test"] = frame["subject"].astype(str).isin(test)
    meta = {
        "site": site.name,
        "dataset": site.dataset,
        "part": site.part,
        "n_parts": site.n_parts,
        "task": task,
        "seed": seed,
        "test_fraction": test_fraction,
        "features": list(FEATURES),
        "n_train_subjects": len(train),
        "n_test_subjects": len(test),
        "source_fingerprint": source_fingerprint(),
    }
    _write_cache(frame, meta, table_path, meta_path)
    return _site_from_columns(
        site,
        frame[list(FEATURES)].to_numpy(dtype=float),
        frame["y"].to_numpy(dtype=float),
        frame["subject"].astype(str).to_numpy(),
        frame["is_test"].to_numpy(dtype=bool),
        frame["t_end"].to_numpy(dtype=float),
    )


def _site_from_columns(
    spec: SiteSpec,
    raw: NDArray[np.float64],
    y: NDArray[np.float64],
    subjects: NDArray[Any],
    is_test: NDArray[np.bool_],
    t_end: NDArray[np.float64],
) -> Site:
    return Site(spec, raw, y, np.asarray(subjects, dtype=str), is_test, list(FEATURES), t_end)


def _site_frame(spec: SiteSpec, task_name: str, data_dir: Path | None) -> pd.DataFrame:
    """Labelled feature rows of the site's data through the project's pipeline: FEATURES, y, subject, t_end."""
    from attunexr.models import extract_table, feature_table, get_task, targets

    task = get_task(task_name)
    if spec.is_bids:
        from attunexr.io import read_bids

        recordings = read_bids(spec.dataset)
        if not recordings:
            raise DatasetNotFoundError(f"{spec.dataset}: the BIDS folder holds no recordings")
        table = extract_table(recordings, task.window, task.hop)
    else:
        table, _ = feature_table(spec.dataset, task.window, task.hop, data_dir=data_dir)
    missing = [f for f in FEATURES if f not in table.columns]
    if missing:
        raise ModelError(f"site {spec.name}: the feature table lacks {', '.join(missing)}")
    y = targets(table["label"], task.positive, task.negative)
    labelled = ~np.isnan(y)
    if not labelled.any():
        found = sorted({str(v) for v in table["label"].dropna()})
        raise ConfigurationError(
            f"site {spec.name} has no windows labelled for task {task.name!r} (positive {list(task.positive)}, "
            f"negative {list(task.negative)}); its labels: {', '.join(found) or 'none'}"
        )
    out = table.loc[labelled, [*FEATURES, "subject", "t_end"]].copy()
    for f in FEATURES:
        out[f] = out[f].astype(float)
    out["y"] = y[labelled]
    return out.reset_index(drop=True)


def _write_cache(frame: pd.DataFrame, meta: dict[str, Any], table_path: Path, meta_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_path.parent.mkdir(parents=True, exist_ok=True)
    cols = {f: pa.array(frame[f].to_numpy(dtype=float)) for f in FEATURES}
    cols["y"] = pa.array(frame["y"].to_numpy(dtype=float))
    cols["subject"] = pa.array(frame["subject"].astype(str).tolist(), type=pa.string())
    cols["is_test"] = pa.array(frame["is_test"].to_numpy(dtype=np.int8))  # not bool: Arrow packs bits
    cols["t_end"] = pa.array(frame["t_end"].to_numpy(dtype=float))
    tmp = table_path.with_suffix(f".tmp{os.getpid()}")
    pq.write_table(pa.table(cols), tmp)
    os.replace(tmp, table_path)
    tmpj = meta_path.with_suffix(f".tmp{os.getpid()}")
    tmpj.write_text(json.dumps(meta, indent=2))
    os.replace(tmpj, meta_path)
    logger.info("cached site %s in %s", meta["site"], table_path)


def _read_cached(spec: SiteSpec, table_path: Path, meta_path: Path) -> Site:
    import pyarrow.parquet as pq

    meta = json.loads(meta_path.read_text())
    if list(meta["features"]) != list(FEATURES):
        raise ValueError("cached features differ")
    t = pq.ParquetFile(table_path).read()  # not read_table: that imports pyarrow.dataset and pandas

    def col(name: str) -> NDArray[Any]:
        # from the Arrow buffers: pyarrow's to_numpy imports pandas (a second or more on this path)
        chunks = []
        for c in t.column(name).chunks:
            if c.null_count:
                raise ValueError(f"column {name} holds nulls")
            dtype = np.dtype({"double": np.float64, "int8": np.int8}[str(c.type)])
            buf = c.buffers()[1]
            chunks.append(np.frombuffer(buf, dtype=dtype, count=len(c), offset=c.offset * dtype.itemsize))
        return np.concatenate(chunks) if chunks else np.empty(0)

    raw = np.column_stack([col(f) for f in FEATURES]).astype(np.float64)
    return _site_from_columns(
        spec,
        raw,
        col("y").astype(np.float64),
        np.asarray(t.column("subject").to_pylist(), dtype=str),
        col("is_test").astype(bool),
        col("t_end").astype(np.float64),
    )

