"""Features of candidate pairs, for the learned pair scorer.

A similarity means more next to its context: how the candidate ranks among the
query's candidates, how far it is below the query's best, how crowded the
query's neighbourhood is (a phone case among a thousand phone cases). The
titles add what embeddings blur: shared words, and stated amounts that agree
or conflict (200 ml vs 400 ml). The context (ranks, densities, reverse pairs)
is computed once for the whole table; the features, for any range of its rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from matcher.neighbours import pair_similarity
from matcher.text.preprocess import TitleCleaner, quantities

DENSITY_TOP = 5  # a query's neighbourhood density: the mean similarity of its best few candidates


def pair_features(table: pd.DataFrame, titles=None) -> pd.DataFrame:
    """One row of features per table row; NaN where a channel has no evidence for the pair."""
    return PairContext(table, titles).features(slice(None))


class PairContext:
    """What a pair's features need from beyond its own row, computed once for the whole table.

    A row's rank back (its reverse pair's rank) and its candidate's density
    live in other listings' rows; everything else is per query. Holding these
    (a small integer rank per row and column, the reverse rows, a few numbers
    per listing) rather than every feature of every row lets the scorer run
    over a million listings' table in pieces: its features for all rows at
    once would be 40 float columns of 140 million rows.
    """

    def __init__(self, table: pd.DataFrame, titles=None):
        self.table = table
        self.query, self.candidate = table["query"].to_numpy(), table["candidate"].to_numpy()
        n = int(max(self.query.max(), self.candidate.max())) + 1 if len(table) else 0
        self.reverse = reverse_rows(self.query, self.candidate, n)
        self.columns = [c for c in table.columns if c.startswith("sim_")]
        self.rank, self.best, self.density = {}, {}, {}
        for column in self.columns:
            sims = table[column].to_numpy(np.float32)
            self.rank[column] = _rank_within_query(self.query, sims)
            self.best[column] = _per_query(self.query, np.where(np.isnan(sims), -np.inf, sims), n, np.maximum, -np.inf)
            self.density[column] = _top_mean(self.query, sims, self.rank[column], n)
        self.titles = TitleSets(list(titles)) if titles is not None else None

    def features(self, rows: slice) -> pd.DataFrame:
        """The features of table rows `rows`."""
        query, candidate = self.query[rows], self.candidate[rows]
        reverse = self.reverse[rows]
        features = {}
        for column in self.columns:
            sims = self.table[column].to_numpy()[rows].astype(np.float32)
            rank, back = self.rank[column][rows], self.rank[column][np.maximum(reverse, 0)]
            features[column] = sims
            features[f"{column}_rank"] = np.where(rank >= 0, rank, np.nan).astype(np.float32)
            features[f"{column}_rank_back"] = np.where((reverse >= 0) & (back >= 0), back, np.nan).astype(np.float32)
            features[f"{column}_gap"] = self.best[column][query] - sims
            features[f"{column}_density"] = self.density[column][query]
            features[f"{column}_density_candidate"] = self.density[column][candidate]
        if self.titles is not None:
            features.update(self.titles.features(query, candidate))
        return pd.DataFrame(features)


class TitleSets:
    """Each title's words, stated amounts and measures, as 0/1 rows: pairs compare them by dot products."""

    def __init__(self, titles: list[str]):
        cleaner = TitleCleaner()
        self.words = _binary_rows([set(cleaner.tokens(title)) for title in titles])
        amounts = [quantities(title) for title in titles]
        self.stated = _binary_rows(amounts)
        self.measures = _binary_rows([{measure for measure, _ in found} for found in amounts])
        self.word_count = np.asarray(self.words.sum(axis=1)).ravel().astype(np.float32)

    def features(self, query: np.ndarray, candidate: np.ndarray) -> dict[str, np.ndarray]:
        """Shared words (Jaccard of token sets), shared and conflicting stated amounts, and the length ratio."""
        shared_words = _pair_counts(self.words, query, candidate)
        counts = self.word_count
        union = counts[query] + counts[candidate] - shared_words
        shared_amounts = _pair_counts(self.stated, query, candidate)
        shared_measures = _pair_counts(self.measures, query, candidate)
        return {
            "title_jaccard": np.divide(shared_words, union, out=np.zeros_like(union), where=union > 0),
            "title_length_ratio": np.minimum(counts[query], counts[candidate])
            / np.maximum(np.maximum(counts[query], counts[candidate]), 1),
            "amounts_shared": shared_amounts,
            # Each states an amount of the same measure, yet no amount is the same: a different size or pack.
            "amounts_conflict": ((shared_measures > 0) & (shared_amounts == 0)).astype(np.float32),
        }


def _binary_rows(sets: list[set]) -> sp.csr_matrix:
    """A listings x distinct-items 0/1 matrix."""
    vocabulary: dict = {}
    rows, cols = [], []
    for row, items in enumerate(sets):
        for item in items:
            rows.append(row)
            cols.append(vocabulary.setdefault(item, len(vocabulary)))
    data = np.ones(len(rows), np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(sets), max(len(vocabulary), 1)))


def _pair_counts(rows: sp.csr_matrix, query: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """How many items each pair's two listings share (a dot product of their 0/1 rows)."""
    counts = pair_similarity(rows, np.ones(rows.shape[0], bool), query, candidate)
    return np.nan_to_num(counts).astype(np.float32)


def reverse_rows(query: np.ndarray, candidate: np.ndarray, n: int) -> np.ndarray:
    """The row of (candidate, query) for each row (query, candidate); -1 where the table lacks it.

    The wanted keys are searched in sorted order: a binary search per row in
    random order misses the cache at every step (1.8 s against 0.6 s on 3.2M rows).
    """
    keys = query.astype(np.int64) * n + candidate
    if not len(keys):
        return np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    wanted = candidate.astype(np.int64) * n + query
    by_wanted = np.argsort(wanted, kind="stable")
    wanted = wanted[by_wanted]
    at = np.minimum(np.searchsorted(sorted_keys, wanted), len(keys) - 1)
    found = sorted_keys[at] == wanted
    out = np.full(len(keys), -1, np.int64)
    out[by_wanted[found]] = order[at[found]]
    return out


def _rank_within_query(query: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """0 for each query's most similar candidate, 1 for the next...; -1 for pairs without evidence.

    The smallest integer type that holds the ranks: one of these per row and channel is kept.
    """
    order = np.lexsort((np.where(np.isnan(sims), np.inf, -sims), query))
    q = query[order]
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]]) if len(q) else np.zeros(0, np.int64)
    within = np.arange(len(q)) - np.repeat(starts, np.diff(np.r_[starts, len(q)]))
    rank = np.empty(len(q), np.int16 if len(q) < 2 ** 15 or within.max() < 2 ** 15 else np.int32)
    rank[order] = within
    rank[np.isnan(sims)] = -1
    return rank


def _per_query(query: np.ndarray, values: np.ndarray, n: int, ufunc, initial: float) -> np.ndarray:
    out = np.full(n, initial, np.float32)
    ufunc.at(out, query, values)
    return out


def _top_mean(query: np.ndarray, sims: np.ndarray, rank: np.ndarray, n: int) -> np.ndarray:
    """Each listing's mean similarity over its DENSITY_TOP most similar candidates (NaN without any)."""
    top = (rank >= 0) & (rank < DENSITY_TOP)
    total = np.bincount(query[top], weights=sims[top], minlength=n)
    count = np.bincount(query[top], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(np.float32)
