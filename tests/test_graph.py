"""The compiled graph loops against plain references: SciPy's components, direct set counts, NumPy's maxima."""
import itertools

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from matcher.graph import capped_walk, closed_overlaps, components, undirected_pairs


def random_graph(seed: int):
    """Components of many sizes, some dense, some chains; pairs (a < b) distinct, in no particular order."""
    rng = np.random.default_rng(seed)
    edges, start = set(), 0
    for size in rng.choice([1, 2, 3, 5, 9, 20, 60], 25):
        members = np.arange(start, start + size)
        edges |= {(int(members[i]), int(members[j])) for i, j in itertools.combinations(range(size), 2)
                  if rng.random() < 0.4}
        edges |= {(int(members[i]), int(members[i + 1])) for i in range(size - 1)}  # connected
        start += size
    a, b = np.array(sorted(edges)).T
    shuffle = rng.permutation(len(a))
    return start, a[shuffle], b[shuffle], rng


@pytest.mark.parametrize("seed", range(3))
def test_components_are_scipys_connected_components(seed):
    n, a, b, _ = random_graph(seed)
    expected = connected_components(sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)[1]
    found = components(n, a, b)
    assert (expected[found] == expected).all()                 # each is named by a listing of its own component
    assert len(np.unique(found)) == len(np.unique(expected))  # and distinct components keep distinct names


@pytest.mark.parametrize("seed", range(3))
def test_closed_overlaps_count_common_closed_neighbours_directly(seed):
    n, a, b, rng = random_graph(seed)
    neighbours = [{i} for i in range(n)]
    for x, y in zip(a, b):
        neighbours[x].add(y)
        neighbours[y].add(x)
    x, y = rng.integers(0, n, 300), rng.integers(0, n, 300)  # pairs and non-pairs, in any order
    x[:100], y[:100] = np.sort(a[:100]), b[np.argsort(a[:100])]
    expected = [len(neighbours[i] & neighbours[j]) for i, j in zip(x, y)]
    np.testing.assert_array_equal(closed_overlaps(n, a, b, x, y), expected)


def test_undirected_pairs_name_each_pair_once_and_each_given_pair_its_own():
    rng = np.random.default_rng(0)
    n = 50
    query, candidate = rng.integers(0, n, 2000), rng.integers(0, n, 2000)  # both directions, repeats, self-pairs
    a, b, pair_of = undirected_pairs(n, query, candidate)
    assert (a < b).all() and (np.diff(a) >= 0).all()
    expected = {(min(q, c), max(q, c)) for q, c in zip(query.tolist(), candidate.tolist()) if q != c}
    assert sorted(zip(a.tolist(), b.tolist())) == sorted(expected)
    own = pair_of >= 0
    np.testing.assert_array_equal(own, query != candidate)
    np.testing.assert_array_equal(a[pair_of[own]], np.minimum(query, candidate)[own])
    np.testing.assert_array_equal(b[pair_of[own]], np.maximum(query, candidate)[own])


def pairs(*edges):
    return np.array(edges, np.int64).reshape(-1, 2)


def test_capped_walk_carries_bans_through_merges_and_counts_each_refusal():
    """Rejected (1, 2): once 0-1 and 2-3 are groups, 0-3 would join the pair and is refused; a rejected pair
    the confirmed pairs already joined is a conflict and bans nothing; with a cap of 2 listings the cap
    refuses 0-3 first, and 5-6."""
    x, y = pairs((0, 1), (2, 3), (0, 3), (4, 5), (5, 6), (7, 9)).T
    roots, too_big, refused, conflicts = capped_walk(10, x, y, pairs((7, 8), (9, 8)), pairs((1, 2), (7, 9)), 4)
    groups = [sorted(np.flatnonzero(roots == roots[i]).tolist()) for i in (0, 2, 4, 7)]
    assert groups == [[0, 1], [2, 3], [4, 5, 6], [7, 8, 9]]
    assert (too_big, refused, conflicts) == (0, 1, 1)
    roots, too_big, refused, conflicts = capped_walk(7, x[:5], y[:5], pairs(), pairs((1, 2)), 2)
    assert roots[4] == roots[5] != roots[6] and (too_big, refused, conflicts) == (2, 0, 0)
