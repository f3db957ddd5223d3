"""The generated demo catalogue must be reproducible and behave like the Shopee data."""

import re

import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from matcher.demo import COLUMNS, escape_non_ascii, group_sizes, plan_demo, shops, write_demo_catalog

LISTINGS, SEED = 240, 7
ESCAPE = re.compile(r"\\x[0-9a-f]{2}")


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    calls = []
    path = write_demo_catalog(out, LISTINGS, SEED, progress=lambda done, total: calls.append((done, total)))
    return path, calls


@pytest.fixture(scope="module")
def catalog(written):
    return read(written[0])


@pytest.fixture(scope="module")
def plan():
    return plan_demo(600, 0)


def phash_bits(hex_hash):
    return np.array([int(b) for b in bin(int(hex_hash, 16))[2:].zfill(64)])


def test_same_seed_gives_identical_files(written, tmp_path):
    path = write_demo_catalog(tmp_path, LISTINGS, SEED)
    assert path.read_bytes() == written[0].read_bytes()
    for name in read(path)["image"].unique():
        assert (tmp_path / "images" / name).read_bytes() == (written[0].parent / "images" / name).read_bytes()


def test_other_seed_gives_other_catalogue(written, tmp_path):
    path = write_demo_catalog(tmp_path, LISTINGS, SEED + 1)
    assert path.read_bytes() != written[0].read_bytes()
    assert set(read(path)["title"]) != set(read(written[0])["title"])


def test_layout_and_ids(catalog):
    assert list(catalog.columns) == COLUMNS
    assert len(catalog) == LISTINGS
    assert catalog["posting_id"].is_unique
    assert catalog["posting_id"].str.fullmatch(r"demo_\d{7}").all()
    assert catalog["label_group"].str.fullmatch(r"0\d{8}").all()  # leading zeros: read with dtype=str
    assert catalog["image"].str.fullmatch(r"[0-9a-f]{32}\.jpg").all()


def test_plan_is_what_gets_written(catalog):
    plan = plan_demo(LISTINGS, SEED)
    for column in ("posting_id", "image", "title", "label_group"):
        assert plan[column].tolist() == catalog[column].tolist()


def test_exact_row_count_for_any_size():
    for listings in (1, 2, 5, 37, 999):
        assert sum(group_sizes(listings, np.random.default_rng(0))) == listings
    assert len(plan_demo(37, 1)) == 37
    with pytest.raises(ValueError):
        plan_demo(0)


def test_group_sizes_are_long_tailed(plan):
    sizes = plan.groupby("label_group").size()
    assert sizes.between(2, 3).mean() > 0.5
    assert sizes.max() > 10
    assert (sizes == 1).sum() > 0
    assert plan_demo(300, 0).groupby("label_group").size().max() > 10
    assert plan_demo(1000, 0).groupby("label_group").size().max() >= 30


def test_hard_negatives_differ_only_in_size_colour_or_pack(plan):
    products = plan.drop_duplicates("product")
    families = [f for _, f in products.groupby("family") if len(f) > 1]
    assert len(families) >= 20
    for family in families:
        assert family[["brand", "kind"]].nunique().max() == 1
        assert family["label_group"].is_unique
        varying = [c for c in ("size", "colour", "pack") if family[c].nunique() > 1]
        assert len(varying) == 1
    axes = {c for f in families for c in ("size", "colour") if f[c].nunique() > 1}
    assert axes == {"size", "colour"}


def test_titles_are_noisy_like_the_real_data(plan):
    titles = plan["title"]
    assert 0 < titles.str.contains(ESCAPE).mean() < 0.05
    assert 0 < (titles == "").mean() < 0.03
    text = " ".join(titles).lower()
    for word in ("sabun", "kopi", "warna", "isi", "shoes", "water bottle", "ready stock", "cod", "ml"):
        assert word in text
    assert (titles == titles.str.upper()).mean() > 0.1  # ALL CAPS sellers
    assert titles.str.contains(r"^\[", regex=True).any()  # [SHOPNAME] tags
    assert (plan.groupby("label_group")["title"].nunique() > 1).mean() > 0.9


def test_escape_non_ascii_matches_real_format():
    assert escape_non_ascii("Café ❤") == "Caf\\xc3\\xa9 \\xe2\\x9d\\xa4"
    assert escape_non_ascii("plain") == "plain"


def test_images_open_and_phash_matches(catalog, written):
    images = written[0].parent / "images"
    assert catalog["image_phash"].str.fullmatch(r"[0-9a-f]{16}").all()
    for name, phash in catalog.drop_duplicates("image")[["image", "image_phash"]].itertuples(index=False):
        with Image.open(images / name) as image:
            assert image.format == "JPEG"
            assert all(200 <= side <= 400 for side in image.size)
            assert str(imagehash.phash(image)) == phash


def test_some_sellers_reuse_the_same_photo(catalog):
    reused = catalog[catalog.duplicated("image", keep=False)]
    assert len(reused) > 0
    assert (reused.groupby("image")["label_group"].nunique() == 1).all()
    assert (reused.groupby("image")["image_phash"].nunique() == 1).all()


def test_same_product_photos_look_more_alike(catalog, written):
    bits = np.stack([phash_bits(h) for h in catalog["image_phash"]])
    distance = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    images = written[0].parent / "images"
    pixels = np.stack([np.asarray(Image.open(images / name).convert("L").resize((16, 16)), float).ravel()
                       for name in catalog["image"]])
    pixels = (pixels - pixels.mean(1, keepdims=True)) / (pixels.std(1, keepdims=True) + 1e-9)
    correlation = pixels @ pixels.T / pixels.shape[1]
    groups = catalog["label_group"].to_numpy()
    pairs = np.triu_indices(len(catalog), 1)
    same = (groups[:, None] == groups[None, :])[pairs]
    assert distance[pairs][same].mean() < distance[pairs][~same].mean() - 3
    assert correlation[pairs][same].mean() > correlation[pairs][~same].mean() + 0.1


def test_progress_reaches_total(written):
    calls = written[1]
    assert calls and calls[-1][0] == calls[-1][1]
    assert [done for done, _ in calls] == list(range(1, len(calls) + 1))


def test_readme_says_it_is_generated(written):
    readme = (written[0].parent / "README.md").read_text(encoding="utf-8")
    for needle in ("python -m matcher demo", f"seed={SEED}", f"listings={LISTINGS}", "invented",
                   "Shopee - Price Match Guarantee"):
        assert needle in readme


def test_a_seller_pool_beyond_the_name_space_still_has_distinct_names():
    pool = shops(100_000, 0)  # 25,000 sellers: more than heads, tails and numbers make (19,600)
    assert len(pool) == 25_000 == len({shop.name for shop in pool})
