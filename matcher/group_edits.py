"""Group edits as the pair decisions they imply, so the review log stays one kind of fact: pair decisions.

Moving a listing out of its group rejects its pairs with every other member (a
confirmed pair among them would otherwise pull it straight back in); merging
two groups confirms one pair between them, the most similar one, since
grouping always joins a confirmed pair.
"""
from __future__ import annotations

import numpy as np


def move_out(listing: str, members) -> list[tuple[str, str, str]]:
    """(a, b, "rejected") for the listing against every other member of its group."""
    return [(listing, str(other), "rejected") for other in members if str(other) != listing]


def merge(first, second, similarity=None) -> list[tuple[str, str, str]]:
    """One (a, b, "confirmed") pair joining two groups: the most similar pair across them when
    `similarity(a, b)` is given (a pair with no evidence scores NaN), else their first members."""
    first, second = [str(p) for p in first], [str(p) for p in second]
    if not first or not second or set(first) & set(second):
        raise ValueError("merging needs two different, non-empty groups")
    pairs = [(a, b) for a in first for b in second]
    if similarity is not None:
        scores = np.array([similarity(a, b) for a, b in pairs], np.float64)
        if np.isfinite(scores).any():
            return [(*pairs[int(np.nanargmax(scores))], "confirmed")]
    return [(first[0], second[0], "confirmed")]
