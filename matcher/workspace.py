"""Where the app finds its catalogues: the built-in demo, generated and built on first use."""
from __future__ import annotations

import os
from pathlib import Path

from matcher.artifacts import MANIFEST
from matcher.catalog import load_catalog
from matcher.settings import load_settings

DEMO_LISTINGS = 1200
DEMO_SEED = 0


def artifacts_root() -> Path:
    """The artifacts folder: $MATCHER_ARTIFACTS, else the config file's, else ./artifacts (matcher.settings)."""
    return load_settings().artifacts


def cache_root() -> Path:
    """Where photo features (by content hash) and training checkpoints are kept: $MATCHER_CACHE, else ~/.cache/matcher.

    Outside any artifacts folder, so rebuilding or deleting a build never loses them.
    """
    return Path(os.environ.get("MATCHER_CACHE") or Path.home() / ".cache" / "matcher")


def ensure_demo(root: Path | None = None, listings: int = DEMO_LISTINGS, progress=None, log=print) -> Path:
    """The demo's built artifacts folder, generating and building it first if it is not there yet.

    `progress(fraction, message)` reports the two long steps (photos, build).
    """
    root = root or artifacts_root()
    data, model = root / "demo" / "catalog", root / "demo" / "model"
    report = progress or (lambda fraction, message: None)
    if (model / MANIFEST).is_file():
        return model
    from matcher.build import BuildConfig, build
    from matcher.demo import write_demo_catalog

    if not (data / "catalog.csv").is_file():
        write_demo_catalog(data, listings=listings, seed=DEMO_SEED,
                           progress=lambda done, total: report(0.5 * done / total, "Drawing demo photos"))
    report(0.5, "Building the demo catalogue's models and neighbour table")
    build(load_catalog(data / "catalog.csv", data / "images"), model, BuildConfig(cache_dir=str(cache_root())),
          log=log)
    report(1.0, "Ready")
    return model
