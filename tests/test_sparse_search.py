import numpy as np
import pytest
import scipy.sparse as sp

from matcher.demo import plan_demo
from matcher.index import drop_self, exact_search
from matcher.sparse_search import affordable_terms, row_dots, sparse_self_knn, sparse_top_k
from matcher.text import create_channel

K = 6


@pytest.fixture(scope="module")
def char_rows():
    """Character n-gram TF-IDF of demo titles: a few very common n-grams, many rare ones, as in real catalogues."""
    titles = plan_demo(800, seed=3)["title"]
    return create_channel("tfidf_char").fit(titles).transform(titles).tocsr()


def full_flops(rows) -> float:
    return float((np.bincount(rows.indices, minlength=rows.shape[1]).astype(np.float64) ** 2).sum())


def test_sparse_top_k_is_exact(char_rows):
    ids, sims = sparse_top_k(char_rows[:50], char_rows, K, rows_per_chunk=16)
    truth_ids, truth_sims = exact_search(char_rows[:50], char_rows, K)
    np.testing.assert_allclose(np.nan_to_num(sims), truth_sims, atol=1e-6)  # NaN: no shared term
    found = ids >= 0
    np.testing.assert_allclose(row_dots(char_rows, np.nonzero(found)[0], ids[found]), sims[found], atol=1e-6)


def test_rows_sharing_fewer_terms_than_k_are_padded():
    rows = sp.csr_matrix(np.array([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 1]], np.float32))
    ids, sims = sparse_top_k(rows, rows, 3)
    assert ids.tolist() == [[0, 1, -1], [1, 0, -1], [2, -1, -1]]
    assert np.isnan(sims[2, 1:]).all()


def test_within_its_budget_the_self_join_is_exact(char_rows):
    ids, sims = sparse_self_knn(char_rows, K + 1, flops_per_row=full_flops(char_rows) / char_rows.shape[0])
    truth_ids, truth_sims = exact_search(char_rows, char_rows, K + 1)
    np.testing.assert_allclose(np.nan_to_num(sims), truth_sims, atol=1e-6)  # NaN: no shared term


def test_affordable_terms_leave_out_the_commonest_within_the_budget():
    df = np.array([5, 100, 1, 40, 7])
    searched = affordable_terms(df, budget=5 ** 2 + 1 + 7 ** 2 + 40 ** 2)
    assert searched.tolist() == [True, False, True, True, True]
    assert not affordable_terms(df, budget=0).any()


def test_beyond_its_budget_the_search_is_pruned_but_scored_exactly(char_rows):
    n = char_rows.shape[0]
    budget = full_flops(char_rows) / n / 20
    df = np.bincount(char_rows.indices, minlength=char_rows.shape[1])
    assert (~affordable_terms(df, budget * n)).sum() > 10  # the commonest n-grams leave the candidate search
    ids, sims = sparse_self_knn(char_rows, K + 1, flops_per_row=budget)
    ids, sims = drop_self(ids, sims, K, self_ids=np.arange(n))
    truth_ids, truth_sims = drop_self(*exact_search(char_rows, char_rows, K + 1), K)
    found = ids >= 0
    np.testing.assert_allclose(sims[found], row_dots(char_rows, np.nonzero(found)[0], ids[found]), atol=1e-6)
    assert (np.diff(np.nan_to_num(sims, nan=-1), axis=1) <= 1e-6).all()
    close = truth_sims >= 0.5
    hits = [np.isin(t[c], i).sum() for t, c, i in zip(truth_ids, close, ids)]
    assert sum(hits) / close.sum() > 0.95


def test_a_row_made_of_common_terms_only_is_searched_exactly(char_rows):
    df = np.bincount(char_rows.indices, minlength=char_rows.shape[1])
    commonest = np.argsort(-df)[:30]
    common = sp.csr_matrix((np.full(30, 1 / np.sqrt(30), np.float32), commonest, [0, 30]), shape=(1, char_rows.shape[1]))
    rows = sp.vstack([char_rows, common, common]).tocsr()
    budget = full_flops(char_rows) / char_rows.shape[0] / 20
    ids, sims = sparse_self_knn(rows, K + 1, flops_per_row=budget)
    truth_ids, truth_sims = exact_search(rows[-2:], rows, K + 1)
    np.testing.assert_allclose(np.nan_to_num(sims[-2:]), truth_sims, atol=1e-6)
