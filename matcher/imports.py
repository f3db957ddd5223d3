"""Bring a moderator's catalogue into the workspace: a CSV, and photos as a zip or a server folder.

Uploads come from people, so nothing is trusted: a zip is checked whole before
any file is written (no paths leaving the folder, no links, no bombs), server
folders must lie inside the configured image roots, and the CSV goes through
the same loader as the command line, whose problems are reported, not hidden.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from matcher.catalog import CatalogError, LoadReport, load_catalog
from matcher.settings import Settings, load_settings
from matcher.workspace import (CATALOG, CATALOG_CSV, DEMO, IMAGES, MODEL, SOURCE_FILE, cache_root,
                               catalogue_image_dir)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
MAX_BYTES = 8 << 30  # photos unpacked from one zip; Shopee's 34,250 training photos take 1.6 GiB
# Photos are compressed already, so a zip shrinks them little; deflate's best, on a file of
# one repeated byte, is about 1000:1, which is what zip bombs use.
MAX_RATIO = 100
_RATIO_FLOOR = 1 << 20  # the ratio of a small file (a blank thumbnail) says nothing
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SHOWN = 5


class ImportRefused(ValueError):
    """An upload, folder or name that is not imported; the message says which entry or file, and what to do."""


@dataclass
class ExtractReport:
    """What a zip gave: the photos written (paths relative to `dest`) and the entries left out."""

    dest: Path
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not photos, macOS metadata, hidden files
    top_folder: str | None = None  # the one folder all photos sat in
    stripped: bool = False         # whether that folder was dropped from their paths
    total_bytes: int = 0

    def summary(self) -> str:
        lines = [f"{len(self.files):,} photos ({self.total_bytes / 2**20:,.1f} MiB) extracted"
                 + (f" from their folder '{self.top_folder}'" if self.stripped else "") + "."]
        if self.skipped:
            lines.append(f"{len(self.skipped):,} entries left out (not photos, macOS metadata or hidden files): "
                         f"{_listed(self.skipped)}.")
        return "\n".join(lines)


@dataclass
class ImportedCatalogue:
    """What an import wrote and what loading it found: shown to the user, then `build_catalogue(name, root)`."""

    name: str
    folder: Path                 # <root>/<name>
    image_dir: Path | None
    labelled: bool
    report: LoadReport
    photos: ExtractReport | None = None

    @property
    def warnings(self) -> list[str]:
        return [p.message for p in self.report.warnings]

    def summary(self) -> str:
        return "\n".join([self.report.summary()] + ([self.photos.summary()] if self.photos else []))


# --- zips of photos --------------------------------------------------------------------


def safe_extract_zip(source, dest, max_files: int = 100_000, max_bytes: int = MAX_BYTES,
                     allowed_suffixes=IMAGE_SUFFIXES, max_ratio: float = MAX_RATIO,
                     image_names=None) -> ExtractReport:
    """Extract the photos of a zip (path, bytes or binary file) into `dest`, refusing unsafe zips whole.

    When every photo sits in one top folder, that folder is dropped so the CSV's
    plain file names resolve in `dest`, unless most of `image_names` (the CSV's
    image column) start with it.
    """
    label = _label(source, "the zip")
    dest = Path(dest)
    try:
        with zipfile.ZipFile(_as_file(source)) as archive:
            kept, skipped = _plan(archive.infolist(), label, max_files, max_bytes, allowed_suffixes, max_ratio)
            top = _top_folder([parts for _, parts in kept])
            strip = top is not None and not (image_names is not None and _names_under(image_names, top))
            report = ExtractReport(dest, skipped=skipped, top_folder=top, stripped=strip)
            dest.mkdir(parents=True, exist_ok=True)
            for info, parts in kept:
                report.files.append(_write(archive, info, parts[1:] if strip else parts, dest, label))
                report.total_bytes += info.file_size
    except zipfile.BadZipFile as error:
        raise ImportRefused(f"{label} is not a readable zip file ({error}); zip the photos again.") from None
    return report


def _plan(infos, label: str, max_files: int, max_bytes: int, suffixes, max_ratio: float):
    """The (entry, path parts) to write and the names skipped; raises before anything is written."""
    if len(infos) > max_files:
        raise ImportRefused(f"{label} holds {len(infos):,} entries, more than the {max_files:,} allowed; "
                            "split the photos into several catalogues.")
    kept, skipped, seen, total = [], [], set(), 0
    for info in infos:
        parts = _entry_parts(info, label)
        if info.is_dir():
            continue
        if not parts or not _is_photo(parts, suffixes):
            skipped.append(info.filename)
            continue
        _check_compression(info, label, max_ratio)
        if parts in seen:
            raise ImportRefused(f"entry '{info.filename}' appears twice in {label}; keep one copy of each photo.")
        seen.add(parts)
        total += info.file_size
        if total > max_bytes:
            raise ImportRefused(f"{label} unpacks to more than {max_bytes / 2**30:,.1f} GiB of photos "
                                f"(reached at entry '{info.filename}'); import fewer or smaller photos.")
        kept.append((info, parts))
    return kept, skipped


def _entry_parts(info: zipfile.ZipInfo, label: str) -> tuple[str, ...]:
    """The entry's path as folder names, refusing links and paths that would leave the destination."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ImportRefused(f"entry '{name}' of {label} is a symbolic link, which could point anywhere; "
                            "zip the photo files themselves.")
    path = name.replace("\\", "/")
    parts = tuple(part for part in path.split("/") if part not in ("", "."))
    if path.startswith("/") or _DRIVE.match(path) or ".." in parts:
        raise ImportRefused(f"entry '{name}' of {label} has an absolute or '..' path that would be written "
                            "outside the photo folder; zip the photos with paths relative to their folder.")
    return parts


def _is_photo(parts: tuple[str, ...], suffixes) -> bool:
    """A file with a photo's suffix, outside macOS metadata (__MACOSX/, ._name) and hidden files."""
    hidden = parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)
    return not hidden and parts[-1].lower().endswith(tuple(suffixes))


def _check_compression(info: zipfile.ZipInfo, label: str, max_ratio: float) -> None:
    if info.flag_bits & 0x1:
        raise ImportRefused(f"entry '{info.filename}' of {label} is encrypted; zip the photos without a password.")
    if info.file_size > _RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
        raise ImportRefused(f"entry '{info.filename}' of {label} unpacks to {info.file_size:,} bytes from "
                            f"{info.compress_size:,}, more than {max_ratio:g} times, as zip bombs do; "
                            "photos barely compress, so zip the real photo files.")


def _top_folder(paths: list[tuple[str, ...]]) -> str | None:
    """The folder every path lies in, if they share one."""
    tops = {parts[0] for parts in paths}
    if len(tops) == 1 and all(len(parts) > 1 for parts in paths):
        return tops.pop()
    return None


def _names_under(names, top: str) -> bool:
    """Whether most of the CSV's non-empty image names include the zip's top folder."""
    names = [name.replace("\\", "/").removeprefix("./") for name in names if name]
    return 2 * sum(name.startswith(f"{top}/") for name in names) > len(names)


def _write(archive: zipfile.ZipFile, info: zipfile.ZipInfo, parts: tuple[str, ...], dest: Path, label: str) -> str:
    """One entry copied to dest/parts; never through a link, so never outside dest.

    zipfile stops at the entry's declared size and checks its CRC, so the sizes
    checked in `_plan` bound what is written.
    """
    target = dest.joinpath(*parts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(dest.resolve()):
            raise ImportRefused(f"{target.parent} leads outside {dest} through a link; "
                                f"extract {label} into an empty folder.")
        with archive.open(info) as entry:
            handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(entry, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise ImportRefused(f"entry '{info.filename}' of {label} cannot be unpacked ({error}); "
                            "zip the photos again with standard (deflate) compression.") from None
    except OSError as error:
        raise ImportRefused(f"cannot write entry '{info.filename}' of {label} to {target}: {error.strerror}.") from None
    return "/".join(parts)


# --- server folders --------------------------------------------------------------------


def server_image_folder(path, allowed_roots) -> Path:
    """The real path of a photo folder on the server, accepted only inside one of the allowed roots.

    A relative path is looked up in each root; links are followed before the
    check, so a link out of a root is refused.
    """
    roots = [Path(root).resolve() for root in allowed_roots]
    if not roots:
        raise ImportRefused("no server folders are open to imports here, so upload the photos as a zip; "
                            "an administrator can list folders in image_roots (.streamlit/matcher.toml) "
                            "or MATCHER_IMAGE_ROOTS.")
    folders = [real for real in ((root / path).resolve() for root in roots) if real.is_dir()]
    inside = [real for real in folders if any(real.is_relative_to(root) for root in roots)]
    if inside:
        return inside[0]
    allowed = ", ".join(map(str, roots))
    if folders:
        raise ImportRefused(f"image folder '{path}' is {folders[0]}, outside the folders photos may be read from "
                            f"({allowed}); pick a folder inside them or ask an administrator to add it.")
    raise ImportRefused(f"image folder '{path}' does not exist or is not a folder (looked in {allowed}); "
                        "check the path.")


# --- importing and building ------------------------------------------------------------


def check_name(name: str) -> str:
    """A catalogue name is a folder name: letters, digits, '-' and '_', so it can never point elsewhere."""
    if not _NAME.fullmatch(name or ""):
        raise ImportRefused(f"catalogue name '{name}' is not allowed: use 1 to 64 letters, digits, '-' or '_', "
                            "starting with a letter or digit (e.g. shop-2024_05).")
    return name


def import_catalogue(name: str, csv_source, root, images_zip=None, image_folder=None,
                     settings: Settings | None = None, overwrite: bool = False) -> ImportedCatalogue:
    """Write `<root>/<name>/catalog/` from a CSV and its photos, and load it to report its problems.

    Uploads are paths, bytes or seekable binary files (Streamlit's uploads).
    A failed import leaves nothing behind, and an overwritten one keeps its old
    catalogue; its old model stays usable until the catalogue is built again.
    """
    settings = settings or load_settings()
    folder = Path(root) / check_name(name)
    _check_new(folder, name, overwrite)
    if images_zip is not None and image_folder is not None:
        raise ImportRefused("give the photos either as a zip or as a server folder, not both.")
    csv_label = _label(csv_source, "the uploaded CSV")
    csv_file = _as_file(csv_source)
    _check_size(csv_file, csv_label, settings.upload_mb)
    if images_zip is not None:
        _check_size(_as_file(images_zip), _label(images_zip, "the zip"), settings.upload_mb)
    images = server_image_folder(image_folder, settings.image_roots) if image_folder is not None else None
    with _fresh_folder(folder / CATALOG) as catalog_dir:
        csv = catalog_dir / CATALOG_CSV
        _save(csv_file, csv)
        photos = None
        if images_zip is not None:
            names = _load(csv, None, csv_label, name).frame["image"]  # a bad CSV fails before the photos unpack
            photos = safe_extract_zip(images_zip, catalog_dir / IMAGES, image_names=names)
            if not photos.files:
                raise ImportRefused(f"{_label(images_zip, 'the zip')} holds no photos "
                                    f"({', '.join(IMAGE_SUFFIXES)}); it has {_listed(photos.skipped) or 'nothing'}.")
            images = catalog_dir / IMAGES
        catalog = _load(csv, images, csv_label, name)
        _write_source(catalog_dir, csv_label, images_zip, image_folder, images)
    return ImportedCatalogue(name, folder, images, catalog.has_labels, catalog.report, photos)


def build_catalogue(name: str, root, progress=None, log=None, config=None) -> dict:
    """Build `<root>/<name>/catalog` into `<root>/<name>/model` and return its manifest.

    `progress(fraction, message)` goes from 0 to 1 over the build's steps; the
    previous model is replaced only when the new one is complete.
    """
    from matcher.build import BuildConfig, build

    folder = Path(root) / check_name(name)
    csv = folder / CATALOG / CATALOG_CSV
    if not csv.is_file():
        raise ImportRefused(f"catalogue '{name}' has not been imported ({csv} is missing); import it first.")
    config = config or BuildConfig()
    config = replace(config, cache_dir=config.cache_dir or str(cache_root()))
    if progress is not None:
        progress(0.0, "Loading the catalogue")
    catalog = load_catalog(csv, catalogue_image_dir(folder / CATALOG))
    return build(catalog, folder / MODEL, config, log=log or (lambda message: None), progress=progress)


def _check_new(folder: Path, name: str, overwrite: bool) -> None:
    if name == DEMO:
        raise ImportRefused(f"'{DEMO}' is the built-in demo catalogue's name; choose another name.")
    if not overwrite and ((folder / CATALOG).exists() or (folder / MODEL).exists()):
        raise ImportRefused(f"a catalogue named '{name}' already exists in {folder.parent}; "
                            "choose another name, or overwrite it.")


@contextmanager
def _fresh_folder(target: Path):
    """An empty `target`; on failure it is removed and what it replaced is put back."""
    previous = target.with_name(f".{target.name}.previous-{os.getpid()}")
    shutil.rmtree(previous, ignore_errors=True)
    if target.exists():
        target.rename(previous)
    target.mkdir(parents=True)
    try:
        yield target
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        if previous.exists():
            previous.rename(target)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _load(csv: Path, images: Path | None, label: str, name: str):
    try:
        return load_catalog(csv, images)
    except CatalogError as error:
        raise ImportRefused(f"{label} cannot be imported as catalogue '{name}': {error}") from None


def _write_source(catalog_dir: Path, csv_label: str, images_zip, image_folder, images: Path | None) -> None:
    """Where the catalogue came from; a server folder's path is also where builds read its photos."""
    source = {"csv": csv_label, "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "zip": _label(images_zip, "the zip") if images_zip is not None else None,
              "image_folder": str(images) if image_folder is not None else None}
    (catalog_dir / SOURCE_FILE).write_text(json.dumps(source, indent=2, ensure_ascii=False))


# --- uploads ---------------------------------------------------------------------------


def _as_file(source):
    """A path or a binary file: bytes are wrapped, paths stay paths (zipfile and copying take both)."""
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)):
        return Path(source)
    return source


def _label(source, default: str) -> str:
    """How messages name an upload: its file name when it has one."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return Path(getattr(source, "name", "") or default).name or default


def _check_size(source, label: str, upload_mb: int) -> None:
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
        except OSError as error:
            raise ImportRefused(f"cannot read {source}: {error.strerror}; check the path.") from None
    else:
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
    if size > upload_mb * 2**20:
        raise ImportRefused(f"{label} is {size / 2**20:,.0f} MiB, over the {upload_mb:,} MiB upload limit; "
                            "an administrator can raise upload_mb (.streamlit/matcher.toml or MATCHER_UPLOAD_MB).")


def _save(source, target: Path) -> None:
    if isinstance(source, Path):
        shutil.copyfile(source, target)
        return
    source.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN:,} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more
