"""The competition's metric and the figures moderators read next to it.

Every listing's predicted set includes the listing itself, as in the Kaggle
"Shopee - Price Match Guarantee" scoring; a listing without a label counts as
its own group of one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MatchScores:
    """Per-listing F1, precision and recall, and their means (the competition score is mean_f1)."""

    f1: np.ndarray
    precision: np.ndarray
    recall: np.ndarray

    @property
    def mean_f1(self) -> float:
        return float(self.f1.mean()) if len(self.f1) else 0.0

    @property
    def mean_precision(self) -> float:
        return float(self.precision.mean()) if len(self.precision) else 0.0

    @property
    def mean_recall(self) -> float:
        return float(self.recall.mean()) if len(self.recall) else 0.0


def group_codes(labels) -> np.ndarray:
    """Integer group per listing; empty labels become groups of their own."""
    labels = np.asarray(labels, dtype=object)
    codes = np.empty(len(labels), dtype=np.int64)
    known = labels != ""
    _, codes[known] = np.unique(labels[known].astype(str), return_inverse=True)
    n_known = codes[known].max() + 1 if known.any() else 0
    codes[~known] = n_known + np.arange((~known).sum())
    return codes


def score_matches(matches, labels) -> MatchScores:
    """Score predicted match sets (one array of listing positions per listing) against labels.

    The listing itself is added to its set when missing, so callers may pass
    neighbours only.
    """
    codes = group_codes(labels)
    group_size = np.bincount(codes)[codes]
    n = len(codes)
    predicted = np.empty(n, dtype=np.int64)
    correct = np.empty(n, dtype=np.int64)
    for i, found in enumerate(matches):
        others = np.unique(np.asarray(found, dtype=np.int64))
        others = others[others != i]
        predicted[i] = len(others) + 1
        correct[i] = int((codes[others] == codes[i]).sum()) + 1
    return scores_from_counts(predicted, correct, group_size)


def scores_from_counts(predicted, correct, group_size) -> MatchScores:
    """F1, precision and recall from set sizes, for callers that count without building sets."""
    predicted = np.asarray(predicted, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    group_size = np.asarray(group_size, dtype=np.float64)
    return MatchScores(
        f1=2 * correct / (predicted + group_size),
        precision=correct / predicted,
        recall=correct / group_size,
    )


def nn1_accuracy(nearest, labels) -> float:
    """Leave-one-out 1-NN accuracy: is a listing's nearest other listing in its group?

    `nearest` holds each listing's nearest other listing (-1 where it has none);
    listings whose group has no other member are left out, since no answer can
    be right for them.
    """
    codes = group_codes(labels)
    nearest = np.asarray(nearest, dtype=np.int64)
    has_mate = np.bincount(codes)[codes] > 1
    if not has_mate.any():
        return float("nan")
    found = nearest[has_mate]
    right = (found >= 0) & (codes[np.where(found >= 0, found, 0)] == codes[has_mate])
    return float(right.mean())


def f1_by_group_size(f1, labels) -> dict[int, float]:
    """Mean F1 of the listings in groups of each true size: where small or large groups fail."""
    codes = group_codes(labels)
    sizes = np.bincount(codes)[codes]
    f1 = np.asarray(f1, dtype=np.float64)
    return {int(s): float(f1[sizes == s].mean()) for s in np.unique(sizes)}
