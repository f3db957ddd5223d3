"""The artifacts folder a build writes: written whole or not at all, checked before it is used.

Everything goes to a temporary sibling folder first, the manifest (with each
file's SHA-256) last, and the finished folder then replaces the old one, so a
build stopped half-way leaves the previous artifacts usable.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

FORMAT_VERSION = 2  # 2: the photo channel's rows kept for the photo search (indexes/image.*.npy), no HNSW index
IMAGE_FOLDER = "image"  # the image channel's saved state, inside an artifacts folder
MANIFEST = "manifest.json"


class ArtifactError(RuntimeError):
    """Artifacts that must not be used: missing, from another format version, or changed on disk."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[tuple, str] = {}  # one file version (path, device, inode, size, mtime) -> its SHA-256


def checked_sha256(path: Path) -> str:
    """The file's SHA-256, hashed once per version of the file in this process.

    A version is its inode, size and modification time: a rebuild or an edit
    makes a new one, so reopening an unchanged build (the app's sessions, a
    page rerun) skips re-reading it (5 s for a million-listing table).
    """
    stat = path.stat()
    key = (str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = file_sha256(path)
    return _VERIFIED[key]


def write_artifacts(out_dir, write_files) -> dict:
    """Call `write_files(folder) -> manifest dict` on a temporary folder, then publish it as `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    manifest = write_files(staging)
    manifest["format_version"] = FORMAT_VERSION
    manifest["files"] = {str(p.relative_to(staging)): file_sha256(p)
                         for p in sorted(staging.rglob("*")) if p.is_file()}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    _replace(staging, out_dir)
    return manifest


def _replace(staging: Path, out_dir: Path) -> None:
    retired = out_dir.parent / f".{out_dir.name}.retired-{os.getpid()}"
    if out_dir.exists():
        out_dir.rename(retired)
    staging.rename(out_dir)
    shutil.rmtree(retired, ignore_errors=True)


def recover(out_dir) -> None:
    """Undo what a build killed mid-way left: its staging folder, and the old build set aside
    but not yet replaced (killed between the two renames of `_replace`), which is put back."""
    out_dir = Path(out_dir)
    for leftover in sorted(out_dir.parent.glob(f".{out_dir.name}.*-*")):
        kind, _, pid = leftover.name.rpartition("-")
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if kind.endswith(".retired") and not out_dir.exists() and (leftover / MANIFEST).is_file():
            leftover.rename(out_dir)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether the process that named a folder still runs (this one too: the app builds in its own process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_manifest(folder, verify: bool = True) -> dict:
    """The manifest of a finished build; refuses other format versions, changed files and a damaged manifest."""
    folder = Path(folder)
    recover(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{folder} holds no finished build ({MANIFEST} missing): "
                            f"run `python -m matcher build --catalog CSV --out {folder}` first")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{path} is damaged ({err}): rebuild {folder}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"{path} is not a matcher manifest: rebuild {folder}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(f"{folder} was built by another version of matcher (format "
                            f"{manifest.get('format_version')}, this one reads {FORMAT_VERSION}): rebuild it")
    if verify:
        for name, digest in manifest["files"].items():
            file = folder / name
            if not file.is_file() or checked_sha256(file) != digest:
                raise ArtifactError(f"{file} is missing or changed since the build (checksum mismatch): rebuild {folder}")
    return manifest
