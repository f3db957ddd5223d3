"""Faults injected into real processes: a build killed with SIGKILL at any moment, and damaged artifacts.

A killed build must leave the previous build loadable and checked, and the next
build must finish and clean up after the killed one.
"""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import matcher.artifacts as artifacts
from matcher.artifacts import MANIFEST, ArtifactError, read_manifest, recover
from matcher.explore import Explorer
from matcher.predict import Model

ROOT = Path(__file__).resolve().parent.parent
KILL_AFTER_S = (0.5, 2.0, 4.0, 7.0, 11.0, 14.0)  # imports, loading, encoding, indexing, tuning, writing


def build_command(demo_build: Path, out: Path) -> list[str]:
    catalog = demo_build / "demo" / "catalog"
    return [sys.executable, "-m", "matcher", "build", "--catalog", str(catalog / "catalog.csv"),
            "--images", str(catalog / "images"), "--out", str(out)]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_build_killed_at_any_moment_leaves_the_previous_build_usable(demo_build, tmp_path, record_property):
    out = tmp_path / "model"
    shutil.copytree(demo_build / "demo" / "model", out)
    published = read_manifest(out)["files"]
    kills, kept = [], 0
    for delay in KILL_AFTER_S:
        process = subprocess.Popen(build_command(demo_build, out), cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills.append(delay)
        process.wait()
        # Whole and checked: the previous build, or (killed after publishing, or not killed) the new one whole.
        manifest = read_manifest(out)
        Model.load(out)
        assert len(Explorer(out)) == 150
        kept += manifest["files"] == published and delay in kills
        published = manifest["files"]
    assert kills, "the build was never killed while running"
    assert kept, "some kill came before the build published, and the previous build stayed"
    record_property("builds_killed", len(kills))
    record_property("previous_build_kept", kept)
    done = subprocess.run(build_command(demo_build, out), cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    read_manifest(out)
    assert not [p.name for p in tmp_path.iterdir() if p.name != "model"], "the killed builds' leftovers are gone"


def test_the_old_build_set_aside_by_a_killed_build_is_put_back(demo_build, tmp_path):
    """Killed between its two renames, a build leaves no `model` folder, only the old one set aside."""
    out = tmp_path / "model"
    shutil.copytree(demo_build / "demo" / "model", tmp_path / f".model.retired-{dead_pid()}")
    (tmp_path / f".model.building-{dead_pid()}").mkdir()
    assert read_manifest(out)["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_running_builds_folder_is_left_alone(tmp_path):
    staging = tmp_path / f".model.building-{subprocess.os.getpid()}"
    staging.mkdir()
    recover(tmp_path / "model")
    assert staging.is_dir()


@pytest.mark.parametrize("damage, words", [
    (lambda folder: (folder / "neighbours.parquet").write_bytes(b"changed"), "checksum mismatch"),
    (lambda folder: (folder / "listings.parquet").unlink(), "missing or changed"),
    (lambda folder: (folder / MANIFEST).write_text("{ not json"), "is damaged"),
    (lambda folder: (folder / MANIFEST).write_text("[]"), "not a matcher manifest"),
    (lambda folder: (folder / MANIFEST).write_text(json.dumps(
        {**json.loads((folder / MANIFEST).read_text()), "format_version": 99})), "another version of matcher"),
    (lambda folder: (folder / MANIFEST).unlink(), "no finished build"),
])
def test_damaged_or_foreign_artifacts_are_refused_with_a_clear_message(demo_build, tmp_path, damage, words):
    out = tmp_path / "model"
    shutil.copytree(demo_build / "demo" / "model", out)
    damage(out)
    with pytest.raises(ArtifactError, match=words):
        Model.load(out)


def test_an_unchanged_build_is_hashed_once_and_a_change_after_that_is_still_refused(demo_build, tmp_path, monkeypatch):
    out = tmp_path / "model"
    shutil.copytree(demo_build / "demo" / "model", out)
    hashed = []
    real = artifacts.file_sha256
    monkeypatch.setattr(artifacts, "file_sha256", lambda path: hashed.append(path.name) or real(path))
    files = len(read_manifest(out)["files"])
    read_manifest(out)
    assert len(hashed) == files  # the second open re-read nothing
    table = out / "neighbours.parquet"
    table.write_bytes(table.read_bytes()[:-1] + b"x")  # same size, new modification time
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        read_manifest(out)
