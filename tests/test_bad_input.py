"""The bad-input matrix: catalogues, photos and zips a moderator might hand us, each with the clear error or
warning it must get (or the repair it must get quietly). Nothing here may raise anything else.

docs/RELIABILITY.md counts these cases (bench/reliability.py); the unit tests beside them
(test_catalog, test_image_read, test_imports) go into each mechanism in more detail.
"""
import io
import os
import stat
import zipfile
import zlib

import numpy as np
import pytest
from files import jpeg, make_zip
from PIL import Image

from matcher.catalog import MAX_TITLE, CatalogError, load_catalog
from matcher.images.read import read_image
from matcher.imports import ImportRefused, safe_extract_zip

HEADER = "posting_id,image,title,label_group\n"


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="PNG")
    return out.getvalue()


# (case, file bytes, expected: "error" | "warning" | "info" | "ok", words the message must hold, check of the frame)
CSV_CASES = [
    ("semicolon delimiter", b"posting_id;image;title\na;;kopi\n", "warning", "separates columns with ';'", None),
    ("tab delimiter", b"posting_id\timage\ttitle\na\t\tkopi\n", "warning", "separates columns with tabs", None),
    ("UTF-16 with BOM", (HEADER + "a,,kopi susu,g\n").encode("utf-16"), "warning", "is UTF-16", None),
    ("Latin-1 accents", HEADER.encode() + "a,,caf\xe9 cr\xe8me,g\n".encode("latin-1"), "warning",
     "not valid UTF-8", lambda f: f["title"][0] == "café crème"),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + HEADER.encode() + b"a,,kopi,g\n", "ok", "", lambda f: f["posting_id"][0] == "a"),
    ("missing title column", b"posting_id,image\na,x.jpg\n", "error", "missing required column(s) 'title'", None),
    ("missing posting_id column", b"id,image,title\na,,kopi\n", "error", "'posting_id'", None),
    ("extra columns are kept", b"posting_id,image,title,price,shop\na,,kopi,12000,toko\n", "ok", "",
     lambda f: list(f.columns[-2:]) == ["price", "shop"] and f["price"][0] == "12000"),
    ("quoted newline in a title", HEADER.encode() + b'a,,"kopi\nsusu",g\nb,,teh,g\n', "ok", "",
     lambda f: f["title"][0] == "kopi susu" and len(f) == 2),
    ("100,000-character title", HEADER.encode() + b"a,," + b"x" * 100_000 + b",g\n", "warning",
     f"longer than {MAX_TITLE:,} characters", lambda f: len(f["title"][0]) == MAX_TITLE),
    ("emoji and right-to-left text", (HEADER + "a,,🍫 coklat שלום مرحبا,g\n").encode(), "ok", "",
     lambda f: f["title"][0] == "🍫 coklat שלום مرحبا"),
    ("duplicate ids", HEADER.encode() + b"a,,kopi,g\na,,teh,g\n", "error", "posting_id 'a' appears in rows 2 and 3",
     None),
    ("ids pandas would mangle", HEADER.encode() + b"000123,,a,g\n1e5,,b,g\nNaN,,c,g\nNULL,,d,g\n"
     b"12345678901234567890,,e,g\n", "ok", "",
     lambda f: f["posting_id"].tolist() == ["000123", "1e5", "NaN", "NULL", "12345678901234567890"]),
    ("empty ids", HEADER.encode() + b",,kopi,g\n", "error", "no posting_id", None),
    ("an id with a NUL byte", HEADER.encode() + b"a\x01b,,kopi,g\n", "error", "control characters", None),
    ("control characters in a title", HEADER.encode() + b"a,,ko\x07pi\x1b susu,g\n", "ok", "",
     lambda f: f["title"][0] == "ko pi  susu"),
    ("empty file", b"", "error", "no header", None),
    ("header only", HEADER.encode(), "error", "no listings", None),
    ("ragged rows", HEADER.encode() + b"a,,kopi,g,extra,more\n", "error", "row 2", None),
    ("unclosed quote", HEADER.encode() + b'a,,"kopi,g\nb,,teh,g\n', "error", "quote", None),
    ("a PNG saved as .csv", png_bytes(), "error", "not a CSV text file: it looks like a PNG image", None),
    ("an Excel workbook saved as .csv", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200), "error",
     "an .xlsx workbook", None),
    ("escaped bytes in titles", HEADER.encode() + b"a,,kopi \\xe2\\x98\\x95,g\nb,,bad \\xff,g\n", "warning",
     "escapes that are not valid UTF-8", lambda f: f["title"][0] == "kopi ☕"),
    ("invalid perceptual hashes", b"posting_id,image,title,image_phash\na,,kopi,zz\n", "warning", "image_phash",
     lambda f: f["image_phash"][0] == ""),
]


@pytest.mark.parametrize("case, raw, expected, words, check", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_bad_catalogue(tmp_path, case, raw, expected, words, check):
    path = tmp_path / "catalog.csv"
    path.write_bytes(raw)
    if expected == "error":
        with pytest.raises(CatalogError) as error:
            load_catalog(path)
        assert words in str(error.value) and str(path) in str(error.value), str(error.value)
        return
    catalog = load_catalog(path)
    if expected != "ok":
        said = [p.message for p in catalog.report.problems if p.severity == expected]
        assert any(words in message for message in said), catalog.report.summary()
    if check is not None:
        assert check(catalog.frame), catalog.frame.head()


def _image_folder(tmp_path):
    images, outside = tmp_path / "images", tmp_path / "secret"
    images.mkdir()
    outside.mkdir()
    (images / "ok.jpg").write_bytes(jpeg())
    (outside / "x.jpg").write_bytes(jpeg(1))
    os.symlink(outside / "x.jpg", images / "link.jpg")
    return images


PATH_CASES = [
    ("image path with ../", "../secret/x.jpg", "unsafe_image_path"),
    ("absolute image path", "/etc/passwd", "unsafe_image_path"),
    ("symlink out of the image folder", "link.jpg", "unsafe_image_path"),
    ("image file missing", "nowhere.jpg", "missing_image"),
]


@pytest.mark.parametrize("case, name, code", PATH_CASES, ids=[c[0] for c in PATH_CASES])
def test_bad_image_path_is_ignored_with_a_warning_and_the_listing_kept(tmp_path, case, name, code):
    images = _image_folder(tmp_path)
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + "a,ok.jpg,kopi,g\n" + f"b,{name},teh,g\n")
    catalog = load_catalog(path, images)
    assert len(catalog) == 2 and catalog.image_path(0) is not None and catalog.image_path(1) is None
    found = [p for p in catalog.report.problems if p.code == code]
    assert found and found[0].rows == (3,) and found[0].severity == "warning", catalog.report.summary()


def _write(path, data):
    path.write_bytes(data)
    return path


def _bomb(path):
    """A PNG header claiming 30,000 x 30,000 pixels: 900 MP, over the 40 MP limit; there are no pixels to decode."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (30_000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return _write(path, b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def _animated(path):
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    return path


def _sixteen_bit(path):
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).save(path)
    return path


IMAGE_CASES = [
    ("zero-byte photo", lambda p: _write(p / "a.jpg", b""), "empty"),
    ("truncated JPEG", lambda p: _write(p / "a.jpg", jpeg(size=(200, 200))[:400]), "truncated"),
    ("corrupt photo", lambda p: _write(p / "a.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4), "a.jpg"),
    ("not an image", lambda p: _write(p / "a.jpg", b"<html>not a photo</html>"), "not an image"),
    ("decompression bomb", lambda p: _bomb(p / "a.png"), "pixels"),
    ("a folder named like a photo", lambda p: (p / "a.jpg").mkdir() or p / "a.jpg", "folder"),
    ("CMYK JPEG", lambda p: _write(p / "a.jpg", jpeg(mode="CMYK")), None),
    ("16-bit greyscale PNG", lambda p: _sixteen_bit(p / "a.png"), None),
    ("animated GIF", lambda p: _animated(p / "a.gif"), None),
]


@pytest.mark.parametrize("case, make, words", IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_bad_photo_gives_no_image_evidence_with_a_reason_naming_the_file(tmp_path, case, make, words):
    path = make(tmp_path)
    image, problem = read_image(path)
    if words is None:  # readable: converted to plain RGB
        assert problem is None and image.mode == "RGB"
        return
    assert image is None and path.name in problem.reason and words in problem.reason.lower(), problem


def _link_entry() -> zipfile.ZipInfo:
    link = zipfile.ZipInfo("photos/a.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return link


ZIP_CASES = [
    ("zip entry with ../", {"ok.jpg": jpeg(), "../evil.jpg": jpeg(1)}, {}, "outside the photo folder"),
    ("zip entry with an absolute path", {"/etc/cron.d/x.jpg": jpeg()}, {}, "outside the photo folder"),
    ("zip entry that is a symlink", {"photos/b.jpg": jpeg(), _link_entry(): b"/etc/passwd"}, {},
     "symbolic link"),
    ("zip with too many files", {f"{i}.jpg": jpeg(i) for i in range(5)}, {"max_files": 4}, "more than the 4"),
    ("zip bomb", {"a.jpg": jpeg(), "b.jpg": bytes(4 << 20)}, {}, "zip bombs"),
    ("not a zip", b"these are not photos", {}, "not a zip"),
]


@pytest.mark.parametrize("case, entries, limits, words", ZIP_CASES, ids=[c[0] for c in ZIP_CASES])
def test_bad_photo_zip_is_refused_and_writes_nothing(tmp_path, case, entries, limits, words):
    data = entries if isinstance(entries, bytes) else make_zip(entries)
    with pytest.raises(ImportRefused) as error:
        safe_extract_zip(data, tmp_path / "out", **limits)
    assert words in str(error.value), str(error.value)
    assert not (tmp_path / "out").exists()
