"""Argsorting integer keys quickly: NumPy sorts 64-bit integers with vectorised code, but argsorts them without."""
from __future__ import annotations

import numpy as np


def argsort_keys(keys: np.ndarray, bound: int) -> np.ndarray:
    """The stable argsort of non-negative integer `keys`, every one below `bound`.

    Where a key and its index fit in 63 bits together, the keys are sorted
    packed with their indices and the indices read back from the low bits: one
    vectorised sort, three to four times faster than `np.argsort` on the
    millions of pair keys a threshold move groups. The index breaks ties, so
    equal keys keep their order. Otherwise `np.argsort(kind="stable")`.
    """
    count = len(keys)
    bits = max(count - 1, 1).bit_length()
    if count == 0 or int(bound) << bits >= 1 << 63:
        return np.argsort(keys, kind="stable")
    packed = np.left_shift(np.asarray(keys, np.int64), bits)
    packed |= np.arange(count, dtype=np.int64)
    packed.sort()
    return packed & ((1 << bits) - 1)
