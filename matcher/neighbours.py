"""The all-items neighbour table: every listing's candidates, with every channel's similarity.

Candidates are the union of each channel's top-k neighbours (and of close
pHashes), made symmetric; every row then carries every channel's cosine
similarity, computed directly where that channel did not retrieve the pair,
and empty (NaN) only where a title or photo is missing.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from matcher.index import ExactIndex, drop_self, exact_search, knn_graph, relabel
from matcher.sparse_search import row_dots, sparse_self_knn

PHASH_CHANNEL = "phash"
# Up to this many listings a dense channel is searched exactly, every neighbour found; beyond, its neighbour
# graph is found by nearest-neighbour descent (matcher.index.knn_graph), whose cost grows more slowly. At 100k
# 384-d vectors shaped like real ones (bench/ann.py): exact 162 s; the graph 65 s, plus about 50 s to compile
# once per process, and 95% of the 50 nearest (all of those at cosine 0.5 or more).
EXACT_CUTOFF = 100_000


def sim_column(channel: str) -> str:
    return f"sim_{channel}"


def channel_knn(vectors, present: np.ndarray, k: int):
    """Each listing's k nearest other listings in one channel, as (ids, sims) of shape (n, k).

    Only listings with evidence in the channel are searched and returned; the
    others get -1 ids, as do places beyond a sparse row's last neighbour that
    shares a term. Dense rows are searched by `dense_self_knn`; sparse rows by
    matcher.sparse_search (exact within a budget of work per listing; beyond
    it prefix-filtered, or sketched in a large catalogue).
    """
    n = vectors.shape[0]
    ids = np.full((n, k), -1, np.int64)
    sims = np.full((n, k), np.nan, np.float32)
    rows = np.flatnonzero(present)
    if len(rows) < 2:
        return ids, sims
    subset = vectors[rows]
    found, found_sims = (sparse_self_knn if sp.issparse(subset) else dense_self_knn)(subset, k + 1)
    found = relabel(found, rows)
    ids[rows], sims[rows] = drop_self(found, found_sims, k, self_ids=rows)
    return ids, sims


def dense_self_knn(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest rows, itself among them: exactly up to EXACT_CUTOFF rows, by nearest-neighbour
    descent beyond (or where k reaches the row count, which the descent cannot serve)."""
    if len(rows) <= EXACT_CUTOFF or k >= len(rows):
        return exact_search(rows, rows, k)
    return knn_graph(rows, k)


def pair_similarity(vectors, present: np.ndarray, query: np.ndarray, candidate: np.ndarray,
                    batch: int = 65_536) -> np.ndarray:
    """Cosine similarity of each (query, candidate) pair of unit rows; NaN where either lacks evidence.

    Pairs go in batches, so memory stays bounded however many there are.
    """
    if sp.issparse(vectors):
        out = row_dots(vectors, query, candidate, batch)
    else:
        out = np.empty(len(query), np.float32)
        for lo in range(0, len(query), batch):
            out[lo:lo + batch] = _dense_dots(vectors, query[lo:lo + batch], candidate[lo:lo + batch])
    out[~(present[query] & present[candidate])] = np.nan
    return out


def _dense_dots(vectors: np.ndarray, query: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Dot products of pairs of dense rows, one matrix-vector product per run of pairs with the same query.

    Gathering rows at random is the whole cost (about 3 GB/s here); the
    table's pairs come in runs of one query (a hundred or more), so its row is
    read once per run rather than once per pair: a fifth faster. Short runs
    (an unordered batch) go through one gather per side instead.
    """
    starts = np.flatnonzero(np.r_[True, query[1:] != query[:-1]])
    if len(starts) * 16 > len(query):
        return np.einsum("ij,ij->i", vectors[query], vectors[candidate])
    rows = vectors[candidate]
    out = np.empty(len(query), np.float32)
    for start, end in zip(starts, np.r_[starts[1:], len(query)]):
        out[start:end] = rows[start:end] @ vectors[query[start]]
    return out


def mixture_similarity(sims: dict[str, np.ndarray], present: dict[str, np.ndarray], weights: dict[str, float],
                       query: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """The cosine of two rows of a mixture (fusion.combined_vectors) from its channels' cosines of the pair.

    A mixture row is its channels' unit rows scaled by sqrt(weight), zero where
    a listing lacks evidence, then normalised; so its cosine is the sum of
    weight x cosine over the channels both listings have, over the root of
    each listing's total weight. Exact, and no rows gathered.
    """
    dot = sum(w * np.nan_to_num(sims[c], nan=0.0) for c, w in weights.items())
    mass = [sum(w * present[c][side] for c, w in weights.items()) for side in (query, candidate)]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (dot / np.sqrt(mass[0] * mass[1])).astype(np.float32)
    out[(mass[0] == 0) | (mass[1] == 0)] = np.nan
    return out


def phash_bits(hashes) -> tuple[np.ndarray, np.ndarray]:
    """64-bit integers from 16-hex-digit pHash strings, and which listings have one."""
    hashes = np.asarray(hashes, dtype=object)
    present = np.array([len(h) == 16 for h in hashes], dtype=bool)
    bits = np.zeros(len(hashes), dtype=np.uint64)
    bits[present] = [int(h, 16) for h in hashes[present]]
    return bits, present


def phash_knn(bits: np.ndarray, present: np.ndarray, k: int, radius: int):
    """Each listing's up to k nearest other pHashes within `radius` bits, as (ids, sims) like channel_knn.

    The hashes are searched as a dense channel of 64 signs (`phash_signs`),
    like every dense channel: their cosine is exactly 1 - 2 * distance / 64,
    and the products of 64 floats beat the NumPy bit counts that searched
    them exactly before (docs/bench/status.md).
    """
    ids, cosines = nearest(phash_signs(bits), present, k)
    close = (ids >= 0) & ((1 - cosines) * 32 <= radius + 1e-3)
    return np.where(close, ids, -1), np.where(close, 1 - (1 - cosines) / 2, np.nan).astype(np.float32)


def phash_signs(bits: np.ndarray) -> np.ndarray:
    """Each 64-bit hash as 64 unit-norm float32 signs (+-1/8): dot products are 1 - 2 * Hamming distance / 64."""
    return ((bits[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.float32) / 4 - 1 / 8


def phash_similarity(bits, present, query, candidate) -> np.ndarray:
    """1 - Hamming distance / 64 for each pair; NaN where either listing has no pHash."""
    out = np.full(len(query), np.nan, np.float32)
    both = present[query] & present[candidate]
    dist = np.bitwise_count(bits[query[both]] ^ bits[candidate[both]])
    out[both] = 1.0 - dist / 64.0
    return out


@dataclass
class Neighbours:
    """Each channel's k nearest other listings (n x k positions, -1 for none), and the indexes kept for
    searches of new queries (the photo channel's, for the app's photo search)."""

    ids: dict[str, np.ndarray] = field(default_factory=dict)
    indexes: dict[str, ExactIndex] = field(default_factory=dict)


def find_neighbours(encoded, names, k: int, phash_radius: int | None = None, keep_indexes=()) -> Neighbours:
    """The k nearest of every listing in channels `names` of `encoded` (and in pHash, given a radius).

    A dense channel is searched exactly up to EXACT_CUTOFF listings and by
    nearest-neighbour descent beyond (`dense_self_knn`); where
    `encoded.searched` holds its k nearest already (fusion's combined
    embedding), they are taken as found. The channels of `keep_indexes` (the
    photo channel, for the app's photo search) keep their present rows in an
    ExactIndex: searching one new query exactly is fast enough at a million
    listings, and the self-join never pays for an index it does not need.
    """
    found = Neighbours()
    for name in names:
        vectors, present = encoded.vectors[name], encoded.present[name]
        if name in keep_indexes and not sp.issparse(vectors) and present.sum() >= 2:
            found.indexes[name] = ExactIndex().fit(vectors if present.all() else vectors[present],
                                                   ids=np.flatnonzero(present))
        searched = encoded.searched.pop(name, None)
        if searched is not None and searched.shape[1] == k:
            found.ids[name] = searched
        else:
            found.ids[name] = nearest(vectors, present, k)[0]
    if phash_radius is not None and encoded.phash is not None:
        found.ids[PHASH_CHANNEL] = phash_knn(encoded.phash, encoded.phash_present, k, phash_radius)[0].astype(np.int32)
    return found


def nearest(vectors, present: np.ndarray, k: int):
    """channel_knn, with int32 ids: (ids, sims)."""
    ids, sims = channel_knn(vectors, present, k)
    return ids.astype(np.int32), sims


def table_chunks(encoded, found: Neighbours, rows_per_chunk: int = 2 ** 21) -> Iterator[pd.DataFrame]:
    """The neighbour table in pieces of whole queries, about `rows_per_chunk` rows each, in (query, candidate) order.

    A listing's candidates are the symmetric union of every channel's lists:
    those it found, and those that found it. Each piece carries every
    channel's similarity, so the whole table never has to be held at once.
    """
    lists = list(found.ids.values())
    if not lists:
        return
    n = lists[0].shape[0]
    reverse = [_reverse_lists(ids, n) for ids in lists]
    per_query = sum((ids >= 0).sum(axis=1) for ids in lists) + sum(np.diff(indptr) for indptr, _ in reverse)
    bounds = np.concatenate([[0], np.cumsum(per_query)])
    start = 0
    while start < n:
        end = max(start + 1, int(np.searchsorted(bounds, bounds[start] + rows_per_chunk, side="right")) - 1)
        query, candidate = _chunk_pairs(lists, reverse, start, end, n)
        if len(query):
            yield neighbour_table(query, candidate, similarities(encoded, query, candidate))
        start = end


def _reverse_lists(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each listing, the listings whose neighbour list holds it, as CSR (indptr, sources)."""
    targets = ids.ravel()
    keep = targets >= 0
    sources = np.repeat(np.arange(n, dtype=np.int32), ids.shape[1])[keep]
    targets = targets[keep]
    order = np.argsort(targets, kind="stable")
    return np.concatenate([[0], np.cumsum(np.bincount(targets, minlength=n))]), sources[order]


def _chunk_pairs(lists, reverse, start: int, end: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (query, candidate) pairs of queries start..end-1, sorted."""
    queries = np.arange(start, end, dtype=np.int64)
    query = [np.repeat(queries, ids.shape[1]) for ids in lists]
    candidate = [ids[start:end].ravel() for ids in lists]
    for indptr, sources in reverse:
        query.append(np.repeat(queries, np.diff(indptr[start:end + 1])))
        candidate.append(sources[indptr[start]:indptr[end]])
    query, candidate = np.concatenate(query), np.concatenate(candidate).astype(np.int64)
    keep = candidate >= 0
    keys = np.unique(query[keep] * n + candidate[keep])
    return keys // n, keys % n


def similarities(encoded, query: np.ndarray, candidate: np.ndarray) -> dict[str, np.ndarray]:
    """Every channel's similarity for each pair (pHash last); a mixture's from its channels' similarities."""
    sims = {name: pair_similarity(vectors, encoded.present[name], query, candidate)
            for name, vectors in encoded.vectors.items() if name not in encoded.mixtures}
    for name, weights in encoded.mixtures.items():
        sims[name] = mixture_similarity(sims, encoded.present, weights, query, candidate)
    sims = {name: sims[name] for name in encoded.vectors}
    if encoded.phash is not None:
        sims[PHASH_CHANNEL] = phash_similarity(encoded.phash, encoded.phash_present, query, candidate)
    return sims


def neighbour_table(query: np.ndarray, candidate: np.ndarray, similarities: dict[str, np.ndarray]) -> pd.DataFrame:
    """The stored form: int32 positions and float16 similarities (compact; 0.001 resolution near 1)."""
    table = pd.DataFrame({"query": query.astype(np.int32), "candidate": candidate.astype(np.int32)})
    for channel, sims in similarities.items():
        table[sim_column(channel)] = sims.astype(np.float16)
    return table


def build_neighbour_table(encoded, k: int, phash_radius: int):
    """The whole table of one encoded catalogue in memory, and the neighbour lists it was made from."""
    found = find_neighbours(encoded, list(encoded.vectors), k, phash_radius=phash_radius)
    return whole_table(encoded, found), found


def add_channels(found: Neighbours, encoded, names, k: int):
    """The table with channels `names` of `encoded` added, and the lists grown by theirs.

    Their top-k candidates join the table with every channel's similarity;
    the channels already found are not searched again.
    """
    added = find_neighbours(encoded, names, k)
    grown = Neighbours({**found.ids, **added.ids}, {**found.indexes, **added.indexes})
    return whole_table(encoded, grown), grown


def write_neighbour_table(encoded, found: Neighbours, path) -> int:
    """The table streamed to a Parquet file, a row group per piece; returns its rows.

    Memory stays at the neighbour lists, the vectors and one piece, so a
    million listings fit where their whole table would not.
    """
    writer, rows = None, 0
    try:
        for chunk in table_chunks(encoded, found):
            batch = pa.Table.from_pandas(chunk, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, batch.schema)
            writer.write_table(batch)
            rows += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        _empty_table(encoded).to_parquet(path, index=False)
    return rows


def whole_table(encoded, found: Neighbours) -> pd.DataFrame:
    """The table in memory: every piece of table_chunks, joined."""
    chunks = list(table_chunks(encoded, found))
    return pd.concat(chunks, ignore_index=True) if chunks else _empty_table(encoded)


def _empty_table(encoded) -> pd.DataFrame:
    """No pairs, with every channel's column: a catalogue where nothing has a neighbour."""
    empty = np.zeros(0, np.int64)
    return neighbour_table(empty, empty, similarities(encoded, empty, empty))
