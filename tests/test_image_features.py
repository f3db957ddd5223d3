"""Photo features: unit rows aligned with their paths, bad photos as problems, a cache that skips the model."""
import hashlib
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from matcher.catalog import load_catalog
from matcher.images.backbone import make_transform
from matcher.images.features import FeatureExtractor
from matcher.images.read import read_image

CACHE_FILE = "features-tf_efficientnet_lite0.npz"


def write_photo(path, seed, size=64):
    """A small JPEG of smooth random colour, different for each seed."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 256, (2, 2, 3)).astype(np.uint8)
    Image.fromarray(corners).resize((size, size), Image.BILINEAR).save(path, quality=90)
    return path


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    return [write_photo(folder / f"p{i}.jpg", i) for i in range(3)]


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(batch_size=2, threads=2, device="cpu")


def count_images(monkeypatch, extractor):
    """Wrap the model so each test can see how many photos went through it."""
    seen, forward = [], extractor.model.forward
    monkeypatch.setattr(extractor.model, "forward", lambda x: seen.append(len(x)) or forward(x))
    return seen


def test_rows_are_unit_features_of_each_photo(extractor, photos):
    features, present, problems = extractor.transform_paths(photos)
    assert features.shape == (3, extractor.dim) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1, atol=1e-5)
    assert present.all() and problems == []
    # Deterministic and what the model says about that photo alone, whatever its batch.
    image, _ = read_image(photos[1])
    with torch.inference_mode():
        alone = extractor.model(make_transform(extractor.model)(image)[None]).numpy()[0]
    np.testing.assert_allclose(features[1], alone / np.linalg.norm(alone), atol=1e-5)


def test_bad_photos_give_zero_rows_and_name_their_files(extractor, photos, tmp_path):
    corrupt = tmp_path / "images" / "corrupt.jpg"
    corrupt.write_bytes(b"not a photo at all")
    missing = tmp_path / "images" / "missing.jpg"
    features, present, problems = extractor.transform_paths([photos[0], corrupt, missing])
    assert present.tolist() == [True, False, False]
    assert not features[1:].any()
    assert [problem.path for problem in problems] == [str(corrupt), str(missing)]
    assert "corrupt.jpg" in problems[0].reason and "missing.jpg" in problems[1].reason


def test_identical_bytes_are_computed_once(photos, monkeypatch):
    extractor = FeatureExtractor(batch_size=4, device="cpu")
    seen = count_images(monkeypatch, extractor)
    copy = shutil.copy(photos[0], photos[0].with_name("reused.jpg"))
    features, present, _ = extractor.transform_paths([photos[0], photos[1], copy])
    assert present.all() and sum(seen) == 2
    np.testing.assert_array_equal(features[0], features[2])


def test_cache_skips_the_model_and_recomputes_only_changed_photos(photos, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    first, _, _ = FeatureExtractor(cache_dir=cache_dir, device="cpu").transform_paths(photos)
    assert (cache_dir / CACHE_FILE).is_file() and list(cache_dir.iterdir()) == [cache_dir / CACHE_FILE]

    cached = FeatureExtractor(cache_dir=cache_dir, device="cpu")
    monkeypatch.setattr(cached.model, "forward", lambda x: pytest.fail("the model ran on cached photos"))
    again, present, _ = cached.transform_paths(photos)
    assert present.all()
    np.testing.assert_array_equal(again, first)

    write_photo(photos[2], seed=99)
    rebuilt = FeatureExtractor(cache_dir=cache_dir, device="cpu")
    seen = count_images(monkeypatch, rebuilt)
    changed, _, _ = rebuilt.transform_paths(photos)
    assert sum(seen) == 1
    np.testing.assert_array_equal(changed[:2], first[:2])
    assert not np.allclose(changed[2], first[2])


def test_a_build_reads_each_unchanged_photo_once(photos, monkeypatch):
    extractor = FeatureExtractor(device="cpu")
    first, _, _ = extractor.transform_paths(photos)
    read = []
    digest = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda file, name: read.append(file.name) or digest(file, name))
    extractor.transform_paths(photos)
    assert read == []
    write_photo(photos[1], seed=7)
    changed, _, _ = extractor.transform_paths(photos)
    assert read == [str(photos[1])]
    assert not np.allclose(changed[1], first[1])


def test_catalog_rows_follow_listings(extractor, photos, tmp_path):
    (tmp_path / "images" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    csv = tmp_path / "catalog.csv"
    csv.write_text("posting_id,title,image\n"
                   "a,red cup,p0.jpg\n"
                   "b,no photo,\n"
                   "c,broken,broken.jpg\n"
                   "d,blue cup,p1.jpg\n", encoding="utf-8")
    catalog = load_catalog(csv, tmp_path / "images")
    features, present, problems = extractor.transform_catalog(catalog)
    expected, _, _ = extractor.transform_paths([photos[0], photos[1]])
    assert features.shape == (4, extractor.dim)
    assert present.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(features[[0, 3]], expected)
    assert not features[[1, 2]].any()
    assert [problem.path.endswith("broken.jpg") for problem in problems] == [True]
