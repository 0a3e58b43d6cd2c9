"""Sites: specs, participant-disjoint parts and splits, the local standardization and the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attunexr.errors import ConfigurationError
from attunexr.federated import FEATURES, Site, SiteSpec, load_site, parse_site
from attunexr.federated._site import part_subjects


def test_parse_site_accepts_names_parts_and_bids_folders(tmp_path: Path) -> None:
    assert parse_site("stress-predict") == SiteSpec("stress-predict", None, None, "stress-predict")
    spec = parse_site("nurse-stress@1/2")
    assert (spec.dataset, spec.part, spec.n_parts, spec.name) == ("nurse-stress", 1, 2, "nurse-stress@1/2")
    (tmp_path / "clinic-a").mkdir()
    (tmp_path / "clinic-a" / "dataset_description.json").write_text('{"Name": "a", "BIDSVersion": "1.8.0"}')
    bids = parse_site(str(tmp_path / "clinic-a"))
    assert bids.is_bids and bids.name == "bids:clinic-a" and bids.part is None


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("no-such-dataset", "unknown dataset"),
        ("nurse-stress@0/2", "part 0 of 2"),
        ("nurse-stress@3/2", "part 3 of 2"),
        ("nurse-stress@1/1", "N >= 2"),
        ("nurse stress", "neither a dataset name"),
        ("nurse-stress@1", "neither a dataset name"),
        ("", "empty"),
    ],
)
def test_parse_site_errors_name_the_problem(spec: str, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        parse_site(spec)


def test_a_folder_that_is_not_bids_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a BIDS dataset"):
        parse_site(str(tmp_path))


def test_parts_are_participant_disjoint_cover_the_dataset_and_depend_on_the_seed() -> None:
    people = [f"P{i:02d}" for i in range(11)]
    parts = [part_subjects(people, k, 3, seed=0) for k in (1, 2, 3)]
    assert sorted(s for p in parts for s in p) == people
    assert all(not set(a) & set(b) for i, a in enumerate(parts) for b in parts[i + 1 :])
    assert {len(p) for p in parts} <= {3, 4}
    assert part_subjects(list(reversed(people)), 1, 3, seed=0) == parts[0]  # order-free
    assert any(part_subjects(people, 1, 3, seed=s) != parts[0] for s in (1, 2, 3))


def test_real_parts_split_nurse_stress_into_disjoint_people(
    stress_sites: list[Site], site_cache: Path, data_dir: Path
) -> None:
    whole = stress_sites[1]
    halves = [load_site(f"nurse-stress@{k}/2", cache_dir=site_cache, data_dir=data_dir) for k in (1, 2)]
    a, b = (set(h.subjects()) for h in halves)
    assert not a & b
    assert a | b == set(whole.subjects())
    assert [h.name for h in halves] == ["nurse-stress@1/2", "nurse-stress@2/2"]
    assert sum(h.n_train + h.n_test for h in halves) == whole.n_train + whole.n_test


def test_train_and_test_people_are_disjoint_and_both_hold_both_classes(stress_sites: list[Site]) -> None:
    for site in stress_sites:
        train, test = set(site.subjects("train")), set(site.subjects("test"))
        assert train and test and not train & test
        assert len(train) == site.n_train_subjects and len(test) == site.n_test_subjects
        assert site.n_test_subjects == round(0.3 * len(train | test))
        for part in ("train", "test"):
            _, y, _ = site.arrays(part)
            assert set(np.unique(y)) == {0.0, 1.0}


def test_features_are_standardized_with_the_sites_own_training_part(stress_sites: list[Site]) -> None:
    for site in stress_sites:
        assert site.feature_names == list(FEATURES)
        X, _, _ = site.arrays("train")
        assert np.all(np.isfinite(X))
        np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(X.std(axis=0), 1.0, atol=1e-9)
        Xt, _, _ = site.arrays("test")
        assert np.all(np.isfinite(Xt))  # held-out rows use the training statistics, so not exactly 0/1
        assert not np.allclose(Xt.mean(axis=0), 0.0, atol=1e-6)
    # each site its own statistics: the raw scales differ between the two datasets' devices and people
    assert not np.allclose(stress_sites[0].mean_, stress_sites[1].mean_)


def test_a_cached_load_equals_the_fresh_one(stress_sites: list[Site], site_cache: Path, data_dir: Path) -> None:
    files = sorted(p.name for p in site_cache.iterdir())
    assert any(f.startswith("stress-predict-") and f.endswith(".parquet") for f in files)
    meta = json.loads(next(site_cache.glob("stress-predict-*.json")).read_text())
    assert meta["features"] == list(FEATURES) and meta["site"] == "stress-predict"
    for fresh in stress_sites:
        cached = load_site(fresh.name, cache_dir=site_cache, data_dir=data_dir)
        for part in ("train", "test"):
            for a, b in zip(fresh.arrays(part), cached.arrays(part), strict=True):
                np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fresh.mean_, cached.mean_)
        assert (cached.n_train, cached.n_test_subjects) == (fresh.n_train, fresh.n_test_subjects)
    # another seed is another split (and another cache entry)
    other = load_site("stress-predict", seed=1, cache_dir=site_cache, data_dir=data_dir)
    assert other.subjects("test") != stress_sites[0].subjects("test")


def test_a_bids_folder_is_a_site(tmp_path: Path, data_dir: Path) -> None:
    from attunexr.io import write_bids
    from attunexr.io.datasets import load_recordings

    root = tmp_path / "clinic-b"
    for rec in load_recordings("stress-predict", subjects=["S02", "S03"], data_dir=data_dir):
        write_bids(rec, root, task="stress", allow_missing=True)
    site = load_site(str(root), cache_dir=tmp_path / "cache")
    assert site.name == "bids:clinic-b"
    assert site.subjects() == ["S02", "S03"]
    assert site.n_train_subjects == 1 and site.n_test_subjects == 1
    _, y, _ = site.arrays("test")
    assert set(np.unique(y)) == {0.0, 1.0}
