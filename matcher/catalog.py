"""Load and check a catalogue of listings (the Shopee competition's CSV format).

Everything downstream trusts the frame built here, so this module reads every
value as text (ids such as "0012" or "NA" survive), refuses what cannot be
matched (no ids, duplicate ids, missing columns) and reports what it had to
repair (encodings, escaped titles, unsafe or missing images) with spreadsheet
row numbers a person can look up. No listing is ever dropped silently.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("posting_id", "title", "image")
OPTIONAL_COLUMNS = ("image_phash", "label_group")
_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Header names (lower-cased, without spaces, "_" or "-") that people use for our columns.
_SYNONYMS = {
    "posting_id": {"postingid", "id", "productid", "listingid", "itemid"},
    "title": {"title", "name", "productname", "producttitle", "itemname"},
    "image": {"image", "imagepath", "filename", "img", "imagefile", "photo", "picture"},
    "image_phash": {"imagephash", "phash"},
    "label_group": {"labelgroup", "label", "group", "labelgroupid"},
}
_ESCAPE_RUN = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_PHASH = r"[0-9a-f]{16}"
_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:)?[\\/]")
_NEEDS_RESOLVE = re.compile(r"[\\/]|^\.\.?$")
_ROWS_SHOWN = 10
MAX_TITLE = 2_000  # characters; the longest title in the Shopee dev catalogue has 252
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")  # C0 control characters and DEL (line breaks and tabs among them)


class CatalogError(ValueError):
    """A catalogue that cannot be used; the message says which file, which rows/columns, and what to do."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()):
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    """One finding about the catalogue; `rows` are spreadsheet rows (header = 1)."""

    severity: str
    code: str
    message: str
    rows: tuple[int, ...] = ()


@dataclass
class LoadReport:
    """What loading found and repaired, for the CLI, the app and the benchmark logs."""

    source: str
    n_rows: int
    problems: list[Problem]

    def count(self, code: str) -> int:
        """Rows affected by `code`; file-level problems (no rows) count 0."""
        return sum(len(p.rows) for p in self.problems if p.code == code)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def summary(self) -> str:
        """One line for the load, then one per problem, most serious first."""
        order = {"error": 0, "warning": 1, "info": 2}
        ranked = sorted(self.problems, key=lambda p: order.get(p.severity, 3))
        lines = [f"{_n(self.n_rows, 'listing')} loaded from {self.source}."]
        return "\n".join(lines + [f"{p.severity}: {p.message}" for p in ranked])


@dataclass
class Catalog:
    """The checked listings: canonical text columns first, extra columns after, no NaN."""

    frame: pd.DataFrame
    image_dir: Path | None
    report: LoadReport

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def posting_ids(self) -> np.ndarray:
        return self.frame["posting_id"].to_numpy(dtype=object)

    @property
    def titles(self) -> list[str]:
        return self.frame["title"].tolist()

    @property
    def has_titles(self) -> bool:
        return bool((self.frame["title"] != "").any())

    @property
    def has_labels(self) -> bool:
        """Absent label columns are filled with '', so any non-empty label means the source had them."""
        return bool((self.frame["label_group"] != "").any())

    @property
    def has_phash(self) -> bool:
        """Invalid hashes were blanked at load, so any non-empty one is valid."""
        return bool((self.frame["image_phash"] != "").any())

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label_group"].to_numpy(dtype=object)

    def image_path(self, i: int) -> Path | None:
        """The listing's photo file, checked now (it may have changed since loading)."""
        name = self.frame["image"].iat[i]
        if self.image_dir is None or not name:
            return None
        path = resolve_inside(self.image_dir, name)
        return path if path is not None and path.is_file() else None

    def subset(self, rows) -> Catalog:
        """The listings selected by a boolean mask or integer positions, renumbered from 0."""
        index = np.asarray(rows)
        if index.dtype != bool:
            index = index.astype(np.intp)
        return Catalog(self.frame.iloc[index].reset_index(drop=True), self.image_dir, self.report)


def decode_byte_escapes(text: str) -> tuple[str, bool]:
    """Decode runs of literal "\\xNN" as UTF-8 bytes; `ok` is False if a run was not UTF-8 (kept literal)."""
    ok = True

    def decode(match: re.Match) -> str:
        nonlocal ok
        try:
            return bytes.fromhex(match.group().replace("\\x", "")).decode("utf-8")
        except UnicodeDecodeError:
            ok = False
            return match.group()

    return _ESCAPE_RUN.sub(decode, text), ok


def load_catalog(csv_path, image_dir=None) -> Catalog:
    """Read a catalogue CSV; raises CatalogError when it cannot be used as is."""
    source = str(csv_path)
    lines, bad_lines, problems = _decode(_read_bytes(csv_path), source)
    delimiter, found = _sniff_delimiter(lines, source)
    problems += found
    records, rows, non_utf8 = _read_records(lines, delimiter, bad_lines, source)
    if non_utf8:
        problems.append(_about_rows("warning", "non_utf8", non_utf8, "row", source, ("is", "are"),
                                    "not valid UTF-8, so read as Windows-1252; "
                                    "check the accents and save the file as UTF-8."))
    header = _normalise_header(records[0])
    _check_field_counts(header, records[1:], rows[1:], source)
    frame = pd.DataFrame(records[1:], columns=header)
    return _validate(frame, np.array(rows[1:]), image_dir, source, problems)


def catalog_from_frame(frame: pd.DataFrame, image_dir=None, source: str = "<frame>") -> Catalog:
    """Check an in-memory frame exactly like a file; row numbers are positions + 2, as if written out."""
    text = frame.reset_index(drop=True)
    text = pd.DataFrame({i: _as_text(text.iloc[:, i]) for i in range(text.shape[1])})
    text.columns = _normalise_header(frame.columns)
    if text.empty:
        raise CatalogError(f"{source} has a header but no listings; add at least one row.")
    return _validate(text, np.arange(len(text)) + 2, image_dir, source, [])


# --- reading the file ------------------------------------------------------------------


def _read_bytes(csv_path) -> bytes:
    try:
        return Path(csv_path).read_bytes()
    except OSError as err:
        raise CatalogError(f"cannot read catalogue {csv_path}: {err.strerror}; check the path.") from err


def _decode(raw: bytes, source: str) -> tuple[list[str], set[int], list[Problem]]:
    """Text lines, the indexes of lines that were not UTF-8, and encoding problems.

    Lines are decoded one by one so a few Windows-1252 accents do not force a
    guess about the whole file, and so their rows can be reported.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_utf16(raw, source)
    if b"\x00" in raw[:4096]:
        kind = next((name for magic, name in _BINARY_KINDS if raw.startswith(magic)), "a binary file")
        raise CatalogError(f"{source} is not a CSV text file: it looks like {kind}. Export the catalogue "
                           "from your spreadsheet as CSV (UTF-8) and upload that.")
    lines, bad = [], set()
    for k, line in enumerate(raw.removeprefix(codecs.BOM_UTF8).splitlines(keepends=True)):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(_decode_legacy(line))
            bad.add(k)
    return lines, bad, []


_BINARY_KINDS = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"PK\x03\x04", "a zip file "
                 "(an .xlsx workbook is one)"), (b"\xd0\xcf\x11\xe0", "an .xls workbook"), (b"%PDF", "a PDF"))


def _decode_utf16(raw: bytes, source: str) -> tuple[list[str], set[int], list[Problem]]:
    try:
        text = raw.decode("utf-16")
    except UnicodeDecodeError as err:
        raise CatalogError(f"{source} starts like UTF-16 but cannot be decoded ({err.reason}); "
                           "save it as UTF-8.") from err
    problem = Problem("warning", "encoding", f"{source} is UTF-16; it was read, but save it as UTF-8 to be safe.")
    # newline="" splits on \n, \r and \r\n only, like bytes.splitlines for the UTF-8 path.
    return io.StringIO(text, newline="").readlines(), set(), [problem]


def _decode_legacy(line: bytes) -> str:
    """Windows-1252 keeps the accents spreadsheets write; latin-1 takes the five bytes it leaves undefined."""
    try:
        return line.decode("cp1252")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _sniff_delimiter(lines: list[str], source: str) -> tuple[str, list[Problem]]:
    """';' or tab when the header has no comma but splits into the required columns on it."""
    header = next((line for line in lines if line.strip()), "")
    if "," in header:
        return ",", []
    for delimiter, name in ((";", "';'"), ("\t", "tabs")):
        names = _normalise_header(next(csv.reader([header], delimiter=delimiter), []))
        if set(REQUIRED_COLUMNS) <= set(names):
            message = (f"{source} separates columns with {name}, not commas; it was read that way, "
                       "but save it as a comma-separated CSV.")
            return delimiter, [Problem("warning", "delimiter", message)]
    return ",", []


def _read_records(lines: list[str], delimiter: str, bad_lines: set[int], source: str
                  ) -> tuple[list[list[str]], list[int], list[int]]:
    """Non-blank CSV records with their spreadsheet row numbers, and the rows holding non-UTF-8 lines."""
    records, rows, non_utf8 = [], [], []
    reader = csv.reader(lines, delimiter=delimiter)
    row, first_line = 0, 0
    try:
        for row, record in enumerate(reader, start=1):
            if any(k in bad_lines for k in range(first_line, reader.line_num)):
                non_utf8.append(row)
            first_line = reader.line_num
            if record:
                records.append(record)
                rows.append(row)
    except csv.Error as err:
        raise CatalogError(f"{source}: cannot read row {row + 1} ({err}); "
                           "check for an unmatched quote (\") near it.") from err
    if not records:
        raise CatalogError(f"{source} is empty: it has no header; the first line must name the columns "
                           f"{', '.join(REQUIRED_COLUMNS)}.")
    if len(records) == 1:
        raise CatalogError(f"{source} has a header but no listings; add at least one row.")
    return records, rows, non_utf8


def _check_field_counts(header: list[str], records: list[list[str]], rows: list[int], source: str) -> None:
    """Too many or too few fields means broken quoting; guessing which field moved would corrupt data."""
    bad = [(row, len(record)) for row, record in zip(rows, records) if len(record) != len(header)]
    if not bad:
        return
    shown = ", ".join(f"row {row} has {count}" for row, count in bad[:_ROWS_SHOWN])
    more = f" and {len(bad) - _ROWS_SHOWN:,} more rows differ" if len(bad) > _ROWS_SHOWN else ""
    message = (f"{source}: the header has {len(header)} columns but {shown} fields{more}; "
               f"put titles containing commas or quotes in double quotes (\"...\") and fix those rows.")
    raise CatalogError(message, (Problem("error", "field_count", message, tuple(row for row, _ in bad)),))


def _normalise_header(names) -> list[str]:
    """Strip whitespace and BOMs; name empty header cells by position so every column keeps a name."""
    cleaned = [str(name).replace("\ufeff", "").strip() for name in names]
    return [name or f"unnamed_{k}" for k, name in enumerate(cleaned, start=1)]


def _as_text(values: pd.Series) -> pd.Series:
    return values.where(values.notna(), "").astype(str)


# --- checking the listings -------------------------------------------------------------


def _validate(frame: pd.DataFrame, rows: np.ndarray, image_dir, source: str, problems: list[Problem]) -> Catalog:
    """The checks shared by files and frames; `rows` gives each record's spreadsheet row."""
    problems = problems + _check_columns(list(frame.columns), source)
    frame = _arrange(frame)
    _check_ids(frame["posting_id"], rows, source)
    frame["title"], found = _clean_titles(frame["title"], rows, source)
    problems += found
    frame["image_phash"], found = _clean_phash(frame["image_phash"], rows, source)
    problems += found
    problems += _check_labels(frame["label_group"], rows, source)
    root = _image_root(image_dir)
    if root is not None:
        problems += _check_images(frame["image"], rows, root, source)
    return Catalog(frame, root, LoadReport(source, len(frame), problems))


def _check_columns(columns: list[str], source: str) -> list[Problem]:
    """Refuse duplicate or missing required columns, suggesting renames; note extra columns."""
    found = _quoted(columns)
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise CatalogError(f"{source}: column(s) {_quoted(duplicated)} appear more than once in the header "
                           f"(columns found: {found}); keep one of each.")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    hints = _rename_hints(columns)
    if missing:
        advice = [hint for column, hint in hints if column in missing]
        message = "; ".join([f"{source} is missing required column(s) {_quoted(missing)}",
                             f"columns found: {found}", *advice]) + "."
        raise CatalogError(message, (Problem("error", "missing_column", message),))
    extras = [c for c in columns if c not in _COLUMNS]
    if not extras:
        return []
    advice = [f"{hint} to use it" for _, hint in hints]
    kept = f"{source} has extra column(s) {_quoted(extras)}, kept unchanged and not used for matching"
    message = "; ".join([kept, *advice]) + "."
    return [Problem("info", "extra_columns", message)]


def _rename_hints(columns: list[str]) -> list[tuple[str, str]]:
    """(our column, advice) for each found column that looks like one of ours under another name."""
    hints = []
    for ours in _COLUMNS:
        if ours in columns:
            continue
        for name in columns:
            if name not in _COLUMNS and re.sub(r"[\s_\-]+", "", name.lower()) in _SYNONYMS[ours]:
                hints.append((ours, f"column '{name}' looks like '{ours}': rename it in the header"))
    return hints


def _arrange(frame: pd.DataFrame) -> pd.DataFrame:
    """Our columns first (absent ones as ''), extra columns after in their original order.

    Ids, image names, hashes and labels lose surrounding spaces, which are never
    meant and would make "a1 " and "a1" different listings; titles are cleaned later.
    """
    columns = {}
    for name in _COLUMNS:
        if name not in frame.columns:
            columns[name] = pd.Series("", index=frame.index, dtype=frame["title"].dtype)
        else:
            columns[name] = frame[name] if name == "title" else frame[name].str.strip()
    columns.update({name: frame[name] for name in frame.columns if name not in _COLUMNS})
    return pd.DataFrame(columns)


def _check_ids(ids: pd.Series, rows: np.ndarray, source: str) -> None:
    """Every listing needs its own id: matches are reported by id."""
    problems = []
    empty = rows[(ids == "").to_numpy()]
    if len(empty):
        problems.append(_about_rows("error", "empty_id", empty, "listing", source, ("has", "have"),
                                    "no posting_id; give every listing an id."))
    control = rows[ids.str.contains(_CONTROL).to_numpy(dtype=bool)]
    if len(control):
        problems.append(_about_rows("error", "control_id", control, "posting_id", source, ("has", "have"),
                                    "control characters (invisible bytes such as NUL); retype those ids."))
    repeated = (ids.duplicated(keep=False) & (ids != "")).to_numpy()
    if repeated.any():
        groups = pd.Series(rows[repeated]).groupby(ids[repeated].to_numpy(), sort=False)
        parts = [f"posting_id '{pid}' appears in {_rows_text(group.tolist())}" for pid, group in groups]
        more = f"; and {len(parts) - _ROWS_SHOWN:,} more repeated ids" if len(parts) > _ROWS_SHOWN else ""
        message = f"{source}: {'; '.join(parts[:_ROWS_SHOWN])}{more}; posting ids must be unique."
        problems.append(Problem("error", "duplicate_id", message, _ints(rows[repeated])))
    if problems:
        raise CatalogError("\n".join(p.message for p in problems), tuple(problems))


def _clean_titles(titles: pd.Series, rows: np.ndarray, source: str) -> tuple[list[str], list[Problem]]:
    """Decode "\\xNN" escapes, put line breaks on one line, strip; empty titles stay as ''."""
    cleaned, decoded, undecodable, empty, long = [], [], [], [], []
    for title, row in zip(titles.tolist(), rows.tolist()):
        if "\\x" in title:
            title, ok = decode_byte_escapes(original := title)
            if title != original:
                decoded.append(row)
            if not ok:
                undecodable.append(row)
        title = _CONTROL.sub(" ", title).strip()  # line breaks, tabs, NUL and the like
        if len(title) > MAX_TITLE:
            title = title[:MAX_TITLE].rstrip()
            long.append(row)
        if not title:
            empty.append(row)
        cleaned.append(title)
    problems = []
    if long:
        problems.append(_about_rows("warning", "long_title", long, "title", source, ("is", "are"),
                                    f"longer than {MAX_TITLE:,} characters, so cut there; a title that long is "
                                    "usually a description pasted into the wrong column."))
    if decoded:
        problems.append(_about_rows("info", "byte_escape", decoded, "title", source, ("had", "had"),
                                    "\\xNN byte escapes decoded as UTF-8."))
    if undecodable:
        problems.append(_about_rows("warning", "bad_escape", undecodable, "title", source, ("has", "have"),
                                    "\\xNN escapes that are not valid UTF-8, kept as written; "
                                    "fix them if they should be characters."))
    if empty:
        problems.append(_about_rows("warning", "empty_title", empty, "empty title", source, ("is", "are"),
                                    "treated as no text evidence."))
    return cleaned, problems


def _clean_phash(hashes: pd.Series, rows: np.ndarray, source: str) -> tuple[pd.Series, list[Problem]]:
    """Perceptual hashes are 16 hex digits; anything else would compare as garbage, so it is blanked."""
    lowered = hashes.str.lower()
    bad = ((lowered != "") & ~lowered.str.fullmatch(_PHASH)).to_numpy(dtype=bool)
    if not bad.any():
        return lowered, []
    problem = _about_rows("warning", "bad_phash", rows[bad], "image_phash value", source, ("is", "are"),
                          "not 16 hex digits, so ignored; recompute them or leave them empty.")
    return lowered.where(~bad, ""), [problem]


def _check_labels(labels: pd.Series, rows: np.ndarray, source: str) -> list[Problem]:
    """Unlabelled listings and one-listing groups are allowed, but change what the scores mean."""
    labelled = (labels != "").to_numpy()
    if not labelled.any():
        return []
    problems = []
    if not labelled.all():
        problems.append(_about_rows("warning", "unlabelled", rows[~labelled], "listing", source, ("has", "have"),
                                    "no label_group: evaluated as their own group."))
    single = (labels.map(labels.value_counts()) == 1).to_numpy() & labelled
    if single.any():
        problems.append(_about_rows("info", "singleton_group", rows[single], "listing", source, ("is", "are"),
                                    "alone in its label group; that is allowed."))
    return problems


# --- images ----------------------------------------------------------------------------


def _image_root(image_dir) -> Path | None:
    if image_dir is None:
        return None
    root = Path(image_dir).resolve()
    if not root.is_dir():
        raise CatalogError(f"image folder {image_dir} does not exist or is not a folder; check the path.")
    return root


def _check_images(images: pd.Series, rows: np.ndarray, root: Path, source: str) -> list[Problem]:
    """Flag image names that leave the folder or name no file; one folder listing serves plain names."""
    with os.scandir(root) as scan:
        entries = {entry.name: entry for entry in scan}
    flagged = {"unsafe_image_path": [], "missing_image": []}
    for name, row in zip(images.tolist(), rows.tolist()):
        if name and (issue := _image_issue(root, name, entries)):
            flagged[issue].append(row)
    problems = []
    if unsafe := flagged["unsafe_image_path"]:
        problems.append(_about_rows("warning", "unsafe_image_path", unsafe, "image name", source,
                                    ("points", "point"), f"outside {root} (absolute path, '..' or a symlink), "
                                    "so ignored; use names relative to the image folder."))
    if missing := flagged["missing_image"]:
        problems.append(_about_rows("warning", "missing_image", missing, "image", source, ("is", "are"),
                                    f"not found in {root}; those listings are matched without a photo."))
    return problems


def _image_issue(root: Path, name: str, entries: dict[str, os.DirEntry]) -> str | None:
    """'unsafe_image_path', 'missing_image' or None; only subfolder names and symlinks cost a stat."""
    entry = entries.get(name)
    if entry is not None and not entry.is_symlink():
        return None if entry.is_file() else "missing_image"
    if entry is None and not _NEEDS_RESOLVE.search(name):
        return "missing_image"
    path = resolve_inside(root, name)
    if path is None:
        return "unsafe_image_path"
    return None if path.is_file() else "missing_image"


def resolve_inside(root: Path, name: str) -> Path | None:
    """The real path of `name` under `root`, or None when it is absolute or resolves outside it."""
    if _ABSOLUTE.match(name):
        return None
    try:
        path = (root / name).resolve()
    except (OSError, ValueError):
        return None
    return path if path.is_relative_to(root) else None


# --- wording ---------------------------------------------------------------------------


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _about_rows(severity: str, code: str, rows, noun: str, source: str,
                verbs: tuple[str, str], rest: str) -> Problem:
    """A Problem worded '3 titles in x.csv (rows 2, 5 and 9) are <rest>'."""
    rows = _ints(rows)
    verb = verbs[0] if len(rows) == 1 else verbs[1]
    return Problem(severity, code, f"{_n(len(rows), noun)} in {source} ({_rows_text(rows)}) {verb} {rest}", rows)


def _quoted(names) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _ints(rows) -> tuple[int, ...]:
    return tuple(int(row) for row in rows)


def _rows_text(rows) -> str:
    """'row 5', 'rows 3 and 7', 'rows 2, 4 and 9' or the first ten 'and N more'."""
    rows = _ints(rows)
    if len(rows) == 1:
        return f"row {rows[0]}"
    if len(rows) <= _ROWS_SHOWN:
        return f"rows {', '.join(map(str, rows[:-1]))} and {rows[-1]}"
    return f"rows {', '.join(map(str, rows[:_ROWS_SHOWN]))} and {len(rows) - _ROWS_SHOWN:,} more"
