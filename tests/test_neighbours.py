import numpy as np
import pandas as pd
import scipy.sparse as sp

from matcher.encode import Encoded
from matcher.index import HnswIndex, exact_search
from matcher.neighbours import (add_channels, build_neighbour_table, candidate_pairs, channel_knn, pair_similarity,
                                phash_bits, phash_knn, phash_similarity)


def unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_hnsw_agrees_with_exact_search():
    x = unit_rows(400, 24)
    exact_ids, exact_sims = exact_search(x, x, 10)
    ids, sims = HnswIndex(threads=1).fit(x).search(x, 10)
    assert (ids == exact_ids).mean() > 0.99
    np.testing.assert_allclose(sims, exact_sims, atol=1e-5)


def test_hnsw_save_load(tmp_path):
    x = unit_rows(100, 8)
    index = HnswIndex(threads=1).fit(x)
    index.save(tmp_path / "i.hnsw")
    loaded = HnswIndex.load(tmp_path / "i.hnsw", dim=8, threads=1)
    assert (loaded.search(x, 5)[0] == index.search(x, 5)[0]).all()


def test_knn_excludes_self_and_listings_without_evidence():
    x = unit_rows(50, 8)
    present = np.ones(50, bool)
    present[[3, 7]] = False
    for index in (None, HnswIndex(threads=1).fit(x[present], ids=np.flatnonzero(present))):
        ids, sims = channel_knn(x, present, 5, index)
        assert (ids[[3, 7]] == -1).all()
        assert not (ids == np.arange(50)[:, None]).any()
        assert not np.isin(ids, [3, 7]).any()
        assert (np.diff(sims[present], axis=1) <= 1e-6).all()


def test_sparse_and_dense_knn_agree():
    x = unit_rows(60, 10)
    present = np.ones(60, bool)
    dense_ids, _ = channel_knn(x, present, 4)
    sparse_ids, _ = channel_knn(sp.csr_matrix(x), present, 4)
    assert (dense_ids == sparse_ids).all()


def test_candidates_are_symmetric_union():
    a = np.array([[1, -1], [2, 0], [0, -1]])
    b = np.array([[-1, -1], [-1, -1], [1, -1]])
    q, c = candidate_pairs([a, b])
    pairs = set(zip(q.tolist(), c.tolist()))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0)}


def test_pair_similarity_is_nan_without_evidence():
    x = unit_rows(5, 4)
    present = np.array([True, True, False, True, True])
    q, c = np.array([0, 0, 1, 3]), np.array([1, 2, 4, 4])
    sims = pair_similarity(x, present, q, c)
    assert np.isnan(sims[1])
    np.testing.assert_allclose(sims[[0, 2, 3]], [x[0] @ x[1], x[1] @ x[4], x[3] @ x[4]], atol=1e-6)


def test_phash_equal_and_close_hashes():
    bits, present = phash_bits(["ffffffffffffffff", "fffffffffffffffe", "0000000000000000", "", "ffffffffffffffff"])
    assert present.tolist() == [True, True, True, False, True]
    ids, sims = phash_knn(bits, present, 3, radius=4)
    assert set(ids[0][ids[0] >= 0]) == {1, 4} and (ids[3] == -1).all()
    sim = phash_similarity(bits, present, np.array([0, 0, 0, 0]), np.array([4, 1, 2, 3]))
    np.testing.assert_allclose(sim[:3], [1.0, 63 / 64, 0.0])
    assert np.isnan(sim[3])


def test_adding_channels_to_a_table_equals_building_it_with_them():
    rng = np.random.default_rng(5)
    n = 60
    dense = unit_rows(n, 8, seed=1)
    raw = np.abs(unit_rows(n, 30, seed=2)) * (rng.random((n, 30)) < 0.3)
    sparse = sp.csr_matrix(raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9))
    present = {"dense": np.r_[np.ones(n - 3, bool), np.zeros(3, bool)], "sparse": np.ones(n, bool),
               "extra": np.ones(n, bool)}
    vectors = {"dense": dense, "sparse": sparse, "extra": unit_rows(n, 5, seed=3)}
    bits = rng.integers(0, 2**63, n).astype(np.uint64)
    bits[:10] = bits[0]  # some equal hashes
    whole = Encoded(vectors=vectors, present=present, phash=bits, phash_present=np.ones(n, bool))
    params = {"M": 16, "ef_construction": 100, "ef_search": 100, "threads": 1}
    at_once, _ = build_neighbour_table(whole, 5, params, phash_radius=0)
    first = Encoded(vectors={c: vectors[c] for c in ("dense", "sparse")}, present=present, phash=bits,
                    phash_present=np.ones(n, bool))
    table, _ = build_neighbour_table(first, 5, params, phash_radius=0)
    added, indexes = add_channels(table, whole, ["extra"], 5, params)
    assert list(indexes) == ["extra"]
    pd.testing.assert_frame_equal(added[at_once.columns], at_once)
    assert str(added["sim_extra"].dtype) == "float16" and str(added["query"].dtype) == "int32"
