"""Title preprocessing: the seed's cleaning steps as options, and number/unit normalisation.

Numbers and units separate sizes (220ml vs 450ml), so they are kept and written
one way ("220 ML", "220mL" and "220 mililiter" all become "220ml") instead of
being dropped with the short words.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import cached_property

UNIT_ALIASES = {
    "ml": ("ml", "mililiter", "milliliter", "mls"),
    "l": ("l", "liter", "litre", "ltr", "lt"),
    "g": ("g", "gr", "gram", "grams", "gramm", "grm", "grs"),
    "kg": ("kg", "kilo", "kilogram", "kgs"),
    "mg": ("mg", "miligram", "milligram"),
    "mm": ("mm",),
    "cm": ("cm", "centimeter", "centimetre"),
    "m": ("m", "meter", "metre", "mtr"),
    "inch": ("inch", "inchi", "inci", "in", '"'),
    "pcs": ("pcs", "pc", "pcs.", "piece", "pieces", "biji", "buah"),
    "oz": ("oz",),
    "mah": ("mah",),
    "gb": ("gb",),
    "tb": ("tb",),
    "w": ("w", "watt"),
    "v": ("v", "volt"),
}
_UNIT_OF = {alias: unit for unit, aliases in UNIT_ALIASES.items() for alias in aliases}
# What each unit measures and its size in that measure's base unit, so "1l" and "1000ml" agree.
UNIT_MEASURES = {"ml": ("volume", 1), "l": ("volume", 1000), "g": ("mass", 1), "kg": ("mass", 1000),
                 "mg": ("mass", 0.001), "mm": ("length", 1), "cm": ("length", 10), "m": ("length", 1000),
                 "inch": ("length", 25.4), "pcs": ("count", 1), "oz": ("ounces", 1), "mah": ("charge", 1),
                 "gb": ("storage", 1), "tb": ("storage", 1024), "w": ("power", 1), "v": ("voltage", 1)}
_UNIT_RE = re.compile(
    r"(?<![\w.,])(\d+(?:[.,]\d+)?)\s*("
    + "|".join(sorted((re.escape(a) for a in _UNIT_OF), key=len, reverse=True))
    + r")(?![a-z0-9])",
    re.IGNORECASE,
)
_TOKEN_RE = re.compile(r"[^\W_]+(?:[.][0-9]+)?[^\W_]*", re.UNICODE)


def normalise_units(text: str) -> str:
    """Write every "<number> <unit>" one way: "1,5 Kg" -> "1.5kg", "220 ML" -> "220ml"."""

    def unit(match: re.Match) -> str:
        number = match.group(1).replace(",", ".")
        return f"{number}{_UNIT_OF[match.group(2).lower()]}"

    return _UNIT_RE.sub(unit, text)


def quantities(text: str) -> set[tuple[str, float]]:
    """The (measure, amount in base units) a title states: "Susu 1 L isi 2 pcs" -> {("volume", 1000), ("count", 2)}.

    Two listings stating different amounts of one measure (200 ml vs 400 ml) are
    rarely the same product, however alike the rest of their titles.
    """
    return {amount for _, _, amount in stated_amounts(text)}


def stated_amounts(text: str) -> list[tuple[int, int, tuple[str, float]]]:
    """Where each amount is stated: (start, end, (measure, amount in base units)), in order."""
    found = []
    for match in _UNIT_RE.finditer(text):
        number, unit = match.groups()
        if unit.lower() == "in":  # "2 in 1" is a kind of product far more often than a length
            continue
        measure, size = UNIT_MEASURES[_UNIT_OF[unit.lower()]]
        amount = round(float(number.replace(",", ".")) * size, 3)
        if amount > 0:  # "0V" or "0 ml" states no size to compare
            found.append((match.start(), match.end(), (measure, amount)))
    return found


@dataclass(frozen=True)
class TitleCleaner:
    """Turns a raw title into tokens; each step is an option so its effect on F1 can be measured.

    `stopwords` names stopwordsiso languages (id, ms, en); `stem` is "" (none),
    "id" (Sastrawi), "en" (nltk Snowball) or "id+en".
    """

    lowercase: bool = True
    units: bool = True
    strip_special: bool = True
    stopwords: tuple[str, ...] = ()
    stem: str = ""
    min_token_length: int = 1

    def params(self) -> dict:
        return asdict(self)

    def tokens(self, title: str) -> list[str]:
        text = title.lower() if self.lowercase else title
        if self.units:
            text = normalise_units(text)
        words = _TOKEN_RE.findall(text) if self.strip_special else text.split()
        words = [w for w in words if len(w) >= self.min_token_length and w not in self._stopwords]
        if self.stem:
            words = [self._stem_cache(w) for w in words]
        return words

    def clean(self, title: str) -> str:
        return " ".join(self.tokens(title))

    def clean_many(self, titles) -> list[str]:
        return [self.clean(t) for t in titles]

    @cached_property
    def _stopwords(self) -> frozenset[str]:
        if not self.stopwords:
            return frozenset()
        import stopwordsiso

        return frozenset(stopwordsiso.stopwords(list(self.stopwords)))

    @cached_property
    def _stem_cache(self):
        """Stem each distinct token once: Sastrawi is slow, titles repeat words a lot."""
        from functools import lru_cache

        stemmers = []
        if "id" in self.stem.split("+"):
            from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

            stemmers.append(StemmerFactory().create_stemmer().stem)
        if "en" in self.stem.split("+"):
            from nltk.stem.snowball import SnowballStemmer

            stemmers.append(SnowballStemmer("english").stem)

        @lru_cache(maxsize=None)
        def stem(word: str) -> str:
            if any(ch.isdigit() for ch in word):
                return word
            for fn in stemmers:
                stemmed = fn(word)
                # Sastrawi turns symbols inside a word into spaces ("aºa" -> "a a"): keep such words whole.
                if stemmed and not any(ch.isspace() for ch in stemmed):
                    word = stemmed
            return word

        return stem
