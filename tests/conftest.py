"""Shared test data: a small generated demo catalogue (never ../shared, never the network)."""
import pytest

from matcher.catalog import load_catalog
from matcher.demo import write_demo_catalog


@pytest.fixture(scope="session", autouse=True)
def feature_cache(tmp_path_factory):
    """Photo features and checkpoints go to a temporary folder, never the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("cache")
        patch.setenv("MATCHER_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    write_demo_catalog(out, listings=240, seed=7)
    return out


@pytest.fixture(scope="session")
def demo_catalog(demo_dir):
    return load_catalog(demo_dir / "catalog.csv", demo_dir / "images")


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """An artifacts root holding the app's demo catalogue, built small (150 listings, photos included).

    Shared by the app, browser and explorer tests: copy it before changing anything in it.
    """
    from matcher.workspace import ensure_demo

    root = tmp_path_factory.mktemp("demo-build")
    ensure_demo(root, listings=150, log=lambda message: None)
    return root
