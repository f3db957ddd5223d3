"""The compiled sweep against counting each threshold's match sets directly."""
import numpy as np
import pytest

from matcher.metric import scores_from_counts
from matcher.sweep_counts import sweep_counts


def table(seed: int):
    """Rows (query, bin, fixed, same) of 30 listings, some with no rows, sorted by query."""
    rng = np.random.default_rng(seed)
    query = np.sort(rng.choice(np.r_[np.arange(30), np.arange(10)], 200))  # listings 10..29 have fewer rows
    query = query[query != 7]                                               # and listing 7 none
    bins = rng.integers(-1, 8, len(query)).astype(np.int16)
    return query, bins, rng.random(len(query)) < 0.2, rng.random(len(query)) < 0.5, rng.integers(1, 6, 30)


@pytest.mark.parametrize("shuffled", [False, True])
def test_sweep_counts_every_thresholds_rows_and_scores_like_its_match_sets(shuffled):
    query, bins, fixed, same, group_size = table(0)
    order = np.zeros(0, np.int64)
    if shuffled:  # rows in any order, read through `order`
        perm = np.random.default_rng(1).permutation(len(query))
        query, bins, fixed, same = query[perm], bins[perm], fixed[perm], same[perm]
        order = np.argsort(query, kind="stable")
    bounds = np.searchsorted(np.sort(query), np.arange(31))
    pairs, f1, precision, recall = sweep_counts(bounds, order, fixed, bins, same, group_size, 8)
    for t in range(8):
        matched = fixed | (bins >= t)
        predicted = np.bincount(query[matched], minlength=30) + 1
        correct = np.bincount(query[matched & same], minlength=30) + 1
        expected = scores_from_counts(predicted, correct, group_size)
        assert pairs[t] == matched.sum()
        assert f1[t] == pytest.approx(expected.f1.mean())
        assert precision[t] == pytest.approx(expected.precision.mean())
        assert recall[t] == pytest.approx(expected.recall.mean())


def test_without_labels_only_rows_are_counted():
    query, bins, fixed, _, _ = table(2)
    bounds = np.searchsorted(query, np.arange(31))
    none = np.zeros(0, np.int64)
    pairs, f1, precision, recall = sweep_counts(bounds, none, fixed, bins, np.zeros(0, bool), none, 8)
    assert pairs.tolist() == [int((fixed | (bins >= t)).sum()) for t in range(8)]
    assert np.isnan(f1).all() and np.isnan(precision).all() and np.isnan(recall).all()
