"""The app's data layer on the small demo build: every figure must agree with the engine's own."""
import numpy as np
import pytest

from matcher.catalog import load_catalog
from matcher.explore import Explorer
from matcher.grouping import group_table
from matcher.matching import OFF, RuleScorer, UnionRule


@pytest.fixture(scope="module")
def ex(demo_build):
    return Explorer(demo_build / "demo" / "model")


def mask_of(applied):
    """Which table rows an applied rule matches, as a mask over the whole table."""
    mask = np.zeros(len(applied.table), bool)
    mask[applied.rows] = True
    return mask


def test_a_rule_gives_the_engines_matches_groups_and_scores(ex):
    applied = ex.apply(ex.rule)
    np.testing.assert_array_equal(mask_of(applied), ex.rule.matches(ex.table))
    groups = ex.groups(applied)
    expected = group_table(ex.table, ex.rule, ex.posting_ids, config=ex.grouping)
    np.testing.assert_array_equal(groups.labels, expected.labels)
    summary = ex.summary(applied, groups)
    assert summary.pairs == mask_of(applied).sum()
    assert summary.groups == (np.bincount(groups.labels) > 1).sum()
    assert (summary.sizes.index * summary.sizes).sum() == (np.bincount(groups.labels)[groups.labels] > 1).sum()
    assert summary.scores.mean_f1 == pytest.approx(RuleScorer(ex.table, ex.labels).rule_scores(ex.rule).mean_f1)


def test_a_sweep_matches_the_rule_at_each_threshold(ex):
    column = ex.channels[0]
    rule = UnionRule({column: 0.5}, max_matches=1000)
    sweep = ex.sweep(rule, column).set_index("threshold")
    for threshold in (0.3, 0.5, 0.8):
        moved = UnionRule({column: threshold}, max_matches=1000)
        assert sweep.loc[threshold, "pairs"] == moved.matches(ex.table).sum()
        assert sweep.loc[threshold, "f1"] == pytest.approx(ex.summary(ex.apply(moved), ex.groups(ex.apply(moved))).scores.mean_f1)
    assert sweep["pairs"].is_monotonic_decreasing


def test_tuned_gives_what_the_steps_give_one_after_another(ex):
    """The sweep runs in a second thread: its result, and an error in it, still reach the caller."""
    charted = next(iter(ex.rule.thresholds))
    rule = UnionRule({c: t - 0.02 if t < OFF else t for c, t in ex.rule.thresholds.items()}, ex.rule.weights, ex.rule.rescue,
                     ex.rule.max_matches, ex.rule.rescue_by, ex.rule.mutual)
    tuned = ex.tuned(rule, charted)
    applied = ex.apply(rule)
    np.testing.assert_array_equal(tuned.applied.rows, applied.rows)
    np.testing.assert_array_equal(tuned.groups.labels, ex.groups(applied).labels)
    assert tuned.summary.scores.mean_f1 == ex.summary(applied, tuned.groups).scores.mean_f1
    assert tuned.sweep.equals(ex.sweep(rule, charted))
    with pytest.raises(KeyError):
        ex.tuned(rule, "no_such_channel")


def test_neighbours_come_with_every_score_and_the_reason(ex):
    applied = ex.apply(ex.rule)
    position = int(ex.query[applied.rows][0])
    near = ex.neighbours(position, applied)
    assert set(ex.channels) <= set(near.columns)
    assert near["match"].iloc[0] and near["reason"].iloc[0].startswith("match")
    assert (~near["match"]).any() and near.loc[~near["match"], "reason"].str.startswith("no match").all()
    assert near["match"].sum() == mask_of(applied)[ex.bounds[position]:ex.bounds[position + 1]].sum()
    off = UnionRule({c: OFF for c in ex.channels})
    assert ex.neighbours(position, ex.apply(off))["reason"].str.startswith("no match").all()


def test_search_by_words_ids_and_photo(ex, demo_build):
    title = next(t for t in ex.titles if len(t.split()) >= 2)
    words = " ".join(title.lower().split()[:2][::-1])  # any order, any case
    found = ex.search_titles(words)
    assert len(found) and all(all(w in ex.titles[i].lower() for w in words.split()) for i in found)
    assert ex.search_ids(ex.posting_ids[5])[0] == 5
    assert set(ex.search_ids("demo_")) <= set(range(len(ex))) and len(ex.search_ids("zz-no-such")) == 0
    catalog = load_catalog(demo_build / "demo" / "catalog" / "catalog.csv", demo_build / "demo" / "catalog" / "images")
    photo = next(i for i in range(len(catalog)) if catalog.image_path(i) is not None)
    hits, sims = ex.search_photo(catalog.image_path(photo))
    assert ex.posting_ids[hits[0]] == catalog.posting_ids[photo] and sims[0] > 0.99
    with pytest.raises(ValueError):
        ex.search_photo(demo_build / "demo" / "catalog" / "catalog.csv")


def test_the_review_queue_puts_the_most_uncertain_undecided_pairs_first(ex):
    applied = ex.apply(ex.rule)
    queue = ex.review_queue(applied, limit=30)
    assert (np.diff(np.abs(queue["margin"].to_numpy())) >= 0).all()
    assert not queue.duplicated(["a", "b"]).any() and (queue["a"] != queue["b"]).all()
    first = (queue["posting_id_a"][0], queue["posting_id_b"][0])
    later = ex.review_queue(applied, decided={first[::-1]}, limit=30)
    assert first not in set(zip(later["posting_id_a"], later["posting_id_b"]))
    groups = ex.groups(applied)
    by_group = ex.review_queue(applied, groups=groups, limit=1000)
    assert by_group["match"].all()
    assert (groups.ids[by_group["a"]] == groups.ids[by_group["b"]]).mean() > 0.9  # guards may split a few


def test_kept_fused_scores_bins_and_sweeps_give_what_computing_afresh_does(ex):
    from matcher.matching import FUSED, GRID, fused_score

    channels = ex.channels[:2]
    rule = UnionRule({channels[0]: 0.6, channels[1]: 0.7, FUSED: 0.65}, weights={channels[0]: 0.4, channels[1]: 0.6},
                     rescue=0.5)
    for _ in range(2):  # the second time from what the explorer kept
        applied = ex.apply(rule)
        np.testing.assert_array_equal(mask_of(applied), rule.matches(ex.table))
        np.testing.assert_array_equal(applied.margin_at(np.arange(len(ex.table))), rule.margin(ex.table))
        np.testing.assert_array_equal(ex.score(rule, FUSED), fused_score(ex.table, rule.weights))
        for channel in rule.thresholds:
            sweep = ex.sweep(rule, channel)
            others = {c: t for c, t in rule.thresholds.items() if c != channel}
            fixed = np.zeros(len(ex.table), bool)
            for other, threshold in others.items():
                fixed |= ex.score(rule, other) >= threshold
            scores = ex.score(rule, channel)
            expected = fixed.sum() + np.array([(~fixed & (scores >= t)).sum() for t in GRID])
            np.testing.assert_array_equal(sweep["pairs"], expected)
            fresh = ex.scorer.sweep_scores(fixed, scores, GRID)  # bins computed here, not kept
            np.testing.assert_array_equal(sweep["f1"], fresh["f1"])
            sweep["pairs"] = -1  # a caller's copy: the kept sweep is untouched
    moved = UnionRule({**rule.thresholds, channels[1]: 0.9}, rule.weights, rule.rescue)
    assert not ex.sweep(moved, channels[0]).equals(ex.sweep(rule, channels[0]))  # other thresholds are in the key
    other_weights = UnionRule(rule.thresholds, {channels[0]: 0.8, channels[1]: 0.2}, rule.rescue)
    np.testing.assert_array_equal(ex.score(other_weights, FUSED), fused_score(ex.table, other_weights.weights))
    assert not ex.score(rule, FUSED).flags.writeable  # kept arrays cannot be changed by accident


def test_the_explorer_loads_no_torch_until_a_photo_search():
    """Streamlit collects garbage after every script run: torch's and timm's objects would make each rerun
    of every page about 0.2 s slower on 2 cores, so the app's engine leaves them out until a photo search."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, matcher.explore; loaded = [m for m in ('torch', 'timm') if m in sys.modules]; "
            "import matcher.build; assert matcher.explore.STRATEGIES_FILE == matcher.build.STRATEGIES_FILE; "
            "print(loaded)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_rule_applied_again_is_kept_and_shared_read_only(ex):
    rule = UnionRule(dict(ex.rule.thresholds), dict(ex.rule.weights), ex.rule.rescue, ex.rule.max_matches,
                     ex.rule.rescue_by, ex.rule.mutual)
    first = ex.apply(rule)
    again = ex.apply(UnionRule.from_dict(rule.to_dict()))  # an equal rule, another object: a page's rerun
    assert again is first
    for array in (first.rows, first.query):
        assert not array.flags.writeable
    moved = UnionRule({c: min(t + 0.05, OFF) for c, t in rule.thresholds.items()}, rule.weights, rule.rescue,
                      rule.max_matches, rule.rescue_by, rule.mutual)
    assert ex.apply(moved) is not first
    np.testing.assert_array_equal(mask_of(ex.apply(moved)), moved.matches(ex.table))


def whole_table_queue(ex, applied, groups, limit):
    """The review queue read off every row of the table (margins, matches and both directions of every row)."""
    from matcher.pairs import reverse_rows

    reverse = reverse_rows(ex.query, ex.candidate, len(ex))
    has = reverse >= 0
    margin, match = applied.rule.margin(ex.table, applied.fused), mask_of(applied)
    margin[has] = np.fmax(margin[has], margin[reverse[has]])
    match[has] |= match[reverse[has]]
    rows = np.flatnonzero((~has | (ex.query < ex.candidate)) & np.isfinite(margin))
    if groups is None:
        rows = rows[np.argsort(np.abs(margin[rows]), kind="stable")]
    else:
        rows = rows[match[rows]]
        label = groups.labels[ex.query[rows]]
        rows = rows[np.lexsort((-margin[rows], label, -np.bincount(groups.labels)[label]))]
    return rows[:limit], margin[rows[:limit]], match[rows[:limit]]


@pytest.mark.parametrize("limit", [5, 60, 100_000])
def test_the_review_queue_reads_only_the_rows_it_needs_and_gives_what_the_whole_table_does(ex, limit):
    from matcher.matching import FUSED

    channels = ex.channels[:2]
    rules = [ex.rule, UnionRule({channels[0]: 0.6, channels[1]: 0.7, FUSED: 0.65},
                                weights={channels[0]: 0.4, channels[1]: 0.6}, rescue=0.5, mutual=True)]
    for rule in rules:
        applied = ex.apply(rule)
        for groups in (None, ex.groups(applied)):
            queue = ex.review_queue(applied, groups=groups, limit=limit)
            rows, margin, match = whole_table_queue(ex, applied, groups, limit)
            np.testing.assert_array_equal(queue["a"], ex.query[rows])
            np.testing.assert_array_equal(queue["b"], ex.candidate[rows])
            np.testing.assert_array_equal(queue["margin"], margin)
            np.testing.assert_array_equal(queue["match"], match)


def test_a_pairs_margin_is_its_better_direction_and_nan_for_a_pair_the_table_lacks(ex):
    applied = ex.apply(ex.rule)
    margin = applied.rule.margin(ex.table, applied.fused)
    for row in np.random.default_rng(0).choice(len(ex.table), 40, replace=False):
        a, b = int(ex.query[row]), int(ex.candidate[row])
        back = np.flatnonzero((ex.query == b) & (ex.candidate == a))
        expected = max(margin[row], *margin[back])
        assert ex.pair_margin(applied, a, b) == pytest.approx(expected) == ex.pair_margin(applied, b, a)
    listed = set(zip(ex.query.tolist(), ex.candidate.tolist()))
    a, b = next((0, j) for j in range(1, len(ex)) if (0, j) not in listed and (j, 0) not in listed)
    assert np.isnan(ex.pair_margin(applied, a, b))
