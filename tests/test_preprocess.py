import pytest

from matcher.text.preprocess import TitleCleaner, normalise_units


@pytest.mark.parametrize("raw, expected", [
    ("Nescafe Latte 220 ML", "Nescafe Latte 220ml"),
    ("Latte 220mL", "Latte 220ml"),
    ("susu 220 mililiter", "susu 220ml"),
    ("beras 1,5 Kg", "beras 1.5kg"),
    ("Maling 397 gr", "Maling 397g"),
    ("kaos 3 pcs", "kaos 3pcs"),
    ("tape 12 mm x 4,5 m", "tape 12mm x 4.5m"),
    ("a3 kertas", "a3 kertas"),           # letters before the number: not a quantity
    ("isi 3 lembar", "isi 3 lembar"),     # not a unit we know: untouched
])
def test_units_are_written_one_way(raw, expected):
    assert normalise_units(raw) == expected


def test_numbers_and_short_tokens_are_kept():
    tokens = TitleCleaner().tokens("Double Tape 3M VHB 12 mm x 4,5 m ORIGINAL / DOUBLE FOAM TAPE")
    assert "12mm" in tokens and "4.5m" in tokens and "vhb" in tokens and "/" not in tokens


def test_sizes_stay_distinct():
    clean = TitleCleaner().clean
    assert clean("Sabun 220 ML") == clean("sabun 220ml") != clean("Sabun 450ml")


def test_stopwords_and_stemming_options():
    cleaner = TitleCleaner(stopwords=("id", "en"), stem="id")
    tokens = cleaner.tokens("Celana untuk wanita dan anak-anak the best")
    assert "untuk" not in tokens and "dan" not in tokens and "the" not in tokens
    assert TitleCleaner(stem="id").tokens("menjual") == ["jual"]
    assert TitleCleaner(stem="en").tokens("running 220ml") == ["run", "220ml"]


def test_cleaner_survives_odd_input():
    cleaner = TitleCleaner(stopwords=("id",), stem="id+en")
    for title in ["", "   ", "!!!", "😀 emoji", "שלום עולם", "x" * 10_000, "\x00\x01"]:
        assert isinstance(cleaner.clean(title), str)
