"""The all-items neighbour table: every listing's candidates, with every channel's similarity.

Candidates are the union of each channel's top-k neighbours (and of close
pHashes), made symmetric; every row then carries every channel's cosine
similarity, computed directly where that channel did not retrieve the pair,
and empty (NaN) only where a title or photo is missing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from matcher.index import HnswIndex, drop_self, exact_search

PHASH_CHANNEL = "phash"


def sim_column(channel: str) -> str:
    return f"sim_{channel}"


def channel_knn(vectors, present: np.ndarray, k: int, index: HnswIndex | None = None):
    """Each listing's k nearest other listings in one channel, as (ids, sims) of shape (n, k).

    Only listings with evidence in the channel are searched and returned;
    the others get -1 ids. Dense channels search `index`, sparse ones exactly.
    """
    n = vectors.shape[0]
    ids = np.full((n, k), -1, np.int64)
    sims = np.full((n, k), np.nan, np.float32)
    rows = np.flatnonzero(present)
    if len(rows) < 2:
        return ids, sims
    subset = vectors[rows]
    if index is None:
        found, found_sims = exact_search(subset, subset, k + 1)
        found = np.where(found >= 0, rows[np.maximum(found, 0)], -1)
    else:
        found, found_sims = index.search(subset, k + 1)
    ids[rows], sims[rows] = drop_self(found, found_sims, k, self_ids=rows)
    return ids, sims


def pair_similarity(vectors, present: np.ndarray, query: np.ndarray, candidate: np.ndarray,
                    chunk: int = 1024) -> np.ndarray:
    """Cosine similarity of each (query, candidate) pair of unit rows; NaN where either lacks evidence.

    Pairs must be sorted by query. Sparse rows are compared through chunked
    matrix products, far faster than gathering each pair's two rows.
    """
    out = np.full(len(query), np.nan, np.float32)
    bounds = np.searchsorted(query, np.arange(0, vectors.shape[0] + chunk, chunk))
    for start, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        if lo == hi:
            continue
        q, c = query[lo:hi], candidate[lo:hi]
        block = vectors[start * chunk:(start + 1) * chunk]
        if sp.issparse(block):
            sims = (block @ vectors[np.unique(c)].T).toarray()
            out[lo:hi] = sims[q - start * chunk, np.searchsorted(np.unique(c), c)]
        else:
            out[lo:hi] = np.einsum("ij,ij->i", vectors[q], vectors[c])
    out[~(present[query] & present[candidate])] = np.nan
    return out


def phash_bits(hashes) -> tuple[np.ndarray, np.ndarray]:
    """64-bit integers from 16-hex-digit pHash strings, and which listings have one."""
    hashes = np.asarray(hashes, dtype=object)
    present = np.array([len(h) == 16 for h in hashes], dtype=bool)
    bits = np.zeros(len(hashes), dtype=np.uint64)
    bits[present] = [int(h, 16) for h in hashes[present]]
    return bits, present


def phash_knn(bits: np.ndarray, present: np.ndarray, k: int, radius: int, chunk: int = 1024):
    """Each listing's up to k nearest other pHashes within `radius` bits, as (ids, sims) like channel_knn."""
    n = len(bits)
    ids = np.full((n, k), -1, np.int64)
    sims = np.full((n, k), np.nan, np.float32)
    rows = np.flatnonzero(present)
    base = bits[rows]
    for start in range(0, len(rows), chunk):
        block_rows = rows[start:start + chunk]
        dist = np.bitwise_count(base[None, :] ^ bits[block_rows][:, None]).astype(np.int16)
        dist[np.arange(len(block_rows)), np.arange(start, start + len(block_rows))] = 999
        kk = min(k, len(rows) - 1)
        if kk <= 0:
            break
        top = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
        top_dist = np.take_along_axis(dist, top, axis=1)
        order = np.argsort(top_dist, axis=1, kind="stable")
        top, top_dist = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_dist, order, axis=1)
        close = top_dist <= radius
        ids[block_rows, :kk] = np.where(close, rows[top], -1)
        sims[block_rows, :kk] = np.where(close, 1.0 - top_dist / 64.0, np.nan)
    return ids, sims


def phash_similarity(bits, present, query, candidate) -> np.ndarray:
    """1 - Hamming distance / 64 for each pair; NaN where either listing has no pHash."""
    out = np.full(len(query), np.nan, np.float32)
    both = present[query] & present[candidate]
    dist = np.bitwise_count(bits[query[both]] ^ bits[candidate[both]])
    out[both] = 1.0 - dist / 64.0
    return out


def candidate_pairs(knn_ids: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric union of every channel's neighbour lists, sorted by (query, candidate)."""
    n = knn_ids[0].shape[0] if knn_ids else 0
    parts = []
    for ids in knn_ids:
        q = np.repeat(np.arange(n, dtype=np.int64), ids.shape[1])
        c = ids.ravel()
        keep = c >= 0
        parts.append(np.stack([q[keep], c[keep]]))
        parts.append(np.stack([c[keep], q[keep]]))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = np.concatenate(parts, axis=1)
    keys = np.unique(pairs[0] * n + pairs[1])
    return keys // n, keys % n


def neighbour_table(query: np.ndarray, candidate: np.ndarray, similarities: dict[str, np.ndarray]) -> pd.DataFrame:
    """The stored form: int32 positions and float16 similarities (compact; 0.001 resolution near 1)."""
    table = pd.DataFrame({"query": query.astype(np.int32), "candidate": candidate.astype(np.int32)})
    for channel, sims in similarities.items():
        table[sim_column(channel)] = sims.astype(np.float16)
    return table


def build_neighbour_table(encoded, k: int, hnsw_params: dict, phash_radius: int):
    """The whole table for one encoded catalogue, and the HNSW index of each dense channel."""
    empty = neighbour_table(np.zeros(0, np.int64), np.zeros(0, np.int64), {})
    table, indexes = add_channels(empty, encoded, list(encoded.vectors), k, hnsw_params)
    if encoded.phash is not None:
        table = _with_pairs(table, encoded, [phash_knn(encoded.phash, encoded.phash_present, k, phash_radius)[0]])
    return table, indexes


def add_channels(table: pd.DataFrame, encoded, names, k: int, hnsw_params: dict):
    """`table` with channels `names` of `encoded` added, and the HNSW index of each added dense channel.

    Their top-k candidates join the table with every channel's similarity, and
    the rows already there get the added channels' similarity: the table's own
    channels are not searched again.
    """
    knn_ids, indexes = [], {}
    for name in names:
        vectors, present = encoded.vectors[name], encoded.present[name]
        index = None
        if not sp.issparse(vectors) and present.sum() > 1:
            index = HnswIndex(**hnsw_params).fit(vectors[present], ids=np.flatnonzero(present))
            indexes[name] = index
        knn_ids.append(channel_knn(vectors, present, k, index)[0])
        table[sim_column(name)] = pair_similarity(vectors, present, table["query"].to_numpy(np.int64),
                                                  table["candidate"].to_numpy(np.int64)).astype(np.float16)
    return _with_pairs(table, encoded, knn_ids), indexes


def _with_pairs(table: pd.DataFrame, encoded, knn_ids: list[np.ndarray]) -> pd.DataFrame:
    """`table` plus the candidate pairs of `knn_ids` it lacks, with every channel's similarity, sorted."""
    if not knn_ids:
        return table
    n = knn_ids[0].shape[0]
    query, candidate = candidate_pairs(knn_ids)
    new = ~np.isin(query * n + candidate, table["query"].to_numpy(np.int64) * n + table["candidate"].to_numpy())
    query, candidate = query[new], candidate[new]
    sims = {name: pair_similarity(vectors, encoded.present[name], query, candidate)
            for name, vectors in encoded.vectors.items()}
    if encoded.phash is not None:
        sims[PHASH_CHANNEL] = phash_similarity(encoded.phash, encoded.phash_present, query, candidate)
    joined = pd.concat([table, neighbour_table(query, candidate, sims)], ignore_index=True)
    return joined.sort_values(["query", "candidate"], ignore_index=True)
