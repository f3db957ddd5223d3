"""A threshold sweep's precision, recall and F1 in one compiled pass over the neighbour table.

Sweeping one threshold over the grid with the others fixed needs, for every
listing and grid value, how many of its rows match and how many of those are
right. In NumPy that is a listings × grid array built piece by piece (seconds
at a million listings, every time a threshold other than the charted one
moves); compiled with numba (on first use, then cached on disk) it is one
read of each row and a running sum per listing.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def sweep_counts(bounds: np.ndarray, order: np.ndarray, fixed: np.ndarray, bins: np.ndarray, same: np.ndarray,
                 group_size: np.ndarray, grid_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the match sets `fixed | (bin >= t)` at every grid index t: the matched rows, and the mean F1,
    precision and recall over listings (NaN without labels: `same` empty).

    Listing q's rows are order[bounds[q]:bounds[q + 1]] (positions of the table
    rows; an empty `order` means the rows bounds[q]:bounds[q + 1] themselves, a
    table sorted by query). `bins`: each row's highest grid index reached (-1:
    none); `same`: whether the row's two listings share a label group. Every set
    includes its listing, as the competition counts it.
    """
    labelled = len(same) > 0
    passed = np.zeros(grid_size, np.int64)
    right = np.zeros(grid_size, np.int64)
    pairs = np.zeros(grid_size, np.int64)
    f1, precision, recall = np.zeros(grid_size), np.zeros(grid_size), np.zeros(grid_size)
    sorted_rows = len(order) == 0
    n = len(bounds) - 1
    for q in range(n):
        predicted, correct = 1, 1
        for k in range(bounds[q], bounds[q + 1]):
            row = k if sorted_rows else order[k]
            match = labelled and same[row]
            if fixed[row]:
                predicted += 1
                correct += match
            elif bins[row] >= 0:
                passed[bins[row]] += 1
                right[bins[row]] += match
        size = group_size[q] if labelled else 1
        for t in range(grid_size - 1, -1, -1):  # lower thresholds keep every row the higher ones do
            predicted += passed[t]
            correct += right[t]
            passed[t] = right[t] = 0
            pairs[t] += predicted - 1
            f1[t] += 2 * correct / (predicted + size)
            precision[t] += correct / predicted
            recall[t] += correct / size
    if not labelled:
        f1[:] = np.nan
        precision[:] = np.nan
        recall[:] = np.nan
    return pairs, f1 / n, precision / n, recall / n
