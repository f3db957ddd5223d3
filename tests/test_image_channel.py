"""The image channel on the generated demo catalogue: trained head, untrained fallback, bad photos, save/load."""
import shutil

import numpy as np
import pytest

from matcher.catalog import Catalog, load_catalog
from matcher.images.channel import ImageChannel

QUICK = {"epochs": 30, "dim": 64}


def nn1(vectors, labels, present):
    rows = np.flatnonzero(present)
    sims = vectors[rows] @ vectors[rows].T
    np.fill_diagonal(sims, -np.inf)
    return (labels[rows][sims.argmax(1)] == labels[rows]).mean()


@pytest.fixture(scope="module")
def fitted(demo_catalog, tmp_path_factory):
    cache = tmp_path_factory.mktemp("features")
    return ImageChannel(arcface=QUICK, device="cpu", cache_dir=cache).fit(demo_catalog, log=lambda m: None)


def test_trained_channel_gives_unit_embeddings_that_find_the_same_product(fitted, demo_catalog):
    vectors, present, problems = fitted.transform(demo_catalog)
    assert vectors.shape == (len(demo_catalog), 64) and fitted.dim == 64
    assert present.all() and problems == []
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert fitted.training_["groups"] == len(set(demo_catalog.labels))
    # The head learned something the ImageNet features lack about which drawn product is which.
    raw, _, _ = fitted.extractor.transform_catalog(demo_catalog)
    assert nn1(vectors, demo_catalog.labels, present) > nn1(raw, demo_catalog.labels, present) + 0.05


def test_save_load_gives_the_same_vectors_and_reuses_the_feature_cache(fitted, demo_catalog, tmp_path):
    loaded = ImageChannel.load(fitted.save(tmp_path / "image"), cache_dir=fitted.cache_dir, device="cpu")
    assert loaded.get_params() == fitted.get_params() and loaded.training_ == fitted.training_
    calls = []
    forward = loaded.extractor.model.forward
    loaded.extractor.model.forward = lambda x: calls.append(len(x)) or forward(x)
    np.testing.assert_allclose(loaded.transform(demo_catalog)[0], fitted.transform(demo_catalog)[0], atol=1e-6)
    assert calls == []  # every photo's features came from the cache on disk


def test_unlabelled_catalogue_keeps_the_backbone_features(demo_catalog):
    frame = demo_catalog.frame.assign(label_group="")
    unlabelled = Catalog(frame, demo_catalog.image_dir, demo_catalog.report)
    messages = []
    channel = ImageChannel(device="cpu").fit(unlabelled, log=messages.append)
    assert channel.head_ is None and channel.dim == 1280 and "ImageNet" in messages[0]
    vectors, present, _ = channel.transform(unlabelled.subset(np.arange(10)))
    assert vectors.shape == (10, 1280) and present.all()


def test_bad_and_missing_photos_lose_only_their_own_evidence(fitted, demo_dir, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(demo_dir / "images", images)
    catalog = load_catalog(demo_dir / "catalog.csv", images)
    corrupt, empty = catalog.frame["image"].iloc[0], catalog.frame["image"].iloc[1]
    (images / corrupt).write_bytes(b"\xff\xd8 truncated")
    (images / empty).write_bytes(b"")
    (images / catalog.frame["image"].iloc[2]).unlink()
    catalog = load_catalog(demo_dir / "catalog.csv", images)  # the loader reports the missing file itself
    vectors, present, problems = fitted.transform(catalog)
    assert present.tolist()[:4] == [False, False, False, True]
    assert not vectors[:3].any()
    assert {p.path.split("/")[-1] for p in problems} == {corrupt, empty}
    assert all(corrupt in p.reason or empty in p.reason for p in problems)
