"""Fixtures for the federated tests: the two stress sites, loaded once per session through a fresh site cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from attunexr.federated import Site, load_site


@pytest.fixture(scope="session")
def site_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site cache folder private to this test session (the first load of each site fills it)."""
    return tmp_path_factory.mktemp("site-cache")


@pytest.fixture(scope="session")
def stress_sites(data_dir: Path, site_cache: Path) -> list[Site]:
    """``stress-predict`` and ``nurse-stress`` as sites (features from the project's feature cache)."""
    return [load_site(name, cache_dir=site_cache, data_dir=data_dir) for name in ("stress-predict", "nurse-stress")]
