import numpy as np
import pytest
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp

from matcher.encode import Encoded
from matcher.index import ExactIndex, HnswIndex, exact_search, knn_graph
import matcher.neighbours as neighbours
from matcher.neighbours import (Neighbours, add_channels, build_neighbour_table, channel_knn, find_neighbours,
                                pair_similarity, phash_bits, phash_knn, phash_similarity, table_chunks, whole_table,
                                write_neighbour_table)


def unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_hnsw_agrees_with_exact_search():
    x = unit_rows(400, 24)
    exact_ids, exact_sims = exact_search(x, x, 10)
    ids, sims = HnswIndex(threads=1).fit(x).search(x, 10)
    assert (ids == exact_ids).mean() > 0.99
    np.testing.assert_allclose(sims, exact_sims, atol=1e-5)


def test_the_neighbour_graph_agrees_with_exact_search_and_is_reproducible():
    x = unit_rows(600, 12)
    ids, sims = knn_graph(x, 11)
    exact_ids, _ = exact_search(x, x, 11)
    assert np.mean([len(np.intersect1d(a, b)) for a, b in zip(ids, exact_ids)]) / 11 > 0.95
    assert (ids[:, 0] == np.arange(600)).all()  # each row its own nearest, as exact_search has it
    np.testing.assert_allclose(sims, np.einsum("ij,ij->i", x[np.repeat(np.arange(600), 11)], x[ids.ravel()])
                               .reshape(600, 11), atol=1e-5)  # cosine similarities, best first
    assert (np.diff(sims, axis=1) <= 1e-6).all()
    again = knn_graph(x, 11)
    np.testing.assert_array_equal(again[0], ids)


def test_hnsw_save_load(tmp_path):
    x = unit_rows(100, 8)
    index = HnswIndex(threads=1).fit(x)
    index.save(tmp_path / "i.hnsw")
    loaded = HnswIndex.load(tmp_path / "i.hnsw", dim=8, threads=1)
    assert (loaded.search(x, 5)[0] == index.search(x, 5)[0]).all()


def test_an_exact_index_answers_new_queries_by_label_and_loads_memory_mapped(tmp_path):
    x = unit_rows(100, 8)
    present = np.ones(100, bool)
    present[[3, 7]] = False
    index = ExactIndex().fit(x[present], ids=np.flatnonzero(present))
    queries = unit_rows(6, 8, seed=1)
    ids, sims = index.search(queries, 5)
    expected_ids, expected_sims = exact_search(queries, x[present], 5)
    np.testing.assert_array_equal(ids, np.flatnonzero(present)[expected_ids])  # labels, not positions
    np.testing.assert_allclose(sims, expected_sims, atol=1e-6)
    assert index.search(x[[10]], 1)[0][0, 0] == 10 and not np.isin(ids, [3, 7]).any()
    padded = index.search(queries, 120)[0]
    assert (padded[:, :98] >= 0).all() and (padded[:, 98:] == -1).all()  # a short result is padded
    assert not ExactIndex.exists(tmp_path, "photos")
    index.save(tmp_path, "photos")
    loaded = ExactIndex.load(tmp_path, "photos")
    assert ExactIndex.exists(tmp_path, "photos") and isinstance(loaded.vectors_, np.memmap)
    np.testing.assert_array_equal(loaded.search(queries, 5)[0], ids)


def test_knn_excludes_self_and_listings_without_evidence():
    x = unit_rows(50, 8)
    present = np.ones(50, bool)
    present[[3, 7]] = False
    ids, sims = channel_knn(x, present, 5)
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


def test_candidates_are_the_symmetric_union_of_every_channels_lists():
    a = np.array([[1, -1], [2, 0], [0, -1]])
    b = np.array([[-1, -1], [-1, -1], [1, -1]])
    encoded = Encoded(vectors={"a": unit_rows(3, 4), "b": unit_rows(3, 4, seed=1)},
                      present={"a": np.ones(3, bool), "b": np.ones(3, bool)})
    table = whole_table(encoded, Neighbours({"a": a, "b": b}))
    assert set(zip(table["query"], table["candidate"])) == {(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0)}
    assert table[["query", "candidate"]].equals(table[["query", "candidate"]].sort_values(["query", "candidate"]))


def encoded_catalogue(n=300, seed=0):
    rng = np.random.default_rng(seed)
    raw = np.abs(unit_rows(n, 40, seed=seed + 2)) * (rng.random((n, 40)) < 0.3)
    sparse = sp.csr_matrix(raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9))
    bits = rng.integers(0, 2**63, n).astype(np.uint64)
    bits[:20] = bits[0] ^ np.arange(20, dtype=np.uint64)  # close hashes
    return Encoded(vectors={"dense": unit_rows(n, 8, seed=seed), "sparse": sparse},
                   present={"dense": np.r_[np.ones(n - 5, bool), np.zeros(5, bool)], "sparse": np.ones(n, bool)},
                   phash=bits, phash_present=np.ones(n, bool))


def test_the_table_in_pieces_equals_the_whole_table_and_streams_to_parquet(tmp_path):
    encoded = encoded_catalogue()
    found = find_neighbours(encoded, ["dense", "sparse"], 6, phash_radius=4)
    whole = whole_table(encoded, found)
    pieces = list(table_chunks(encoded, found, rows_per_chunk=500))
    assert len(pieces) > 3 and all(len(piece) <= 500 + 6 * 4 for piece in pieces[:-1])
    pd.testing.assert_frame_equal(pd.concat(pieces, ignore_index=True), whole)
    assert write_neighbour_table(encoded, found, tmp_path / "t.parquet") == len(whole)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), whole)
    assert pq.ParquetFile(tmp_path / "t.parquet").metadata.num_row_groups >= 1


def test_phash_beyond_the_exact_cutoff_finds_the_close_hashes(monkeypatch):
    encoded = encoded_catalogue(n=400)
    exact_ids, exact_sims = phash_knn(encoded.phash, encoded.phash_present, 5, radius=6)
    monkeypatch.setattr(neighbours, "EXACT_CUTOFF", 100)
    ids, sims = phash_knn(encoded.phash, encoded.phash_present, 5, radius=6)
    assert ((exact_ids >= 0).sum(axis=1) == (ids >= 0).sum(axis=1)).all()
    np.testing.assert_allclose(np.sort(np.nan_to_num(sims), axis=1), np.sort(np.nan_to_num(exact_sims), axis=1))


def test_pair_similarity_is_nan_without_evidence():
    x = unit_rows(5, 4)
    present = np.array([True, True, False, True, True])
    q, c = np.array([0, 0, 1, 3]), np.array([1, 2, 4, 4])
    sims = pair_similarity(x, present, q, c)
    assert np.isnan(sims[1])
    np.testing.assert_allclose(sims[[0, 2, 3]], [x[0] @ x[1], x[1] @ x[4], x[3] @ x[4]], atol=1e-6)


def test_phash_neighbours_are_the_hashes_within_the_radius_by_hamming_distance():
    rng = np.random.default_rng(3)
    centres = rng.integers(0, 2**63, 20).astype(np.uint64)
    flips = np.zeros(300, np.uint64)
    for _ in range(4):  # each hash a few random bits away from one of 20 centres
        flips ^= np.uint64(1) << rng.integers(0, 64, 300).astype(np.uint64)
    bits = centres[rng.integers(0, 20, 300)] ^ flips
    present = rng.random(300) > 0.1
    ids, sims = phash_knn(bits, present, 8, radius=6)
    distance = np.bitwise_count(bits[:, None] ^ bits[None, :]).astype(int)
    for row in range(300):
        close = {c for c in np.flatnonzero(present & (distance[row] <= 6)) if c != row} if present[row] else set()
        found = ids[row][ids[row] >= 0]
        assert set(found) <= close and len(found) == min(len(close), 8)
        assert all(distance[row, found].max() <= distance[row, c] for c in close - set(found))  # the nearest kept
        np.testing.assert_allclose(sims[row][ids[row] >= 0], 1 - distance[row, found] / 64)


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
    at_once, _ = build_neighbour_table(whole, 5, phash_radius=0)
    first = Encoded(vectors={c: vectors[c] for c in ("dense", "sparse")}, present=present, phash=bits,
                    phash_present=np.ones(n, bool))
    _, found = build_neighbour_table(first, 5, phash_radius=0)
    added, grown = add_channels(found, whole, ["extra"], 5)
    assert list(grown.ids) == ["dense", "sparse", "phash", "extra"] and not grown.indexes
    pd.testing.assert_frame_equal(added[at_once.columns], at_once)
    assert str(added["sim_extra"].dtype) == "float16" and str(added["query"].dtype) == "int32"


def test_beyond_the_exact_cutoff_dense_channels_are_searched_by_neighbour_descent(monkeypatch):
    encoded = encoded_catalogue(n=400)
    exact = find_neighbours(encoded, ["dense"], 5)
    monkeypatch.setattr(neighbours, "EXACT_CUTOFF", 100)
    graphs = []
    monkeypatch.setattr(neighbours, "knn_graph", lambda rows, k, _graph=neighbours.knn_graph:
                        graphs.append(rows.shape) or _graph(rows, k))
    approximate = find_neighbours(encoded, ["dense"], 5)
    assert graphs == [(395, 8)] and not approximate.indexes  # the present rows only, and no index to keep
    assert (approximate.ids["dense"] == exact.ids["dense"]).mean() > 0.95
    assert (approximate.ids["dense"][-5:] == -1).all()  # listings without a title have no neighbours


def test_a_kept_channel_keeps_its_present_rows_and_is_searched_like_any_other(monkeypatch):
    encoded = encoded_catalogue(n=400)
    exact = find_neighbours(encoded, ["dense"], 5)
    monkeypatch.setattr(neighbours, "EXACT_CUTOFF", 100)
    graphs = []
    monkeypatch.setattr(neighbours, "knn_graph", lambda rows, k, _graph=neighbours.knn_graph:
                        graphs.append(rows.shape) or _graph(rows, k))
    kept = find_neighbours(encoded, ["dense", "sparse"], 5, keep_indexes=["dense", "sparse"])
    assert graphs == [(395, 8)] and list(kept.indexes) == ["dense"]  # a sparse channel has no rows to keep
    index = kept.indexes["dense"]
    np.testing.assert_array_equal(index.ids_, np.arange(395))  # the 5 listings without a title are left out
    np.testing.assert_array_equal(index.vectors_, encoded.vectors["dense"][:395])
    assert (kept.ids["dense"] == exact.ids["dense"]).mean() > 0.95


def test_pair_similarity_in_runs_of_one_query_matches_row_products():
    x = unit_rows(300, 16)
    rng = np.random.default_rng(3)
    query = np.repeat(np.arange(300), 40)  # the table's order: long runs of one query
    candidate = rng.integers(0, 300, len(query))
    present = rng.random(300) > 0.1
    sims = pair_similarity(x, present, query, candidate, batch=1000)  # runs cut by batch edges too
    expected = np.where(present[query] & present[candidate], np.einsum("ij,ij->i", x[query], x[candidate]), np.nan)
    np.testing.assert_allclose(sims, expected, atol=1e-6)


def test_the_combined_channel_is_derived_exactly_from_its_channels():
    from matcher.strategies import Fusion
    n = 60
    encoded = encoded_catalogue(n=n)
    encoded.vectors["image"] = unit_rows(n, 6, seed=5)
    encoded.present["image"] = np.arange(n) % 7 != 0  # some listings without a photo
    encoded.present["dense"] = np.arange(n) % 5 != 0  # ...some without a title; listing 0 has neither
    Fusion({"dense": 0.7, "image": 0.3}).extend(encoded)
    assert encoded.mixtures == {"combined": {"dense": 0.7, "image": 0.3}}
    query, candidate = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
    derived = neighbours.similarities(encoded, query, candidate)["combined"]
    gathered = pair_similarity(encoded.vectors["combined"], encoded.present["combined"], query, candidate)
    np.testing.assert_allclose(derived, gathered, atol=1e-6)
    assert np.isnan(derived[query == 0]).all() and not np.isnan(derived[(query == 5) & (candidate == 7)]).any()
