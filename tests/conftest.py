"""Shared test data: a small generated demo catalogue (never ../shared, never the network)."""
import pytest

from matcher.catalog import load_catalog
from matcher.demo import write_demo_catalog


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    write_demo_catalog(out, listings=240, seed=7)
    return out


@pytest.fixture(scope="session")
def demo_catalog(demo_dir):
    return load_catalog(demo_dir / "catalog.csv", demo_dir / "images")
