"""Property-based tests (hypothesis): no title makes the cleaner or the highlighter crash, and no file makes
the CSV loader fail with anything but a clear CatalogError."""
import html
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.catalog import Catalog, CatalogError, decode_byte_escapes, load_catalog
from matcher.highlight import highlight
from matcher.text.preprocess import TitleCleaner, quantities

TITLE_PIECES = st.sampled_from(["kopi", "200gr", "2 x 500 ml", "1,5L", "\\xe2\\x9c\\xa8", "\\xff", "<script>", "&amp;",
                                "🍫", "שלום", "مرحبا", "\u200b", "\r\n", "\t", '"', ",", ";", "=1+1", "ß", "İ"])
TITLES = st.one_of(st.text(max_size=300), st.lists(TITLE_PIECES, max_size=30).map(" ".join))
CLEANERS = [TitleCleaner(), TitleCleaner(stopwords=("id", "ms", "en"), stem="id+en")]
PROPERTY = settings(max_examples=500, deadline=None, derandomize=True,  # the same examples in every CI run
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(TITLES)
def test_cleaning_any_title_gives_plain_lowercase_tokens(title):
    for cleaner in CLEANERS:
        tokens = cleaner.tokens(title)
        assert all(isinstance(t, str) and t and not re.search(r"\s", t) for t in tokens)
        assert cleaner.clean(title) == cleaner.clean(title)  # deterministic
    assert all(amount > 0 for _, amount in quantities(title))


@PROPERTY
@given(TITLES, TITLES)
def test_highlighting_never_lets_markup_through(title, other):
    marked = highlight(title, other)
    text = re.sub(r"<span style=\"[^\"<>]*\">|</span>", "", marked)
    assert "<" not in text.replace("&lt;", ""), "every < of a title is escaped"
    assert html.unescape(text) == html.unescape(html.escape(title)), "the title's text is kept, only marked"


@PROPERTY
@given(st.text(max_size=200))
def test_byte_escape_decoding_never_raises(text):
    decoded, ok = decode_byte_escapes(text)
    assert isinstance(decoded, str) and isinstance(ok, bool)


CSV_LINES = st.lists(st.one_of(
    st.just("posting_id,image,title,label_group"), st.just("posting_id;title"), st.just(""),
    st.builds(lambda *cells: ",".join(cells), *[st.text(max_size=12)] * 4),
    st.builds(lambda a, b: f'{a},"{b}",x', st.text(max_size=8), st.text(max_size=20))), max_size=12)


@PROPERTY
@given(st.one_of(st.binary(max_size=400), CSV_LINES.map(lambda lines: "\n".join(lines).encode("utf-8")),
                 CSV_LINES.map(lambda lines: "\n".join(lines).encode("utf-16"))))
def test_any_file_loads_or_fails_with_a_clear_catalog_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("csv") / "catalog.csv"
    path.write_bytes(raw)
    try:
        catalog = load_catalog(path)
    except CatalogError as error:
        assert str(error).strip(), "the error says what is wrong"
        return
    assert isinstance(catalog, Catalog)
    assert catalog.frame["posting_id"].map(lambda v: isinstance(v, str) and v != "").all()
    assert catalog.frame["posting_id"].is_unique
