"""Importing catalogues for the app: unsafe zips and folders refused, photos found, a tiny import built."""
import io
import json
import os
import stat
import zipfile

import pandas as pd
import pytest
from files import jpeg, make_zip

from matcher.build import BuildConfig
from matcher.demo import write_demo_catalog
from matcher.imports import (ImportRefused, build_catalogue, check_name, import_catalogue, safe_extract_zip,
                             server_image_folder)
from matcher.settings import Settings
from matcher.workspace import ensure_demo, list_catalogues


def catalogue_csv(images) -> bytes:
    return pd.DataFrame({"posting_id": [f"p{i}" for i in range(len(images))],
                         "title": [f"sabun {i}" for i in range(len(images))],
                         "image": images}).to_csv(index=False).encode()


# --- zips ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x.jpg", "/etc/x.jpg", "photos/../../x.jpg", "C:/x.jpg", "..\\x.jpg"])
def test_paths_leaving_the_folder_are_refused(tmp_path, name):
    data = make_zip({"ok.jpg": jpeg(), name: jpeg(1)})
    with pytest.raises(ImportRefused, match="outside the photo folder") as error:
        safe_extract_zip(data, tmp_path / "out")
    assert f"'{name}'" in str(error.value)
    assert list(tmp_path.rglob("*")) == [], "a refused zip writes nothing"


def test_symlink_entries_are_refused(tmp_path):
    link = zipfile.ZipInfo("photos/a.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = make_zip({"photos/b.jpg": jpeg(), link: b"/etc/passwd"})
    with pytest.raises(ImportRefused, match="'photos/a.jpg' .* symbolic link"):
        safe_extract_zip(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_too_many_files_are_refused(tmp_path):
    data = make_zip({f"{i}.jpg": jpeg(i) for i in range(4)})
    with pytest.raises(ImportRefused, match="4 entries, more than the 3 allowed"):
        safe_extract_zip(data, tmp_path / "out", max_files=3)


def test_zip_bombs_are_refused(tmp_path):
    bomb = make_zip({"a.jpg": jpeg(), "b.jpg": bytes(4 << 20)})
    with pytest.raises(ImportRefused, match="'b.jpg' .* zip bombs"):
        safe_extract_zip(bomb, tmp_path / "out")
    many = make_zip({f"{i}.jpg": jpeg(i) for i in range(3)})
    with pytest.raises(ImportRefused, match="more than .* GiB .* '1.jpg'"):
        safe_extract_zip(many, tmp_path / "out", max_bytes=len(jpeg(0)) + 10)
    assert not (tmp_path / "out").exists()


def test_non_photos_and_macos_metadata_are_skipped(tmp_path):
    data = make_zip({"a.JPG": jpeg(), "readme.txt": b"hi", "__MACOSX/._a.JPG": b"meta", ".DS_Store": b"x",
                     "sub/.hidden.png": jpeg(2), "sub/b.webp": jpeg(3), "sub/": b""})
    report = safe_extract_zip(data, tmp_path / "out")
    assert sorted(report.files) == ["a.JPG", "sub/b.webp"]
    assert sorted(report.skipped) == sorted(["readme.txt", "__MACOSX/._a.JPG", ".DS_Store", "sub/.hidden.png"])
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*")) == \
        ["a.JPG", "sub/b.webp"]
    assert "4 entries left out" in report.summary()


def test_corrupt_zip_is_a_clear_error(tmp_path):
    (tmp_path / "photos.zip").write_bytes(b"not a zip")
    with pytest.raises(ImportRefused, match="photos.zip is not a readable zip"):
        safe_extract_zip(tmp_path / "photos.zip", tmp_path / "out")


# --- photos resolve as the CSV names them ----------------------------------------------


@pytest.mark.parametrize("entries, names", [
    (["a.jpg", "b.jpg"], ["a.jpg", "b.jpg"]),                              # photos at the root
    (["photos/a.jpg", "photos/b.jpg"], ["a.jpg", "b.jpg"]),                # in one folder
    (["photos/a.jpg", "photos/b.jpg"], ["photos/a.jpg", "photos/b.jpg"]),  # in one folder the CSV names
    (["shop/x/a.jpg", "shop/y/b.jpg"], ["x/a.jpg", "y/b.jpg"]),            # subfolders inside one folder
    (["x/a.jpg", "y/b.jpg"], ["x/a.jpg", "y/b.jpg"]),                      # several folders at the root
])
def test_zipped_photos_resolve_from_the_csv(tmp_path, entries, names):
    data = make_zip({name: jpeg(i) for i, name in enumerate(entries)} | {"__MACOSX/._x": b""})
    imported = import_catalogue("shop", catalogue_csv(names), tmp_path, images_zip=data, settings=Settings())
    assert imported.report.count("missing_image") == 0, imported.summary()
    assert imported.image_dir == tmp_path / "shop" / "catalog" / "images"
    assert len(imported.photos.files) == 2


# --- server folders --------------------------------------------------------------------


def test_server_folders_must_lie_inside_an_allowed_root(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "shop" / "photos").mkdir(parents=True)
    outside.mkdir()
    (allowed / "escape").symlink_to(outside)
    assert server_image_folder(allowed / "shop" / "photos", [allowed]) == (allowed / "shop" / "photos").resolve()
    assert server_image_folder("shop/photos", [outside, allowed]) == (allowed / "shop" / "photos").resolve()
    for path in (outside, allowed / "escape", "escape", allowed / ".." / "outside", "../outside"):
        with pytest.raises(ImportRefused, match="outside the folders photos may be read from"):
            server_image_folder(path, [allowed])
    with pytest.raises(ImportRefused, match="does not exist"):
        server_image_folder("nowhere", [allowed])
    with pytest.raises(ImportRefused, match="upload the photos as a zip"):
        server_image_folder(allowed, [])


def test_import_with_a_server_folder_records_it(tmp_path):
    photos = tmp_path / "allowed" / "photos"
    photos.mkdir(parents=True)
    (photos / "a.jpg").write_bytes(jpeg())
    imported = import_catalogue("shop", catalogue_csv(["a.jpg", "gone.jpg"]), tmp_path / "art",
                                image_folder="photos", settings=Settings(image_roots=(tmp_path / "allowed",)))
    source = json.loads((tmp_path / "art" / "shop" / "catalog" / "source.json").read_text())
    assert source["image_folder"] == str(photos.resolve()) and imported.image_dir == photos.resolve()
    assert imported.report.count("missing_image") == 1
    assert not (tmp_path / "art" / "shop" / "catalog" / "images").exists()
    with pytest.raises(ImportRefused, match="outside"):
        import_catalogue("other", catalogue_csv(["a.jpg"]), tmp_path / "art", image_folder=str(tmp_path),
                         settings=Settings(image_roots=(tmp_path / "allowed",)))


# --- names, sizes and CSV problems -----------------------------------------------------


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "-x", "_x", "x" * 65, "naïve", "a b"])
def test_bad_names_are_refused(name):
    with pytest.raises(ImportRefused, match="letters, digits"):
        check_name(name)


def test_existing_and_reserved_names_are_refused_unless_overwritten(tmp_path):
    csv = catalogue_csv(["a.jpg"])
    import_catalogue("shop-2", csv, tmp_path, settings=Settings())
    with pytest.raises(ImportRefused, match="'shop-2' already exists"):
        import_catalogue("shop-2", csv, tmp_path, settings=Settings())
    import_catalogue("shop-2", catalogue_csv(["a.jpg", "b.jpg"]), tmp_path, settings=Settings(), overwrite=True)
    assert len(pd.read_csv(tmp_path / "shop-2" / "catalog" / "catalog.csv")) == 2
    with pytest.raises(ImportRefused, match="built-in demo"):
        import_catalogue("demo", csv, tmp_path, settings=Settings())


def test_a_bad_csv_is_reported_and_leaves_nothing_behind(tmp_path):
    upload = io.BytesIO(b"posting_id,title,image\np1,sabun,a.jpg\np1,kopi,b.jpg\n")
    upload.name = "products.csv"
    with pytest.raises(ImportRefused, match="products.csv cannot be imported as catalogue 'shop'.*"
                                            "posting_id 'p1' appears in rows 2 and 3"):
        import_catalogue("shop", upload, tmp_path, images_zip=make_zip({"a.jpg": jpeg()}), settings=Settings())
    assert not (tmp_path / "shop" / "catalog").exists()


def test_a_failed_overwrite_keeps_the_old_catalogue(tmp_path):
    import_catalogue("shop", catalogue_csv(["a.jpg"]), tmp_path, settings=Settings())
    with pytest.raises(ImportRefused, match="'../x.jpg'"):
        import_catalogue("shop", catalogue_csv(["a.jpg"]), tmp_path, images_zip=make_zip({"../x.jpg": jpeg()}),
                         settings=Settings(), overwrite=True)
    assert (tmp_path / "shop" / "catalog" / "catalog.csv").read_bytes() == catalogue_csv(["a.jpg"])
    assert [p.name for p in (tmp_path / "shop").iterdir()] == ["catalog"]


def test_csv_warnings_are_summarised(tmp_path):
    csv = b"posting_id,title,image,label_group\np1,sabun,a.jpg,g1\np2,,b.jpg,g1\np3,kopi,c.jpg,\n"
    imported = import_catalogue("shop", csv, tmp_path, images_zip=make_zip({"a.jpg": jpeg(), "b.jpg": jpeg(1)}),
                                settings=Settings())
    assert imported.labelled and imported.report.n_rows == 3
    assert any("empty title" in w and "row 3" in w for w in imported.warnings)
    assert any("not found" in w and "row 4" in w for w in imported.warnings)
    assert "3 listings loaded" in imported.summary() and "2 photos" in imported.summary()


def test_uploads_over_the_limit_are_refused(tmp_path):
    big = catalogue_csv(["a.jpg"]) + b"x" * (1 << 20)
    with pytest.raises(ImportRefused, match="over the 1 MiB upload limit"):
        import_catalogue("shop", big, tmp_path, settings=Settings(upload_mb=1))
    with pytest.raises(ImportRefused, match="holds no photos"):
        import_catalogue("shop", catalogue_csv(["a.jpg"]), tmp_path, images_zip=make_zip({"a.txt": b"x"}),
                         settings=Settings())


# --- import, build, list ---------------------------------------------------------------


def test_demo_progress_maps_the_build_into_its_second_half(tmp_path, monkeypatch):
    import matcher.build

    def fake_build(catalog, out_dir, config, log, progress):
        for fraction in (0.0, 0.4, 1.0):
            progress(fraction, "step")
        (out_dir / "manifest.json").parent.mkdir(parents=True)
        (out_dir / "manifest.json").write_text("{}")

    monkeypatch.setattr(matcher.build, "build", fake_build)
    seen = []
    ensure_demo(tmp_path, listings=12, progress=lambda fraction, message: seen.append(fraction), log=print)
    assert seen == sorted(seen) and seen[-4:] == [0.5, 0.5, 0.7, 1.0]


def test_import_build_and_list_a_small_catalogue(tmp_path):
    demo = tmp_path / "demo-source"
    write_demo_catalog(demo, listings=120, seed=0)
    photos = io.BytesIO()
    with zipfile.ZipFile(photos, "w") as archive:
        for path in sorted((demo / "images").iterdir()):
            archive.write(path, f"images/{path.name}")
    photos.name = "photos.zip"
    root = tmp_path / "artifacts"
    imported = import_catalogue("shop", (demo / "catalog.csv").read_bytes(), root, images_zip=photos,
                                settings=Settings())
    assert imported.report.count("missing_image") == 0 and imported.photos.stripped

    seen = []
    config = BuildConfig(channels=("tfidf_word",), images=False, strategies=("union", "fused"))
    manifest = build_catalogue("shop", root, progress=lambda fraction, message: seen.append((fraction, message)),
                               config=config)
    fractions = [fraction for fraction, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert len(set(fractions)) >= 6, seen
    assert manifest["catalog"]["listings"] == 120 and manifest["phash"]

    (root / "broken" / "model").mkdir(parents=True)
    (root / "broken" / "model" / "manifest.json").write_text("{not json")
    import_catalogue("waiting", catalogue_csv(["a.jpg"]), root, settings=Settings())
    (root / "demo" / "catalog").mkdir(parents=True)
    (root / "demo" / "catalog" / "catalog.csv").write_bytes(catalogue_csv(["a.jpg"]))
    listed = {info.name: info for info in list_catalogues(root)}
    assert list(listed) == ["demo", "broken", "shop", "waiting"]
    shop = listed["shop"]
    assert (shop.status, shop.listings, shop.labelled, shop.has_images) == ("ready", 120, True, True)
    assert shop.strategy == manifest["strategy"] and shop.mean_f1 > 0.5 and shop.built_at
    assert shop.model == root / "shop" / "model"
    assert shop.problems == tuple(f"warning: {message}" for message in imported.warnings)
    assert listed["broken"].status == "broken" and "manifest.json" in listed["broken"].problems[0]
    assert listed["waiting"].status == "not built" and listed["demo"].status == "not built"

    later = os.stat(root / "shop" / "model" / "manifest.json").st_mtime_ns + 10**9
    import_catalogue("shop", (demo / "catalog.csv").read_bytes(), root, settings=Settings(), overwrite=True)
    os.utime(root / "shop" / "catalog" / "catalog.csv", ns=(later, later))
    shop = {info.name: info for info in list_catalogues(root)}["shop"]
    assert shop.status == "ready" and "imported again after this build" in shop.problems[-1]
