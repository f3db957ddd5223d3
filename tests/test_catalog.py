"""Tests for matcher.catalog: every file is written into tmp_path by the test itself."""
from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from matcher.catalog import (
    CatalogError,
    Problem,
    _rows_text,
    catalog_from_frame,
    decode_byte_escapes,
    load_catalog,
)

HEADER = "posting_id,title,image,image_phash,label_group\n"


def write(tmp_path, text: str | bytes, name: str = "cat.csv"):
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def codes(catalog) -> set[str]:
    return {p.code for p in catalog.report.problems}


def problem(catalog, code: str) -> Problem:
    return next(p for p in catalog.report.problems if p.code == code)


# --- values are text ---------------------------------------------------------------------


def test_ids_and_values_are_read_as_text_unchanged(tmp_path):
    rows = ["0012", "1e5", "NA", "null", "1234567890123456789", "nan"]
    body = "".join(f"{pid},t{k},,,{pid}\n" for k, pid in enumerate(rows))
    catalog = load_catalog(write(tmp_path, HEADER + body))
    assert catalog.posting_ids.tolist() == rows
    assert catalog.labels.tolist() == rows
    assert catalog.frame.notna().all().all()
    assert all(isinstance(v, str) for v in catalog.frame.to_numpy().ravel())


def test_frame_layout_canonical_columns_first_then_extras_in_order(tmp_path):
    path = write(tmp_path, "shop,title,posting_id,price,image\nA,Soap,p1,10,a.jpg\n")
    catalog = load_catalog(path)
    canonical = ["posting_id", "title", "image", "image_phash", "label_group"]
    assert catalog.frame.columns.tolist() == canonical + ["shop", "price"]
    assert catalog.frame.iloc[0].tolist() == ["p1", "Soap", "a.jpg", "", "", "A", "10"]
    assert isinstance(catalog.frame.index, pd.RangeIndex)
    assert "'shop', 'price'" in problem(catalog, "extra_columns").message
    assert not catalog.has_labels and not catalog.has_phash


# --- columns and header ----------------------------------------------------------------------


def test_missing_column_names_file_columns_and_suggests_rename(tmp_path):
    path = write(tmp_path, "posting_id,Title,img\np1,Soap,a.jpg\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message
    assert "'title', 'image'" in message
    assert "columns found: 'posting_id', 'Title', 'img'" in message
    assert "column 'Title' looks like 'title': rename it in the header" in message
    assert "'img' looks like 'image'" in message


@pytest.mark.parametrize(
    ("found", "ours"),
    [("id", "posting_id"), ("Product ID", "posting_id"), ("product_name", "title"),
     ("filename", "image"), ("image_path", "image")],
)
def test_missing_column_synonyms_are_suggested(tmp_path, found, ours):
    columns = {"posting_id": "posting_id", "title": "title", "image": "image"}
    columns[ours] = found
    path = write(tmp_path, ",".join(columns.values()) + "\np1,Soap,a.jpg\n")
    with pytest.raises(CatalogError, match=f"'{found}' looks like '{ours}': rename it in the header"):
        load_catalog(path)


def test_optional_column_under_another_name_is_kept_with_a_hint(tmp_path):
    path = write(tmp_path, "posting_id,title,image,phash,Label\np1,Soap,,abcdabcdabcdabcd,7\n")
    catalog = load_catalog(path)
    assert catalog.frame["phash"].tolist() == ["abcdabcdabcdabcd"]
    assert not catalog.has_phash and not catalog.has_labels
    message = problem(catalog, "extra_columns").message
    assert "'phash' looks like 'image_phash'" in message and "'Label' looks like 'label_group'" in message


def test_header_whitespace_and_bom_are_stripped(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf posting_id , title ,\timage\np1,Soap,a.jpg\n")
    catalog = load_catalog(path)
    assert catalog.frame.columns[:3].tolist() == ["posting_id", "title", "image"]
    assert catalog.titles == ["Soap"]


def test_duplicate_header_column_is_an_error(tmp_path):
    with pytest.raises(CatalogError, match="'title' appear more than once"):
        load_catalog(write(tmp_path, "posting_id,title,image,title\np1,a,,b\n"))


# --- encodings and delimiters ------------------------------------------------------------------


def test_utf16_file_is_decoded_with_a_warning(tmp_path):
    path = write(tmp_path, ("posting_id,title,image\r\np1,Crème brûlée,a.jpg\r\n").encode("utf-16"))
    catalog = load_catalog(path)
    assert catalog.titles == ["Crème brûlée"]
    assert problem(catalog, "encoding").severity == "warning"


def test_non_utf8_rows_are_read_as_cp1252_and_reported(tmp_path):
    text = (HEADER.encode() + "p1,Café latte,,,\n".encode("utf-8") + "p2,Café noir,,,\n".encode("cp1252")
            + b"p3,odd \x81 byte,,,\n" + b'p4,"two\nlines \xe9",,,\n')
    catalog = load_catalog(write(tmp_path, text))
    assert catalog.titles == ["Café latte", "Café noir", "odd \x81 byte", "two lines é"]
    found = problem(catalog, "non_utf8")
    assert found.severity == "warning" and found.rows == (3, 4, 5)
    assert "save the file as UTF-8" in found.message


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_or_tab_delimiter_is_read_with_a_warning(tmp_path, delimiter):
    lines = [["posting_id", "title", "image"], ["p1", "Soap, 2 pcs", "a.jpg"]]
    path = write(tmp_path, "".join(delimiter.join(line) + "\n" for line in lines))
    catalog = load_catalog(path)
    assert catalog.titles == ["Soap, 2 pcs"]
    assert problem(catalog, "delimiter").severity == "warning"


def test_semicolon_header_without_required_columns_is_a_missing_column_error(tmp_path):
    with pytest.raises(CatalogError, match="missing required column"):
        load_catalog(write(tmp_path, "id;name\n1;Soap\n"))


# --- fatal file shapes -----------------------------------------------------------------------


def test_empty_file_has_no_header(tmp_path):
    with pytest.raises(CatalogError, match="has no header"):
        load_catalog(write(tmp_path, ""))


def test_header_only_file_has_no_listings(tmp_path):
    with pytest.raises(CatalogError, match="has a header but no listings"):
        load_catalog(write(tmp_path, HEADER + "\n"))


def test_missing_file_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot read catalogue"):
        load_catalog(tmp_path / "nope.csv")


def test_ragged_rows_name_the_rows(tmp_path):
    path = write(tmp_path, "posting_id,title,image\np1,Soap,a.jpg\np2,Soap, 2 pcs,b.jpg\np3,Tea\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert "row 3 has 4, row 4 has 2 fields" in str(info.value)
    assert info.value.problems[0].rows == (3, 4)


def test_unclosed_quote_is_reported_not_crashing(tmp_path):
    with pytest.raises(CatalogError, match="row 3"):
        load_catalog(write(tmp_path, 'posting_id,title,image\np1,Soap,a.jpg\np2,"Tea,b.jpg\np3,x,y\n'))


# --- ids -------------------------------------------------------------------------------------


def test_duplicate_ids_list_ids_and_rows(tmp_path):
    path = write(tmp_path, "posting_id,title,image\nx,a,\ny,b,\nx,c,\nz,d,\nz,e,\nx,f,\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert "posting_id 'x' appears in rows 2, 4 and 7" in message
    assert "posting_id 'z' appears in rows 5 and 6" in message
    assert "posting ids must be unique" in message
    assert info.value.problems[0].code == "duplicate_id"


def test_empty_ids_are_an_error_with_rows(tmp_path):
    with pytest.raises(CatalogError, match=r"2 listings in .*cat.csv \(rows 3 and 4\) have no posting_id"):
        load_catalog(write(tmp_path, "posting_id,title,image\np1,a,\n,b,\n  ,c,\n"))


def test_row_numbers_count_records_not_lines_and_keep_blank_lines(tmp_path):
    path = write(tmp_path, 'posting_id,title,image\np1,"multi\nline",\n\np2,b,\np1,c,\n')
    with pytest.raises(CatalogError, match="rows 2 and 5"):
        load_catalog(path)


# --- titles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "ok"),
    [
        (r"Nescafe \xc3\x89clair Latte 220ml", "Nescafe Éclair Latte 220ml", True),
        (r"\xE2\x9C\x85cod Speaker", "✅cod Speaker", True),
        (r"plain \x", r"plain \x", True),
        (r"cut \xe2\x80", r"cut \xe2\x80", False),
        (r"\xc3\x89 then \xff", r"É then \xff", False),
    ],
)
def test_decode_byte_escapes(raw, expected, ok):
    assert decode_byte_escapes(raw) == (expected, ok)


def test_titles_are_decoded_stripped_and_put_on_one_line(tmp_path):
    body = ('p1,Nescafe \\xc3\\x89clair,\np2,"  two\r\nlines  ",\np3,   ,\np4,,\n'
            'p5,bad \\xff,\np6,ok,\n')
    catalog = load_catalog(write(tmp_path, "posting_id,title,image\n" + body))
    assert catalog.titles == ["Nescafe Éclair", "two lines", "", "", r"bad \xff", "ok"]
    assert problem(catalog, "byte_escape").rows == (2,)
    assert problem(catalog, "bad_escape").rows == (6,)
    empty = problem(catalog, "empty_title")
    assert empty.severity == "warning" and empty.rows == (4, 5)
    assert "treated as no text evidence" in empty.message
    assert catalog.has_titles and len(catalog) == 6


def test_has_titles_false_when_all_titles_empty(tmp_path):
    assert not load_catalog(write(tmp_path, "posting_id,title,image\np1,,\np2, ,\n")).has_titles


# --- image_phash and labels --------------------------------------------------------------------


def test_phash_is_lower_cased_and_invalid_values_blanked(tmp_path):
    body = "p1,a,,AF3F9460C2838F0F,\np2,b,,xyz,\np3,c,,,\np4,d,,af3f9460c2838f0,\n"
    catalog = load_catalog(write(tmp_path, HEADER + body))
    assert catalog.frame["image_phash"].tolist() == ["af3f9460c2838f0f", "", "", ""]
    assert problem(catalog, "bad_phash").rows == (3, 5)
    assert catalog.has_phash


def test_unlabelled_and_singleton_groups_are_reported(tmp_path):
    body = "p1,a,,,g1\np2,b,,,g1\np3,c,,,\np4,d,,,g2\n"
    catalog = load_catalog(write(tmp_path, HEADER + body))
    assert catalog.has_labels
    unlabelled = problem(catalog, "unlabelled")
    assert unlabelled.severity == "warning" and unlabelled.rows == (4,)
    assert "evaluated as their own group" in unlabelled.message
    assert problem(catalog, "singleton_group").severity == "info"
    assert catalog.report.count("singleton_group") == 1


# --- images ----------------------------------------------------------------------------------


@pytest.fixture
def image_tree(tmp_path):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    for name in ("a.jpg", "sub/b.jpg", "../outside.jpg"):
        (images / name).write_bytes(b"jpg")
    os.symlink(tmp_path / "outside.jpg", images / "link_out.jpg")
    os.symlink(images / "a.jpg", images / "link_in.jpg")
    return images


def test_image_checks_flag_unsafe_and_missing_but_keep_listings(tmp_path, image_tree):
    names = ["a.jpg", "sub/b.jpg", "", "gone.jpg", "../outside.jpg", str(tmp_path / "outside.jpg"),
             "link_out.jpg", "link_in.jpg", "sub/../a.jpg", "sub", "sub/gone.jpg"]
    body = "".join(f"p{k},t,{name}\n" for k, name in enumerate(names))
    catalog = load_catalog(write(tmp_path, "posting_id,title,image\n" + body), image_dir=image_tree)
    assert len(catalog) == len(names)
    assert problem(catalog, "unsafe_image_path").rows == (6, 7, 8)
    assert problem(catalog, "missing_image").rows == (5, 11, 12)
    paths = [catalog.image_path(i) for i in range(len(names))]
    root = image_tree.resolve()
    assert paths == [root / "a.jpg", root / "sub/b.jpg", None, None, None, None, None, root / "a.jpg",
                     root / "a.jpg", None, None]


def test_without_image_dir_no_file_checks(tmp_path):
    catalog = load_catalog(write(tmp_path, "posting_id,title,image\np1,t,/etc/passwd\np2,t,gone.jpg\n"))
    assert not codes(catalog) & {"unsafe_image_path", "missing_image"}
    assert catalog.image_dir is None and catalog.image_path(0) is None


def test_missing_image_dir_is_an_error(tmp_path):
    with pytest.raises(CatalogError, match="image folder"):
        load_catalog(write(tmp_path, "posting_id,title,image\np1,t,a.jpg\n"), image_dir=tmp_path / "nope")


def test_checking_30000_images_is_fast(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for k in range(0, 30_000, 30):  # few files: creating them is slow on some disks, checking is what is timed
        (images / f"{k}.jpg").touch()
    frame = pd.DataFrame({"posting_id": [f"p{k}" for k in range(30_000)], "title": "t",
                          "image": [f"{k}.jpg" for k in range(30_000)]})
    start = time.perf_counter()
    catalog = catalog_from_frame(frame, image_dir=images)
    assert time.perf_counter() - start < 2.0
    assert catalog.report.count("missing_image") == 29_000


# --- in-memory frames, subsets and the report -----------------------------------------------------


def test_catalog_from_frame_fills_nan_and_validates_like_a_file():
    frame = pd.DataFrame({" title": ["a", None], "posting_id": ["1", "2"], "image": [np.nan, "x.jpg"]},
                         index=[5, 9])
    catalog = catalog_from_frame(frame, source="split 'test'")
    assert catalog.frame["image"].tolist() == ["", "x.jpg"]
    assert catalog.titles == ["a", ""]
    assert catalog.report.source == "split 'test'"
    with pytest.raises(CatalogError, match="split 'test'.*rows 2 and 3"):
        catalog_from_frame(pd.DataFrame({"posting_id": ["1", "1"], "title": "t", "image": ""}),
                           source="split 'test'")


def test_subset_by_mask_and_positions(tmp_path):
    catalog = load_catalog(write(tmp_path, HEADER + "p1,a,,,g\np2,b,,,g\np3,c,,,h\n"))
    by_mask = catalog.subset(np.array([True, False, True]))
    by_position = catalog.subset([2, 0])
    assert by_mask.posting_ids.tolist() == ["p1", "p3"]
    assert by_position.titles == ["c", "a"]
    assert isinstance(by_position.frame.index, pd.RangeIndex) and by_position.frame.index[0] == 0
    assert by_mask.report is catalog.report
    assert len(catalog.subset([])) == 0


def test_report_summary_and_counts(tmp_path):
    body = "".join(f"p{k},,,,\n" for k in range(12)) + "p12,\\xc3\\x89,,,\n"
    catalog = load_catalog(write(tmp_path, HEADER + body, name="shop.csv"))
    report = catalog.report
    assert report.n_rows == 13 and report.count("empty_title") == 12 and report.count("byte_escape") == 1
    assert [p.code for p in report.warnings] == ["empty_title"] and report.errors == []
    summary = report.summary()
    assert summary.splitlines()[0].startswith("13 listings loaded from") and "shop.csv" in summary
    assert "rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 2 more" in summary
    assert summary.index("warning:") < summary.index("info:")


def test_rows_text_wording():
    assert _rows_text([5]) == "row 5"
    assert _rows_text([3, 7]) == "rows 3 and 7"
    assert _rows_text(range(2, 30)) == "rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 18 more"
