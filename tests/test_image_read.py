"""Tests for matcher.images: every photo, good or bad, is generated into tmp_path by the test itself."""
from __future__ import annotations

import struct
import warnings
import zlib

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageFile

from matcher.catalog import load_catalog
from matcher.images.phash import catalogue_phashes, image_phash
from matcher.images.read import ImageProblem, read_image, read_images

WHITE, RED, BLUE = (255, 255, 255), (255, 0, 0), (0, 0, 255)


def saved(tmp_path, image: Image.Image, name: str, **params):
    path = tmp_path / name
    image.save(path, **params)
    return path


def noise(size, seed=0) -> Image.Image:
    """Random pixels: JPEG cannot compress them, so the file is large and every byte matters."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def png_header_only(path, width: int, height: int):
    """A PNG that claims width x height but holds one empty data chunk: opening must refuse it cheaply."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path


def good(result) -> Image.Image:
    image, problem = result
    assert problem is None, problem
    assert image.mode == "RGB"
    image.getpixel((0, 0))  # fully loaded, detached from the (closed) file
    return image


def bad(result, path) -> ImageProblem:
    image, problem = result
    assert image is None
    assert problem.path == str(path)
    assert path.name in problem.reason
    return problem


# --- odd but valid photos ------------------------------------------------------------------


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to view
    path = saved(tmp_path, Image.new("RGB", (40, 20), RED), "turned.jpg", exif=exif)
    assert good(read_image(path)).size == (20, 40)


def test_palette_transparency_becomes_white(tmp_path):
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0] + list(RED) + [0, 0, 0] * 254)
    image.putpixel((0, 0), 0)
    for name in ("palette.png", "palette.gif"):
        rgb = good(read_image(saved(tmp_path, image, name, transparency=0)))
        assert rgb.getpixel((0, 0)) == WHITE
        assert rgb.getpixel((1, 1)) == RED


def test_palette_without_transparency(tmp_path):
    image = Image.new("RGB", (4, 4), BLUE).convert("P")
    assert good(read_image(saved(tmp_path, image, "palette.png"))).getpixel((0, 0)) == BLUE


@pytest.mark.parametrize("mode, clear, solid", [("RGBA", (0, 0, 0, 0), (*RED, 255)), ("LA", (0, 0), (0, 255))])
def test_alpha_is_composited_onto_white(tmp_path, mode, clear, solid):
    image = Image.new(mode, (4, 4), solid)
    image.putpixel((0, 0), clear)
    rgb = good(read_image(saved(tmp_path, image, f"{mode}.png")))
    assert rgb.getpixel((0, 0)) == WHITE
    assert rgb.getpixel((1, 1)) == Image.new(mode, (1, 1), solid).convert("RGB").getpixel((0, 0))


def test_cmyk_jpeg(tmp_path):
    path = saved(tmp_path, Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "cmyk.jpg")
    r, g, b = good(read_image(path)).getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    image = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    path = saved(tmp_path, image, "grey16.png")
    with Image.open(path) as stored:
        assert stored.mode.startswith("I")
    r, g, b = good(read_image(path)).getpixel((0, 0))
    assert r == g == b and abs(r - 128) <= 1


def test_one_bit(tmp_path):
    image = Image.new("1", (8, 8), 1)
    image.putpixel((0, 0), 0)
    rgb = good(read_image(saved(tmp_path, image, "bits.png")))
    assert rgb.getpixel((0, 0)) == (0, 0, 0) and rgb.getpixel((1, 1)) == WHITE


@pytest.mark.parametrize("name", ["moving.gif", "moving.webp"])
def test_animation_gives_first_frame(tmp_path, name):
    first, second = Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)
    path = saved(tmp_path, first, name, save_all=True, append_images=[second], duration=100, loop=0)
    r, g, b = good(read_image(path)).getpixel((4, 4))
    assert r > 200 and b < 60


def test_one_pixel(tmp_path):
    assert good(read_image(saved(tmp_path, Image.new("RGB", (1, 1), BLUE), "dot.png"))).size == (1, 1)


def test_draft_size_decodes_large_jpeg_at_reduced_scale(tmp_path):
    path = saved(tmp_path, noise((2000, 1600)), "large.jpg")
    assert good(read_image(path)).size == (2000, 1600)
    small = good(read_image(path, draft_size=(256, 256))).size
    assert small == (500, 400)  # 1/4 scale: the smallest JPEG scale still at least 256 on each side


def test_draft_size_is_ignored_for_other_formats(tmp_path):
    path = saved(tmp_path, Image.new("RGB", (600, 400), RED), "large.png")
    assert good(read_image(path, draft_size=(64, 64))).size == (600, 400)


# --- bad files: no image, a problem naming the file ----------------------------------------


@pytest.mark.parametrize("size", [(20000, 20000), (8000, 6000)])
def test_decompression_bomb_is_refused_without_loading(tmp_path, size):
    path = png_header_only(tmp_path / "bomb.png", *size)
    assert "decompression" in bad(read_image(path), path).reason.lower()


def test_max_pixels_refuses_a_normal_image(tmp_path):
    path = saved(tmp_path, Image.new("RGB", (100, 100), RED), "big.png")
    problem = bad(read_image(path, max_pixels=9_999), path)
    assert "100x100" in problem.reason and "9,999" in problem.reason
    good(read_image(path, max_pixels=10_000))


def test_pillow_global_state_is_left_alone(tmp_path):
    limit, truncated, filters = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)
    path = png_header_only(tmp_path / "bomb.png", 20000, 20000)
    read_images([path, tmp_path / "missing.jpg"])
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == (limit, truncated)
    assert warnings.filters == filters


def test_truncated_jpeg(tmp_path):
    data = saved(tmp_path, noise((64, 64)), "whole.jpg").read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in bad(read_image(path), path).reason


def test_corrupt_png_data(tmp_path):
    data = bytearray(saved(tmp_path, noise((32, 32)), "whole.png").read_bytes())
    data[60:200] = bytes(140)
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    bad(read_image(path), path)


@pytest.mark.parametrize("name, content, words", [
    ("noise.jpg", np.random.default_rng(1).integers(0, 256, 512, dtype=np.uint8).tobytes(), "not an image"),
    ("empty.jpg", b"", "empty"),
    ("notes.jpg", b"this is a shopping list, not a photo\n", "not an image"),
])
def test_files_that_are_not_images(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    assert words in bad(read_image(path), path).reason


def test_missing_file_and_folder(tmp_path):
    missing, folder = tmp_path / "gone.jpg", tmp_path / "folder.jpg"
    folder.mkdir()
    assert "does not exist" in bad(read_image(missing), missing).reason
    assert "folder" in bad(read_image(folder), folder).reason


def test_read_images_keeps_order(tmp_path):
    red = saved(tmp_path, Image.new("RGB", (2, 2), RED), "red.png")
    blue = saved(tmp_path, Image.new("RGB", (2, 2), BLUE), "blue.png")
    gone = tmp_path / "gone.png"
    images, problems = read_images([blue, gone, red], max_pixels=100)
    assert [im and im.getpixel((0, 0)) for im in images] == [BLUE, None, RED]
    assert [p.path for p in problems] == [str(gone)]


# --- catalogue hashes ------------------------------------------------------------------------


def test_image_phash_is_16_lower_hex_digits():
    digest = image_phash(noise((64, 64)))
    assert len(digest) == 16 and digest == digest.lower() and int(digest, 16) >= 0


def test_catalogue_phashes(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    photo = noise((48, 32), seed=3)
    saved(images, photo, "kept.png")
    saved(images, photo, "fresh.png")
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    shipped = "94d3e5c1b2a69078"
    (tmp_path / "cat.csv").write_text("posting_id,title,image,image_phash\n"
                                      f"p1,Soap,kept.png,{shipped}\n"
                                      "p2,Soap,fresh.png,\n"
                                      "p3,Soap,broken.jpg,\n"
                                      "p4,Soap,,\n")
    calls = []
    hashes, problems = catalogue_phashes(load_catalog(tmp_path / "cat.csv", images),
                                         progress=lambda done, total: calls.append((done, total)))
    assert hashes.dtype == object
    assert hashes.tolist() == [shipped, str(imagehash.phash(photo)), "", ""]
    assert len(problems) == 1 and "broken.jpg" in problems[0].reason
    assert calls == [(1, 2), (2, 2)]


def test_catalogue_phashes_without_image_folder(tmp_path):
    (tmp_path / "cat.csv").write_text("posting_id,title,image\np1,Soap,a.jpg\np2,Soap,b.jpg\n")
    hashes, problems = catalogue_phashes(load_catalog(tmp_path / "cat.csv"))
    assert hashes.tolist() == ["", ""] and problems == []
