import numpy as np
import pytest

from matcher.sorting import argsort_keys


@pytest.mark.parametrize("bound", [7, 10**6, 2**40, 2**62])  # the last cannot pack an index: np.argsort's path
def test_argsort_keys_is_numpys_stable_argsort(bound):
    rng = np.random.default_rng(bound % 97)
    keys = rng.integers(0, bound, 5000)
    keys[::3] = keys[1::3]  # ties keep their order
    np.testing.assert_array_equal(argsort_keys(keys, bound), np.argsort(keys, kind="stable"))


def test_argsort_keys_of_nothing_and_of_one():
    assert argsort_keys(np.zeros(0, np.int64), 10).tolist() == []
    assert argsort_keys(np.array([4]), 10).tolist() == [0]
