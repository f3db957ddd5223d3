"""Where the app finds its catalogues: the built-in demo, generated and built on first use, and imported ones.

Each catalogue is a folder `<artifacts>/<name>/` holding `catalog/` (catalog.csv, and
`images/` or a `source.json` naming a server folder of photos) and `model/` (a build).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from matcher.artifacts import MANIFEST, ArtifactError, read_manifest
from matcher.catalog import load_catalog
from matcher.settings import load_settings

DEMO = "demo"
DEMO_LISTINGS = 1200
DEMO_SEED = 0
CATALOG, MODEL = "catalog", "model"        # a catalogue's two folders
CATALOG_CSV, IMAGES = "catalog.csv", "images"
SOURCE_FILE = "source.json"                # where an imported catalogue came from


def artifacts_root() -> Path:
    """The artifacts folder: $MATCHER_ARTIFACTS, else the config file's, else ./artifacts (matcher.settings)."""
    return load_settings().artifacts


def cache_root() -> Path:
    """Where photo features (by content hash) and training checkpoints are kept: $MATCHER_CACHE, else ~/.cache/matcher.

    Outside any artifacts folder, so rebuilding or deleting a build never loses them.
    """
    return Path(os.environ.get("MATCHER_CACHE") or Path.home() / ".cache" / "matcher")


def catalogue_image_dir(catalog_dir: Path) -> Path | None:
    """A catalogue's photo folder: its own images/ (the demo, a zip), else the server folder source.json names."""
    if (catalog_dir / IMAGES).is_dir():
        return catalog_dir / IMAGES
    source = catalog_dir / SOURCE_FILE
    folder = json.loads(source.read_text()).get("image_folder") if source.is_file() else None
    return Path(folder) if folder else None


def ensure_demo(root: Path | None = None, listings: int = DEMO_LISTINGS, progress=None, log=print) -> Path:
    """The demo's built artifacts folder, generating and building it first if it is not there yet.

    `progress(fraction, message)` reports drawing the photos (up to 0.5), then the build's steps (0.5 to 1).
    """
    root = root or artifacts_root()
    data, model = root / DEMO / CATALOG, root / DEMO / MODEL
    report = progress or (lambda fraction, message: None)
    if (model / MANIFEST).is_file():
        return model
    from matcher.build import BuildConfig, build
    from matcher.demo import write_demo_catalog

    if not (data / CATALOG_CSV).is_file():
        write_demo_catalog(data, listings=listings, seed=DEMO_SEED,
                           progress=lambda done, total: report(0.5 * done / total, "Drawing demo photos"))
    build(load_catalog(data / CATALOG_CSV, data / IMAGES), model, BuildConfig(cache_dir=str(cache_root())),
          log=log, progress=lambda fraction, message: report(0.5 + 0.5 * fraction, message))
    return model


@dataclass(frozen=True)
class CatalogueInfo:
    """One catalogue as the app lists it; `status` is 'ready', 'not built' or 'broken' (then `problems` say why)."""

    name: str
    model: Path
    status: str
    listings: int | None = None
    labelled: bool = False
    has_images: bool = False
    strategy: str | None = None
    built_at: str | None = None
    mean_f1: float | None = None           # on held-out groups; None when the catalogue had none to tune on
    problems: tuple[str, ...] = ()         # the loader's warnings and errors, or what is wrong with the folder


def list_catalogues(root: Path | None = None) -> list[CatalogueInfo]:
    """Every catalogue folder under `root`, the demo first; unreadable ones are listed as broken, never raised."""
    root = Path(root or artifacts_root())
    if not root.is_dir():
        return []
    folders = [f for f in root.iterdir() if not f.name.startswith(".") and
               ((f / CATALOG).is_dir() or (f / MODEL).is_dir())]
    infos = [_catalogue_info(folder) for folder in folders]
    return sorted(infos, key=lambda info: (info.name != DEMO, info.name.lower()))


def _catalogue_info(folder: Path) -> CatalogueInfo:
    model = folder / MODEL
    if not (model / MANIFEST).is_file():
        return CatalogueInfo(folder.name, model, *_unbuilt(folder))
    try:
        manifest = read_manifest(model, verify=False)  # checksums are checked when a build is opened, not listed
        catalog = manifest["catalog"]
        problems = [line for line in catalog["problems"].splitlines() if line.startswith(("error:", "warning:"))]
        return CatalogueInfo(folder.name, model, "ready", catalog["listings"], catalog["labelled"],
                             bool(catalog["image_dir"]), manifest["strategy"], manifest["created_at"],
                             (manifest["tuning"] or {}).get("mean_f1"), tuple(problems + _stale(folder)))
    except ArtifactError as error:
        return CatalogueInfo(folder.name, model, "broken", problems=(str(error),))
    except (OSError, ValueError, KeyError, TypeError) as error:
        return CatalogueInfo(folder.name, model, "broken", problems=(
            f"{model / MANIFEST} is damaged or incomplete ({type(error).__name__}: {error}); "
            "build the catalogue again.",))


def _unbuilt(folder: Path) -> tuple[str, tuple[str, ...]]:
    """Status and reason for a folder without a finished build."""
    if not (folder / CATALOG / CATALOG_CSV).is_file():
        return "broken", (f"{folder} holds neither {CATALOG}/{CATALOG_CSV} nor a finished build; "
                          "import the catalogue again or delete the folder.",)
    if any(folder.glob(f".{MODEL}.building-*")):
        return "not built", ("a build was started and has not finished (it is still running, or it was stopped).",)
    return "not built", ("imported but not built yet; build it to match its listings.",)


def _stale(folder: Path) -> list[str]:
    """A note when catalog.csv was replaced (imported again) after the build."""
    csv, manifest = folder / CATALOG / CATALOG_CSV, folder / MODEL / MANIFEST
    if csv.is_file() and csv.stat().st_mtime_ns > manifest.stat().st_mtime_ns:
        return ["warning: the catalogue was imported again after this build; build it again to use the new listings."]
    return []
