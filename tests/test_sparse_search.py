import numpy as np
import pytest
import scipy.sparse as sp

from matcher.demo import plan_demo
from matcher.index import drop_self, exact_search
import matcher.sparse_search as sparse_search
from matcher.sparse_search import PREFIX_NORM, indexed_part, join_path, row_dots, sketch, sparse_self_knn, sparse_top_k
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


def test_beyond_its_budget_each_row_indexes_all_but_its_commonest_terms():
    rows = sp.csr_matrix(np.array([[0.3, 0.1, 0.9, 0.3],  # document frequencies: 5, 2, 4, 3
                                   [0.6, 0, 0, 0.8],
                                   [0, 0, 1, 0],
                                   [1, 0, 0, 0],
                                   [0.6, 0, 0.8, 0],
                                   [0.2, np.sqrt(0.88), 0.2, 0.2]], np.float32))
    indexed = indexed_part(rows, flops_per_row=0).toarray()
    assert PREFIX_NORM ** 2 == pytest.approx(0.16)
    assert indexed[0] == pytest.approx([0, 0.1, 0.9, 0.3])  # the commonest term, 0.09 of the squared weight
    assert indexed[5] == pytest.approx([0, np.sqrt(0.88), 0, 0])  # three common terms, 0.12 together
    np.testing.assert_array_equal(indexed[1:5], rows.toarray()[1:5])  # the commonest term alone is 0.16 or more
    assert indexed_part(rows, flops_per_row=10 ** 6) is rows  # within the budget: exact


def test_beyond_its_budget_the_search_is_filtered_but_scored_exactly(char_rows):
    n = char_rows.shape[0]
    budget = full_flops(char_rows) / n / 20
    assert indexed_part(char_rows, budget).nnz < 0.8 * char_rows.nnz  # the commonest n-grams leave the index
    ids, sims = sparse_self_knn(char_rows, K + 1, flops_per_row=budget)
    ids, sims = drop_self(ids, sims, K, self_ids=np.arange(n))
    truth_ids, truth_sims = drop_self(*exact_search(char_rows, char_rows, K + 1), K)
    found = ids >= 0
    np.testing.assert_allclose(sims[found], row_dots(char_rows, np.nonzero(found)[0], ids[found]), atol=1e-6)
    assert (np.diff(np.nan_to_num(sims, nan=-1), axis=1) <= 1e-6).all()
    close = truth_sims >= PREFIX_NORM  # each shares an indexed term with its query
    hits = [np.isin(t[c], i).sum() for t, c, i in zip(truth_ids, close, ids)]
    assert sum(hits) / close.sum() > 0.99


def test_listings_made_of_common_terms_only_find_each_other(char_rows):
    df = np.bincount(char_rows.indices, minlength=char_rows.shape[1])
    commonest = np.argsort(-df)[:30]
    variants = [commonest] + [np.delete(commonest, drop) for drop in (0, 10, 20)]
    common = sp.vstack([sp.csr_matrix((np.full(len(v), 1 / np.sqrt(len(v)), np.float32), v, [0, len(v)]),
                                      shape=(1, char_rows.shape[1])) for v in variants])
    rows = sp.vstack([char_rows, common]).tocsr()
    budget = full_flops(char_rows) / char_rows.shape[0] / 20
    ids, sims = sparse_self_knn(rows, K + 1, flops_per_row=budget)
    truth_ids, truth_sims = exact_search(rows[-4:], rows, K + 1)
    close = truth_sims >= PREFIX_NORM
    assert close.sum(axis=1).min() >= 4  # each other, at cosine 0.98 or more
    for found_sims, truth_sim, near in zip(sims[-4:], truth_sims, close):
        np.testing.assert_allclose(found_sims[:near.sum()], truth_sim[near], atol=1e-6)


def test_a_sketch_keeps_the_rows_products(char_rows):
    sketched = sketch(char_rows, dims=512)
    assert sketched.shape == (char_rows.shape[0], 512)
    has_terms = np.diff(char_rows.indptr) > 0  # a demo listing without a title has none
    np.testing.assert_allclose(np.linalg.norm(sketched, axis=1), has_terms, atol=1e-5)
    exact = (char_rows[:100] @ char_rows.T).toarray()
    error = (sketched[:100] @ sketched.T - exact)[has_terms[:100]][:, has_terms]
    assert abs(error.mean()) < 0.02  # unbiased, but for the renormalising
    assert error.std() < 2 / np.sqrt(512)
    np.testing.assert_array_equal(sketch(char_rows, dims=512), sketched)  # the same hashes every time


def test_a_join_beyond_its_budget_is_sketched_beyond_the_cutoff_and_an_affordable_one_stays_exact(char_rows, monkeypatch):
    n = char_rows.shape[0]
    budget = full_flops(char_rows) / n / 20
    assert join_path(char_rows, K + 1, budget) == "filtered"
    monkeypatch.setattr(sparse_search, "SKETCH_CUTOFF", n - 1)
    assert join_path(char_rows, K + 1, budget) == "sketched"
    assert join_path(char_rows, K + 1) == "exact"  # within the default budget, however many rows
    assert join_path(char_rows, n, budget) == "filtered"  # the sketch's candidates would be every row


def test_beyond_the_sketch_cutoff_the_search_is_approximate_but_scored_exactly(char_rows, monkeypatch):
    """Two sketches' candidates pooled, each listing once, then rescored on every term."""
    graphs = []
    monkeypatch.setattr(sparse_search, "SKETCH_CUTOFF", 500)
    monkeypatch.setattr(sparse_search, "knn_graph", lambda rows, k, seed, breadth, _graph=sparse_search.knn_graph:
                        graphs.append((rows.shape, k, seed, rows[:3].tobytes())) or _graph(rows, k, seed, breadth))
    n = char_rows.shape[0]
    budget = full_flops(char_rows) / n / 20
    ids, sims = sparse_self_knn(char_rows, K + 1, flops_per_row=budget)
    assert [graph[:2] for graph in graphs] == [((n, sparse_search.SKETCH_DIMS), sparse_search.SKETCH_CANDIDATES * (K + 1))] * 2
    assert len({graph[2:] for graph in graphs}) == 2  # two independent sketches, each searched with its own seed
    has_terms = np.diff(char_rows.indptr) > 0
    assert (ids[has_terms, 0] == np.flatnonzero(has_terms)).all()
    assert (ids[~has_terms] == -1).all()  # a listing without a title shares no term with any
    found = ids >= 0
    np.testing.assert_allclose(sims[found], row_dots(char_rows, np.nonzero(found)[0], ids[found]), atol=1e-6)
    assert (np.diff(np.nan_to_num(sims, nan=-1), axis=1) <= 1e-6).all()
    truth_ids, truth_sims = exact_search(char_rows, char_rows, K + 1)
    assert np.mean([np.isin(t, i).mean() for t, i in zip(truth_ids, ids)]) > 0.95
    close = truth_sims >= 0.5
    assert sum(np.isin(t[c], i).sum() for t, c, i in zip(truth_ids, close, ids)) / close.sum() > 0.99
    again, _ = sparse_self_knn(char_rows, K + 1, flops_per_row=budget)
    np.testing.assert_array_equal(again, ids)


def test_pooled_sketch_candidates_name_each_row_once(char_rows, monkeypatch):
    monkeypatch.setattr(sparse_search, "knn_graph", lambda rows, k, seed, breadth: (
        np.array([[0, 1, 2], [1, 0, -1]]) if seed == 100 else np.array([[0, 2, 3], [1, 1, 0]]), None))
    pooled = sparse_search.sketched_candidates(char_rows[:2], 3)
    assert [sorted(set(row[row >= 0])) for row in pooled] == [[0, 1, 2, 3], [0, 1]]
    assert [(row >= 0).sum() for row in pooled] == [4, 2]  # no row twice: it would take two of the k places
