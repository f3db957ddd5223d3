import itertools

import numpy as np
import pandas as pd
import pytest

from matcher.grouping import GroupingConfig, group_id, group_matches, group_table, tune_grouping
from matcher.matching import UnionRule


def pairs(edges, score=0.9):
    """query, candidate and score arrays from (a, b) or (a, b, score) tuples."""
    rows = [(e[0], e[1], e[2] if len(e) == 3 else score) for e in edges]
    q, c, s = zip(*rows) if rows else ((), (), ())
    return np.array(q, int), np.array(c, int), np.array(s, float)


def ids(n):
    return [f"p{i:02d}" for i in range(n)]


def group(n, edges, decisions=None, **config):
    return group_matches(n, *pairs(edges), ids(n), decisions, GroupingConfig(**config))


def clique(members):
    return list(itertools.combinations(members, 2))


def as_sets(groups):
    return sorted(sorted(m.tolist()) for m in groups.members())


def test_connected_pairs_form_groups_and_unmatched_listings_are_singletons():
    groups = group(6, [(0, 1), (1, 2), (4, 5)])
    assert as_sets(groups) == [[0, 1, 2], [3], [4, 5]]
    assert groups.labels.tolist() == [0, 0, 0, 1, 2, 2]      # numbered by their first listing
    assert [m.tolist() for m in groups.members()] == [[0, 1, 2], [3], [4, 5]]
    assert len(set(groups.ids)) == 3 and groups.ids[3] == group_id(["p03"])
    assert group(4, [(2, 3, 0.9), (0, 2, 0.8)]).labels.tolist() == [0, 1, 0, 0]


def test_no_pairs_gives_all_singletons():
    groups = group(3, [])
    assert groups.labels.tolist() == [0, 1, 2]
    assert groups.dropped["size"] == groups.dropped["bridge"] == groups.dropped["rejected"] == 0


def test_pairs_are_undirected_and_repeats_keep_the_best_score():
    # 0-1 is weak one way and strong the other: its best score must win the race for the last seat
    edges = [(1, 0, 0.1), (0, 1, 0.95), (0, 1, 0.2), (1, 2, 0.9), (2, 1, 0.9), (3, 3, 1.0)]
    groups = group(4, edges, max_size=2)
    assert as_sets(groups) == [[0, 1], [2], [3]]
    assert groups.dropped["size"] == 1                        # the 1-2 pair, counted once


def test_size_guard_splits_a_long_chain_of_strong_edges():
    chain = [(i, i + 1, 1.0 - i / 100) for i in range(11)]    # 12 listings, strongest links first
    groups = group(12, chain, max_size=5)
    assert as_sets(groups) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert groups.dropped["size"] == 2
    assert groups.dropped["bridge"] == 0                      # a chain is left to the size guard


def test_weak_bridge_between_two_cliques_is_cut_and_each_clique_stays_whole():
    a, b = list(range(5)), list(range(5, 10))
    groups = group(10, clique(a) + clique(b) + [(4, 5, 0.99)])
    assert as_sets(groups) == [a, b]
    assert groups.dropped["bridge"] == 1


def test_a_lone_listing_bridging_two_cliques_is_cut_off():
    a, b = list(range(7)), list(range(7, 14))
    groups = group(15, clique(a) + clique(b) + [(6, 14), (14, 7)])
    assert as_sets(groups) == [a, b, [14]]
    assert groups.dropped["bridge"] == 2


@pytest.mark.parametrize("edges", [[(0, 1)], [(0, 1), (1, 2)], clique(range(3)), clique(range(8))])
def test_pairs_triples_and_cliques_are_never_cut(edges):
    n = max(max(e) for e in edges) + 1
    groups = group(n, edges)
    assert as_sets(groups) == [list(range(n))]
    assert groups.dropped["bridge"] == 0


def test_a_listing_with_one_match_stays_attached_to_a_dense_group():
    groups = group(9, clique(range(8)) + [(7, 8)])
    assert as_sets(groups) == [list(range(9))]


def test_rejected_pair_never_joins_even_through_strong_edges():
    decisions = [("p00", "p02", "rejected")]
    groups = group(3, [(0, 1, 0.9), (1, 2, 0.8)], decisions)
    assert as_sets(groups) == [[0, 1], [2]]
    assert groups.dropped["rejected"] == 1


def test_rejection_follows_components_as_they_merge():
    # 0-1 and 2-3 merge first; 1-2 would put the rejected 0 and 3 together through them
    decisions = [("p00", "p03", "rejected")]
    groups = group(5, [(0, 1, 0.9), (2, 3, 0.9), (3, 4, 0.85), (1, 2, 0.8), (0, 4, 0.7)], decisions)
    assert as_sets(groups) == [[0, 1], [2, 3, 4]]
    assert groups.dropped["rejected"] == 2


def test_confirmed_pair_joins_without_a_model_edge_and_past_max_size():
    decisions = [("p00", "p03", "confirmed"), ("p03", "p04", "confirmed"), ("p04", "p05", "confirmed")]
    groups = group(6, [(0, 1), (1, 2)], decisions, max_size=3)
    assert as_sets(groups) == [[0, 3, 4, 5], [1, 2]]
    assert groups.dropped["size"] == 1


def test_rejected_pair_forced_together_by_confirmed_pairs_is_reported_not_raised():
    decisions = [("p00", "p01", "confirmed"), ("p01", "p02", "confirmed"), ("p00", "p02", "rejected")]
    groups = group(3, [], decisions)
    assert as_sets(groups) == [[0, 1, 2]]
    assert groups.dropped["conflicts"] == 1


def test_the_last_decision_on_a_pair_wins():
    decisions = [("p00", "p01", "rejected"), ("p01", "p00", "confirmed")]
    assert as_sets(group(2, [], decisions)) == [[0, 1]]
    assert as_sets(group(2, [(0, 1)], decisions[::-1])) == [[0], [1]]


def test_decisions_as_a_dataframe_and_unknown_posting_ids_ignored():
    decisions = pd.DataFrame({"posting_id_a": ["p00", "p01", "nope", "p02"],
                              "posting_id_b": ["p02", "p03", "p00", "gone"],
                              "decision": ["rejected", "confirmed", "confirmed", "confirmed"],
                              "moderator": ["ann", "bob", "ann", "bob"]})
    groups = group(4, [(0, 1, 0.9), (1, 2, 0.8)], decisions)
    assert as_sets(groups) == [[0, 1, 3], [2]]
    assert groups.dropped["unknown_decisions"] == 2
    assert groups.dropped["rejected"] == 1


def test_an_unknown_decision_is_an_error():
    with pytest.raises(ValueError, match="maybe"):
        group(2, [], [("p00", "p01", "maybe")])


def test_ids_depend_on_membership_only():
    edges = [(0, 1), (1, 2), (3, 4)]
    before = group(6, edges)
    perm = np.random.default_rng(0).permutation(6)            # new position of each listing
    names = np.array(ids(6))
    shuffled_ids = np.empty(6, object)
    shuffled_ids[perm] = names
    q, c, s = pairs(edges)
    after = group_matches(6, perm[c], perm[q], s, shuffled_ids)
    assert dict(zip(names, before.ids)) == dict(zip(shuffled_ids, after.ids))
    changed = group(6, edges + [(4, 5)])
    assert changed.ids[0] == before.ids[0]                    # 0-1-2 unchanged
    assert changed.ids[3] != before.ids[3]                    # 3-4 became 3-4-5
    assert before.ids[0] == group_id(["p02", "p00", "p01"])


def test_match_sets_list_each_listings_group_with_itself_first():
    sets = group(4, [(0, 2), (2, 3)]).match_sets()
    assert [s[0] for s in sets] == [0, 1, 2, 3]
    assert [sorted(s.tolist()) for s in sets] == [[0, 2, 3], [1], [0, 2, 3], [0, 2, 3]]


def test_bad_positions_are_an_error():
    with pytest.raises(ValueError, match="0..2"):
        group(3, [(0, 3)])


def test_guards_are_tuned_on_labelled_groups():
    # Two true groups of six, each fully matched, and one false match bridging them.
    edges = clique(range(6)) + clique(range(6, 12)) + [(5, 6)]
    table = pd.DataFrame({"query": [a for a, b in edges], "candidate": [b for a, b in edges],
                          "sim_text": np.full(len(edges), 0.9, np.float32)})
    rule = UnionRule({"text": 0.5})
    labels = np.repeat(["A", "B"], 6)
    assert len(group_table(table, rule, ids(12), config=GroupingConfig(min_support=0.0)).members()) == 1
    config, f1 = tune_grouping(table, rule, labels, ids(12), max_sizes=(4, 50))
    assert f1 == pytest.approx(1.0)
    assert config.min_support > 0                 # the bridge guard is what separates them
    assert config.max_size == 50                  # ties go to the looser cap; 4 is raised to the real groups' 6


def walk_every_pair(n, query, candidate, score, posting_ids, decisions, config):
    """The grouping walk over every pair, strongest first, with no shortcut and no compiled code: a plain
    Python union-find with ban sets, what group_matches must equal."""
    from matcher.grouping import _decision_pairs, _groups, _weak_bridges

    best = {}
    for x, y, value in zip(query.tolist(), candidate.tolist(), score.tolist()):
        if x != y:
            best[min(x, y), max(x, y)] = max(best.get((min(x, y), max(x, y)), -np.inf), value)
    (a, b), score = np.array(sorted(best), np.int64).reshape(-1, 2).T, np.array([best[k] for k in sorted(best)])
    bridge = _weak_bridges(n, a, b, config)
    confirmed, rejected, unknown = _decision_pairs(decisions, np.asarray(posting_ids).astype(str))
    parent, size, banned = list(range(n)), [1] * n, {}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    def union(ra, rb):
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
        for partner in banned.pop(rb, set()):
            banned[partner].discard(rb)
            banned[partner].add(ra)
            banned.setdefault(ra, set()).add(partner)

    for x, y in confirmed.tolist():
        if find(x) != find(y):
            union(find(x), find(y))
    conflicts = 0
    for x, y in rejected.tolist():
        if find(x) == find(y):
            conflicts += 1
        else:
            banned.setdefault(find(x), set()).add(find(y))
            banned.setdefault(find(y), set()).add(find(x))
    dropped = {"size": 0, "bridge": int(bridge.sum()), "rejected": 0, "unknown_decisions": unknown,
               "conflicts": conflicts}
    a, b, score = a[~bridge], b[~bridge], score[~bridge]
    order = np.lexsort((b, a, -score))
    for x, y in zip(a[order].tolist(), b[order].tolist()):
        ra, rb = find(x), find(y)
        if ra == rb:
            continue
        if size[ra] + size[rb] > config.max_size:
            dropped["size"] += 1
        elif rb in banned.get(ra, ()):
            dropped["rejected"] += 1
        else:
            union(ra, rb)
    return _groups(np.array([find(i) for i in range(n)]), np.asarray(posting_ids).astype(str), dropped)


@pytest.mark.parametrize("seed", range(40))
def test_components_merged_whole_give_exactly_the_walk_over_every_pair(seed):
    """Small components are merged at once and only those a guard may touch are walked: same groups, same counts."""
    rng = np.random.default_rng(seed)
    n = 120
    cluster = rng.integers(0, 25, n)                     # most pairs fall within clusters: groups of all sizes
    q = rng.integers(0, n, 400)
    c = np.array([rng.choice(np.flatnonzero(cluster == cluster[x])) if rng.random() < 0.85 else rng.integers(n)
                  for x in q])
    score = np.round(rng.random(400), 1)                 # ties, broken by position
    names = [f"p{i:03d}" for i in range(n)]
    picks = rng.choice(400, 12, replace=False)
    decisions = [(names[q[i]], names[c[i]], "confirmed" if k % 2 else "rejected") for k, i in enumerate(picks)]
    for config in (GroupingConfig(), GroupingConfig(max_size=4, min_support=0.0), GroupingConfig(max_size=7)):
        for given in (None, decisions):
            fast = group_matches(n, q, c, score, names, given, config)
            slow = walk_every_pair(n, q, c, score, names, given, config)
            np.testing.assert_array_equal(fast.labels, slow.labels)
            np.testing.assert_array_equal(fast.ids, slow.ids)
            assert fast.dropped == slow.dropped


def test_group_ids_are_each_groups_sorted_posting_ids_hashed():
    names = ["b", "a", "c10", "c9", "Z", "é"]
    groups = group_matches(6, np.array([0, 2, 4]), np.array([1, 3, 5]), np.ones(3), names)
    expected = {tuple(sorted(np.array(names)[m])): group_id(np.array(names)[m]) for m in groups.members()}
    for i, name in enumerate(names):
        members = tuple(sorted(np.array(names)[groups.labels == groups.labels[i]]))
        assert groups.ids[i] == expected[members]


def test_ids_of_a_few_listings_are_the_ids_of_their_groups():
    rng = np.random.default_rng(3)
    n = 300
    q, c = rng.integers(0, n, 400), rng.integers(0, n, 400)
    names = [f"p{i}" for i in rng.permutation(n)]
    score, positions = rng.random(400), rng.integers(0, n, 25)
    few = group_matches(n, q, c, score, names).ids_of(positions)  # before every id is made
    everything = group_matches(n, q, c, score, names)
    np.testing.assert_array_equal(few, everything.ids[positions])
    np.testing.assert_array_equal(everything.ids_of(positions), everything.ids[positions])
    assert len(group_matches(n, q, c, score, names).ids_of(np.zeros(0, np.int64))) == 0


def test_scores_are_asked_only_for_the_walked_pairs_and_keep_each_pairs_best():
    """The walk's scores come from the given pairs that copy a walked pair, and no others (a function is asked
    for those alone); a pair's best is np.maximum over its copies, NaN included."""
    from matcher.grouping import _best_scores

    pair_of = np.array([0, 1, -1, 0, 2, 1, 0])        # given pairs 0, 3 and 6 copy unique pair 0; 2 is a self-pair
    score = np.array([0.2, 0.9, 5.0, 0.7, 0.4, np.nan, 0.1])
    wanted = np.array([True, True, False])
    asked = []
    best = _best_scores(pair_of, wanted, lambda at: asked.append(at.tolist()) or score[at])
    assert asked == [[0, 1, 3, 5, 6]]
    np.testing.assert_array_equal(best, [0.7, np.nan])
    np.testing.assert_array_equal(_best_scores(pair_of, wanted, score), best)
