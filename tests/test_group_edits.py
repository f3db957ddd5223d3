import numpy as np
import pytest

from matcher.grouping import group_matches
from matcher.group_edits import merge, move_out


def test_moving_a_listing_out_rejects_it_against_every_other_member_and_grouping_obeys():
    ids = ["a", "b", "c", "d"]
    q, c, s = np.array([0, 1, 2]), np.array([1, 2, 3]), np.ones(3)
    assert group_matches(4, q, c, s, ids).labels.tolist() == [0, 0, 0, 0]
    decisions = move_out("c", ["a", "b", "c", "d"])
    assert decisions == [("c", "a", "rejected"), ("c", "b", "rejected"), ("c", "d", "rejected")]
    assert group_matches(4, q, c, s, ids, decisions).labels.tolist() == [0, 0, 1, 2]


def test_merging_confirms_the_most_similar_pair_across_the_groups():
    scores = {("a", "x"): 0.2, ("a", "y"): np.nan, ("b", "x"): 0.9, ("b", "y"): 0.5}
    assert merge(["a", "b"], ["x", "y"], lambda p, q: scores[(p, q)]) == [("b", "x", "confirmed")]
    assert merge(["a"], ["y"], lambda p, q: np.nan) == [("a", "y", "confirmed")]
    groups = group_matches(4, np.array([0, 2]), np.array([1, 3]), np.ones(2), ["a", "b", "x", "y"],
                           merge(["a", "b"], ["x", "y"]))
    assert len(set(groups.labels)) == 1
    with pytest.raises(ValueError, match="two different"):
        merge(["a"], ["a", "b"])
