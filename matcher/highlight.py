"""Two titles side by side, with what they share and what contradicts marked, as safe HTML.

A moderator judges a candidate by its words: the same brand and model name,
and above all the same size ("200 ml" against "400 ml" is another product).
Every piece of a seller's title is HTML-escaped before any mark is added, so
a title holding markup or script is shown as text.
"""
from __future__ import annotations

import html
import re

from matcher.text.preprocess import stated_amounts

SHARED = "background:#c9f0d0;border-radius:3px"      # a word or amount both titles have
CONFLICT = "background:#ffc2c2;border-radius:3px"    # an amount of a measure the other states differently
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def title_words(title: str) -> set[str]:
    """The lowercase words of a title, punctuation dropped."""
    return {w.lower() for w in _WORD.findall(title)}


def highlight(title: str, other: str) -> str:
    """`title` as HTML, its words and amounts found in `other` marked shared, amounts `other` contradicts marked."""
    words = title_words(other)
    amounts = {amount for _, _, amount in stated_amounts(other)}
    measures = {measure for measure, _ in amounts}
    pieces, position = [], 0
    for start, end, amount in stated_amounts(title):
        pieces.append(_words(title[position:start], words))
        style = SHARED if amount in amounts else CONFLICT if amount[0] in measures else None
        pieces.append(_mark(title[start:end], style))
        position = end
    pieces.append(_words(title[position:], words))
    return "".join(pieces)


def _words(text: str, shared: set[str]) -> str:
    out, position = [], 0
    for match in _WORD.finditer(text):
        out.append(html.escape(text[position:match.start()]))
        out.append(_mark(match.group(), SHARED if match.group().lower() in shared else None))
        position = match.end()
    out.append(html.escape(text[position:]))
    return "".join(out)


def _mark(text: str, style: str | None) -> str:
    escaped = html.escape(text)
    return f'<span style="{style}">{escaped}</span>' if style else escaped
