import numpy as np
import pandas as pd
import pytest

from matcher.matching import FUSED, OFF, RuleScorer, UnionRule, fused_score, match_sets, tune_rule
from matcher.metric import score_matches


def table(rows):
    frame = pd.DataFrame(rows, columns=["query", "candidate", "sim_a", "sim_b"])
    return frame.astype({"query": np.int32, "candidate": np.int32, "sim_a": np.float32, "sim_b": np.float32})


def symmetric(rows):
    return table(sorted(rows + [(c, q, a, b) for q, c, a, b in rows]))


def test_the_cap_keeps_each_listings_best_matches_and_only_touches_listings_over_it():
    rng = np.random.default_rng(4)
    n, rows = 60, 3000
    t = table({"query": np.sort(np.minimum(rng.geometric(0.05, rows), n - 1)), "candidate": rng.integers(0, n, rows),
               "sim_a": rng.random(rows).round(2), "sim_b": np.nan})  # rounded: ties, kept in table order
    rule = UnionRule({"a": 0.3, "b": OFF}, max_matches=20)
    mask = rule.matches(t)
    passing = t[t["sim_a"] >= 0.3].sort_values(["query", "sim_a"], ascending=[True, False], kind="stable")
    expected = passing.groupby("query").head(19).index
    assert sorted(np.flatnonzero(mask)) == sorted(expected)
    assert (passing.groupby("query").size() > 19).any() and (passing.groupby("query").size() < 19).any()


def test_union_matches_when_any_channel_reaches_its_threshold():
    t = symmetric([(0, 1, 0.9, 0.1), (0, 2, 0.2, 0.8), (1, 2, 0.5, 0.5), (2, 3, np.nan, 0.75)])
    sets = match_sets(t, 4, UnionRule({"a": 0.85, "b": 0.7}))
    assert [sorted(s.tolist()) for s in sets] == [[0, 1, 2], [0, 1], [0, 2, 3], [2, 3]]
    assert [s[0] for s in sets] == [0, 1, 2, 3]


def test_matches_are_ordered_by_margin_and_capped():
    t = symmetric([(0, 1, 0.95, 0), (0, 2, 0.99, 0), (0, 3, 0.91, 0)])
    sets = match_sets(t, 4, UnionRule({"a": 0.9, "b": OFF}, max_matches=3))
    assert sets[0].tolist() == [0, 2, 1]


def test_fused_score_is_a_weighted_mean_over_available_channels():
    t = table([(0, 1, 0.8, 0.4), (0, 2, np.nan, 0.4), (0, 3, np.nan, np.nan)])
    fused = fused_score(t, {"a": 0.75, "b": 0.25})
    np.testing.assert_allclose(fused[:2], [0.7, 0.4], atol=1e-6)
    assert np.isnan(fused[2])


def test_fused_threshold_matches_what_no_single_channel_reaches():
    t = symmetric([(0, 1, 0.7, 0.7), (0, 2, 0.9, 0.1)])
    rule = UnionRule({"a": 0.95, "b": 0.95, FUSED: 0.65}, weights={"a": 0.5, "b": 0.5})
    assert sorted(match_sets(t, 3, rule)[0].tolist()) == [0, 1]


def test_rescue_keeps_the_best_candidate_of_a_listing_with_no_match():
    t = symmetric([(0, 1, 0.6, 0.6), (0, 2, 0.5, 0.5), (2, 3, 0.95, 0.95)])
    rule = UnionRule({FUSED: 0.9}, weights={"a": 0.5, "b": 0.5}, rescue=0.55)
    sets = match_sets(t, 4, rule)
    assert sets[0].tolist() == [0, 1] and sets[1].tolist() == [1, 0]   # rescued, both ways
    assert sets[2].tolist() == [2, 3]                                   # already matched: no rescue
    rule.rescue = 0.65
    assert match_sets(t, 4, rule)[0].tolist() == [0]


def test_scorer_and_sweep_count_like_the_metric():
    t = symmetric([(0, 1, 0.9, 0.1), (0, 2, 0.2, 0.8), (1, 2, 0.5, 0.5), (2, 3, 0.1, 0.75)])
    labels = np.array(["x", "x", "y", "y"], dtype=object)
    scorer = RuleScorer(t, labels)
    for a in (0.15, 0.5, 0.85):
        rule = UnionRule({"a": a, "b": 0.7})
        expected = score_matches(match_sets(t, 4, rule), labels).mean_f1
        assert scorer.rule_scores(rule).mean_f1 == pytest.approx(expected)
        fixed = t["sim_b"].to_numpy() >= 0.7
        swept = scorer.sweep(fixed, t["sim_a"].to_numpy(np.float32), np.array([0.15, 0.5, 0.85]))
        assert swept[[0.15, 0.5, 0.85].index(a)] == pytest.approx(expected)


def test_a_sweep_scores_every_threshold_like_its_match_sets_whatever_the_tables_order():
    t, labels = separable_case(2)
    grid = np.round(np.arange(0.2, 1.0001, 0.05), 2)
    fixed_of = lambda frame: frame["sim_b"].to_numpy() >= 0.95
    for frame in (t, t.sample(frac=1, random_state=0).reset_index(drop=True)):  # stored order, and any other
        scores, fixed = frame["sim_a"].to_numpy(np.float32), fixed_of(frame)
        scorer = RuleScorer(frame, labels)
        swept = scorer.sweep_scores(fixed, scores, grid)
        for i, threshold in enumerate(grid):
            expected = scorer.mask_scores(fixed | (scores >= threshold))
            assert swept["f1"][i] == pytest.approx(expected.mean_f1)
            assert swept["precision"][i] == pytest.approx(expected.mean_precision)
            assert swept["recall"][i] == pytest.approx(expected.mean_recall)
        np.testing.assert_allclose(scorer.sweep(fixed, scores, grid), swept["f1"])


def separable_case(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(40), 2).astype(str).astype(object)
    rows = []
    for i in range(80):
        for j in range(i + 1, min(i + 6, 80)):
            same = labels[i] == labels[j]
            rows.append((i, j, 0.8 + 0.1 * rng.random() if same else 0.5 + 0.2 * rng.random(), rng.random()))
    return symmetric(rows), labels


def test_tuning_finds_the_separating_threshold_and_drops_a_useless_channel():
    t, labels = separable_case()
    rule, f1 = tune_rule(t, labels, ["a", "b"])
    assert f1 == pytest.approx(1.0)
    assert 0.7 <= rule.thresholds["a"] <= 0.8 and rule.thresholds["b"] == OFF


def test_tuning_weights_the_informative_channel():
    t, labels = separable_case(1)
    rule, f1 = tune_rule(t, labels, ["a", "b"], fuse=["a", "b"])
    assert f1 == pytest.approx(1.0)
    assert rule.weights.get("a", 0) > rule.weights.get("b", 0)


def test_rule_round_trips_through_dict_and_restricts():
    rule = UnionRule({"a": 0.5, "b": OFF, FUSED: 0.6}, weights={"a": 0.3, "b": 0.7}, rescue=0.4, max_matches=20)
    assert UnionRule.from_dict(rule.to_dict()) == rule
    only_b = rule.restricted_to(["b"])
    assert only_b.weights == {"b": 0.7} and "a" not in only_b.thresholds and FUSED in only_b.thresholds
    no_text = rule.restricted_to(["phash"])
    assert no_text.thresholds == {} and no_text.rescue == OFF


def test_margin_is_the_best_excess_over_any_threshold_and_given_inputs_change_nothing():
    from matcher.matching import GRID, best_candidates, grid_bins

    t = symmetric([(0, 1, 0.9, np.nan), (0, 2, np.nan, np.nan), (1, 2, 0.5, 0.7), (2, 3, 0.1, 0.75)])
    for thresholds in ({"a": 0.6}, {"a": 0.6, "b": np.float64(0.7)}, {"a": OFF, "b": OFF}, {"a": 0.3, FUSED: 0.5}):
        weights = {"a": 0.5, "b": 0.5} if FUSED in thresholds else {}
        rule = UnionRule(dict(thresholds), weights=weights, rescue=0.2, rescue_by="b", mutual=True)
        excess = [t[f"sim_{c}"].to_numpy(np.float32) - v if c != FUSED else fused_score(t, rule.weights) - v
                  for c, v in thresholds.items() if v < OFF]
        expected = np.full(len(t), -np.inf, np.float32)
        for e in excess:
            expected = np.fmax(expected, e)
        margin = rule.margin(t)
        assert margin.dtype == expected.dtype and np.array_equal(margin, expected)  # NaN everywhere: -inf
        fused = fused_score(t, rule.weights) if weights else None
        best = best_candidates(t, rule.rescue_score(t))
        np.testing.assert_array_equal(rule.matches(t, fused, best), rule.matches(t))
        rows = rule.matched_rows(t)
        np.testing.assert_array_equal(rule.margin(t, fused, rows), margin[rows])
    scores = t["sim_a"].to_numpy(np.float32)
    expected = np.array([np.searchsorted(GRID, s, side="right") - 1 if s >= GRID[0] else -1 for s in scores])
    np.testing.assert_array_equal(grid_bins(scores, GRID), expected)


def test_matched_rows_are_exactly_the_rows_whose_margin_reaches_zero_even_at_the_threshold_itself():
    """matched_rows compares scores with thresholds and never computes the margin: the two must agree on
    every float32 score, those equal to the threshold and one step either side of it included."""
    rng = np.random.default_rng(3)
    pairs = [(i, j) for i in range(12) for j in range(i + 1, 12)]
    edge = [np.float32(0.61), np.nextafter(np.float32(0.61), np.float32(0)), np.nextafter(np.float32(0.61), np.float32(1))]
    a = rng.choice([*edge, np.nan, *rng.random(5, dtype=np.float32)], len(pairs))
    b = rng.choice([np.float32(0.7), np.nan, *rng.random(5, dtype=np.float32)], len(pairs))
    t = symmetric([(i, j, x, y) for (i, j), x, y in zip(pairs, a, b)])
    for thresholds in ({"a": 0.61}, {"a": np.float64(0.61), "b": 0.7}, {"a": 0.61, FUSED: 0.5}, {"a": OFF}):
        weights = {"a": 0.5, "b": 0.5} if FUSED in thresholds else {}
        rule = UnionRule(dict(thresholds), weights=weights, max_matches=100)
        expected = np.flatnonzero(rule.margin(t) >= 0)
        np.testing.assert_array_equal(rule.matched_rows(t), expected)
    assert (t["sim_a"].to_numpy(np.float32) == np.float32(0.61)).any()  # the threshold itself was drawn
