"""A threshold sweep's precision, recall and F1 in one compiled pass over the neighbour table.

Sweeping one threshold over the grid with the others fixed needs, for every
listing and grid value, how many of its rows match and how many of those are
right. In NumPy that is a listings × grid array built piece by piece (seconds
at a million listings, every time a threshold other than the charted one
moves); compiled with numba (on first use, then cached on disk) it is one
read of each row and a running sum per listing. It releases the GIL, so a
page can sweep in one thread while another applies the rule.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _tally(row: int, fixed: np.ndarray, bins: np.ndarray, same: np.ndarray, passed: np.ndarray,
           right: np.ndarray) -> None:
    """Count one row in its slot: its bin + 1 (slot 0 below the grid), or the last slot when fixed. Slots,
    not a branch per row, since the branch was mispredicted often enough to cost a third of the pass."""
    slot = len(passed) - 1 if fixed[row] else bins[row] + 1
    passed[slot] += 1
    if len(same):
        right[slot] += same[row]


@numba.njit(cache=True, nogil=True)
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
    passed = np.zeros(grid_size + 2, np.int64)
    right = np.zeros(grid_size + 2, np.int64)
    pairs = np.zeros(grid_size, np.int64)
    f1, precision, recall = np.zeros(grid_size), np.zeros(grid_size), np.zeros(grid_size)
    sorted_rows = len(order) == 0
    n = len(bounds) - 1
    for q in range(n):
        if sorted_rows:  # two loops, not a choice per row: the choice alone cost a fifth of the pass
            for row in range(bounds[q], bounds[q + 1]):
                _tally(row, fixed, bins, same, passed, right)
        else:
            for k in range(bounds[q], bounds[q + 1]):
                _tally(order[k], fixed, bins, same, passed, right)
        predicted, correct = 1 + passed[-1], 1 + right[-1]
        size = group_size[q] if labelled else 1
        for t in range(grid_size - 1, -1, -1):  # lower thresholds keep every row the higher ones do
            predicted += passed[t + 1]
            correct += right[t + 1]
            pairs[t] += predicted - 1
            f1[t] += 2 * correct / (predicted + size)
            precision[t] += correct / predicted
            recall[t] += correct / size
        passed[:] = 0
        right[:] = 0
    if not labelled:
        f1[:] = np.nan
        precision[:] = np.nan
        recall[:] = np.nan
    return pairs, f1 / n, precision / n, recall / n
