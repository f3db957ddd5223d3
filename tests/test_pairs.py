"""Pair features and the learned pair scorer, on small constructed neighbour tables."""
import numpy as np
import pandas as pd
import pytest

from matcher.pairs import TitleSets, pair_features, reverse_rows
from matcher.scorer import PairScorer, both_ways
from matcher.text.preprocess import quantities


def test_quantities_are_compared_in_base_units():
    assert quantities("Susu UHT 1 L isi 2 pcs") == {("volume", 1000.0), ("count", 2.0)}
    assert quantities("susu uht 1000ml") == {("volume", 1000.0)}
    assert quantities("Beras 1,5 Kg") == {("mass", 1500.0)}
    assert quantities("Kabel data 3 in 1") == set()  # a kind of product, not three inches
    assert quantities("Kaos polos hitam") == set()


def test_title_features_see_shared_words_and_conflicting_amounts():
    titles = ["Botol minum 200ml biru", "Botol minum 400 ml biru", "botol minum 0.2 L", "Kaos polos"]
    query, candidate = np.array([0, 0, 0]), np.array([1, 2, 3])
    f = TitleSets(titles).features(query, candidate)
    assert f["amounts_conflict"].tolist() == [1.0, 0.0, 0.0]  # 200 ml vs 400 ml; 200 ml is 0.2 l; no amount
    assert f["amounts_shared"].tolist() == [0.0, 1.0, 0.0]
    assert f["title_jaccard"][0] == pytest.approx(3 / 5)  # botol, minum, biru of 5 distinct words
    assert f["title_jaccard"][2] == 0.0


def test_rank_gap_and_density_are_per_query():
    table = pd.DataFrame({"query": [0, 0, 0, 1, 1], "candidate": [1, 2, 3, 0, 2],
                          "sim_a": np.array([0.5, 0.9, np.nan, 0.5, 0.7], np.float16)})
    f = pair_features(table)
    assert f["sim_a_rank"].tolist()[:2] == [1, 0] and np.isnan(f["sim_a_rank"][2])
    assert f["sim_a_gap"].tolist()[:2] == pytest.approx([0.4, 0.0], abs=1e-3)
    assert f["sim_a_density"][0] == pytest.approx(0.7, abs=1e-3)  # mean of query 0's 0.9 and 0.5
    assert f["sim_a_density_candidate"][3] == pytest.approx(0.7, abs=1e-3)  # candidate 0's neighbourhood
    assert f["sim_a_rank_back"][0] == 1 and f["sim_a_rank_back"][3] == 1  # (1, 0) is 1's second; (0, 1) 0's
    assert np.isnan(f["sim_a_rank_back"][1])  # (2, 0) is not in the table


def conflict_catalogue(seed=0, products=60):
    """Products in pairs of sizes: listings of one product share size; the other size is close in text only."""
    rng = np.random.default_rng(seed)
    titles, labels = [], []
    for p in range(products):
        size = 100 * (1 + p % 2)
        for _ in range(2):
            titles.append(f"produk {p // 2} botol {size}ml")
            labels.append(f"g{p}")
    n = len(titles)
    query, candidate, sims = [], [], []
    for i in range(n):
        for j in range(n):
            if i != j and (i // 4 == j // 4):  # the same base product, both sizes
                query.append(i)
                candidate.append(j)
                sims.append(rng.uniform(0.8, 0.95))
    table = pd.DataFrame({"query": query, "candidate": candidate, "sim_text": np.array(sims, np.float16)})
    return table, titles, np.array(labels)


def test_the_scorer_learns_what_a_threshold_cannot():
    table, titles, labels = conflict_catalogue()
    same = labels[table["query"]] == labels[table["candidate"]]
    scorer = PairScorer(max_iter=50, negatives=1.0)
    oof = scorer.fit_out_of_fold(table, titles, labels)
    # Text similarity alone is noise here; the amounts decide, also for groups the fold model never saw.
    assert oof[same].min() > 0.9 and oof[~same].max() < 0.1
    fresh_table, fresh_titles, fresh_labels = conflict_catalogue(seed=1)
    scores = scorer.transform(fresh_table, fresh_titles)
    fresh_same = fresh_labels[fresh_table["query"]] == fresh_labels[fresh_table["candidate"]]
    assert ((scores > 0.5) == fresh_same).all()


def test_scorer_save_load_round_trip(tmp_path):
    table, titles, labels = conflict_catalogue()
    scorer = PairScorer(max_iter=20).fit(table, titles, labels)
    loaded = PairScorer.load(scorer.save(tmp_path / "scorer"))
    assert loaded.get_params() == scorer.get_params()
    np.testing.assert_array_equal(loaded.transform(table, titles), scorer.transform(table, titles))


def test_the_scorer_scores_a_table_in_pieces_as_it_scores_it_whole():
    table, titles, labels = conflict_catalogue()
    scorer = PairScorer(max_iter=20).fit(table, titles, labels)
    np.testing.assert_array_equal(scorer.transform(table, titles, rows_per_piece=7), scorer.transform(table, titles))


def test_a_pair_scores_the_same_both_ways_where_the_table_holds_both():
    table = pd.DataFrame({"query": [0, 0, 1, 2], "candidate": [1, 2, 0, 0]})
    scores = both_ways(table, np.array([0.2, 0.9, 0.6, 0.5], np.float32))
    # (0,1) and (1,0) meet at their mean; (0,2) and (2,0) too; nothing else moves.
    np.testing.assert_allclose(scores, [0.4, 0.7, 0.4, 0.7])
    lone = both_ways(table.iloc[:2], np.array([0.2, 0.9], np.float32))
    np.testing.assert_allclose(lone, [0.2, 0.9])


def test_too_few_labelled_pairs_for_a_fold_is_a_clear_error():
    table, titles, labels = conflict_catalogue()
    same = labels[table["query"]] == labels[table["candidate"]]
    only_matches = table[same].reset_index(drop=True)
    with pytest.raises(ValueError, match="too few labelled pairs to train the pair scorer"):
        PairScorer(max_iter=5).fit_out_of_fold(only_matches, titles, labels)


def test_reverse_rows_finds_each_pairs_other_direction():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n = int(rng.integers(1, 25))
        query, candidate = rng.integers(0, n, (2, int(rng.integers(0, 120)))).astype(np.int32)
        first = {}
        for row, pair in enumerate(zip(query.tolist(), candidate.tolist())):
            first.setdefault(pair, row)
        expected = [first.get((c, q), -1) for q, c in zip(query.tolist(), candidate.tolist())]
        assert reverse_rows(query, candidate, n).tolist() == expected
