import numpy as np
import pandas as pd
import pytest

from matcher.matching import OFF, RuleScorer, UnionRule, match_sets, tune_union


def table(rows):
    frame = pd.DataFrame(rows, columns=["query", "candidate", "sim_a", "sim_b"])
    return frame.astype({"query": np.int32, "candidate": np.int32, "sim_a": np.float32, "sim_b": np.float32})


def symmetric(rows):
    return table(sorted(rows + [(c, q, a, b) for q, c, a, b in rows]))


def test_union_matches_when_any_channel_reaches_its_threshold():
    t = symmetric([(0, 1, 0.9, 0.1), (0, 2, 0.2, 0.8), (1, 2, 0.5, 0.5), (2, 3, np.nan, 0.75)])
    rule = UnionRule({"a": 0.85, "b": 0.7})
    sets = match_sets(t, 4, rule)
    assert [sorted(s.tolist()) for s in sets] == [[0, 1, 2], [0, 1], [0, 2, 3], [2, 3]]
    assert [s[0] for s in sets] == [0, 1, 2, 3]


def test_matches_are_ordered_by_margin_and_capped():
    t = symmetric([(0, 1, 0.95, 0), (0, 2, 0.99, 0), (0, 3, 0.91, 0)])
    sets = match_sets(t, 4, UnionRule({"a": 0.9, "b": OFF}, max_matches=3))
    assert sets[0].tolist() == [0, 2, 1]


def test_scorer_counts_like_the_metric():
    from matcher.metric import score_matches

    t = symmetric([(0, 1, 0.9, 0.1), (0, 2, 0.2, 0.8), (1, 2, 0.5, 0.5), (2, 3, 0.1, 0.75)])
    labels = np.array(["x", "x", "y", "y"], dtype=object)
    rule = UnionRule({"a": 0.85, "b": 0.7})
    fast = RuleScorer(t, labels).rule_scores(rule)
    slow = score_matches(match_sets(t, 4, rule), labels)
    np.testing.assert_allclose(fast.f1, slow.f1)


def test_tuning_finds_the_separating_thresholds_and_drops_a_useless_channel():
    rng = np.random.default_rng(0)
    rows = []
    labels = np.repeat(np.arange(40), 2).astype(str).astype(object)
    for i in range(80):
        for j in range(i + 1, min(i + 6, 80)):
            same = labels[i] == labels[j]
            rows.append((i, j, 0.8 + 0.1 * rng.random() if same else 0.5 + 0.2 * rng.random(), rng.random()))
    rule, f1 = tune_union(symmetric(rows), labels, ["a", "b"])
    assert f1 == pytest.approx(1.0)
    assert 0.7 <= rule.thresholds["a"] <= 0.8 and rule.thresholds["b"] == OFF


def test_rule_round_trips_through_dict():
    rule = UnionRule({"a": 0.5, "b": OFF}, max_matches=20)
    assert UnionRule.from_dict(rule.to_dict()) == rule
