"""Nearest-neighbour search: exact search by chunked products (dense rows; sparse ones too, as the benchmarks'
brute force: the engine searches sparse rows with matcher.sparse_search), the k-nearest-neighbour graph of a large
set of rows by nearest-neighbour descent (pynndescent), and indexes for searches of new queries: exact search of
stored rows (the engine's, for the app's photo search) and hnswlib (measured against it by bench/ann.py)."""
from __future__ import annotations

import os
from pathlib import Path

import hnswlib
import numpy as np
import scipy.sparse as sp
from tqdm import tqdm


class HnswIndex:
    """Cosine HNSW index over unit rows; similarities are returned as cosine, not distance.

    `threads=1` makes the graph, and so every search result, reproducible.
    """

    def __init__(self, M: int = 32, ef_construction: int = 200, ef_search: int = 128, threads: int = 0,
                 seed: int = 100):
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.threads = threads or os.cpu_count() or 1
        self.seed = seed
        self.index_: hnswlib.Index | None = None

    def fit(self, vectors: np.ndarray, ids=None) -> "HnswIndex":
        """Index the rows, labelled by `ids` (default 0..n-1) so a subset keeps catalogue positions."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.arange(len(vectors)) if ids is None else np.asarray(ids)
        index = hnswlib.Index(space="cosine", dim=vectors.shape[1])
        index.init_index(max_elements=max(len(vectors), 1), M=self.M, ef_construction=self.ef_construction,
                         random_seed=self.seed)
        index.set_num_threads(self.threads)
        index.add_items(vectors, ids)
        self.index_ = index
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids and cosine similarities per query row, best first (-1 / nan pad a short result)."""
        n_items = self.index_.get_current_count()
        kk = min(k, n_items)
        if kk == 0 or len(queries) == 0:
            return np.full((len(queries), k), -1, np.int64), np.full((len(queries), k), np.nan, np.float32)
        self.index_.set_ef(max(self.ef_search, kk + 1))
        ids, dist = self.index_.knn_query(np.ascontiguousarray(queries, dtype=np.float32), k=kk,
                                          num_threads=self.threads)
        return _pad(ids.astype(np.int64), (1.0 - dist).astype(np.float32), k)

    def save(self, path) -> None:
        self.index_.save_index(str(path))

    @classmethod
    def load(cls, path, dim: int, **params) -> "HnswIndex":
        self = cls(**params)
        self.index_ = hnswlib.Index(space="cosine", dim=dim)
        self.index_.load_index(str(path))
        return self


class ExactIndex:
    """Exact cosine search of new queries among stored unit rows, saved as .npy files that load memory-mapped.

    The app's photo search: one query against a million 512-d rows takes about 0.1 s (bench/ann.py), where an
    HNSW index of them takes most of an hour to build on 2 cores. `ids` label the rows (default 0..n-1).
    """

    def fit(self, vectors: np.ndarray, ids=None) -> "ExactIndex":
        self.vectors_ = np.asarray(vectors, dtype=np.float32)
        self.ids_ = np.arange(len(vectors)) if ids is None else np.asarray(ids, dtype=np.int64)
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ids and cosine similarities per query row, best first (-1 / nan pad a short result)."""
        found, sims = exact_search(np.asarray(queries, dtype=np.float32), self.vectors_, k)
        return relabel(found, self.ids_), sims

    def save(self, folder, name: str) -> None:
        np.save(Path(folder) / f"{name}.vectors.npy", self.vectors_)
        np.save(Path(folder) / f"{name}.ids.npy", self.ids_)

    @classmethod
    def load(cls, folder, name: str) -> "ExactIndex":
        self = cls()
        self.vectors_ = np.load(Path(folder) / f"{name}.vectors.npy", mmap_mode="r")
        self.ids_ = np.load(Path(folder) / f"{name}.ids.npy")
        return self

    @staticmethod
    def exists(folder, name: str) -> bool:
        return all((Path(folder) / f"{name}.{part}.npy").is_file() for part in ("vectors", "ids"))


def relabel(found: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Positions found among a subset of rows, as the subset's labels (-1 stays -1)."""
    return np.where(found >= 0, labels[np.maximum(found, 0)], -1)


def exact_search(queries, base, k: int, block_bytes: int = 2 ** 28) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by dot product of unit rows, dense or sparse, in chunks of queries to bound memory.

    A chunk's similarity block stays near `block_bytes` (256 MB): 1,024 queries
    against a small base, a few dozen against a million rows.
    """
    n_base = base.shape[0]
    kk = min(k, n_base)
    chunk = int(np.clip(block_bytes // (8 * max(n_base, 1)), 1, 1024))
    ids = np.full((queries.shape[0], k), -1, np.int64)
    sims = np.full((queries.shape[0], k), np.nan, np.float32)
    starts = range(0, queries.shape[0], chunk)
    for start in tqdm(starts, desc="exact search", unit="chunk", disable=len(starts) < 8 or None, leave=False):
        block = queries[start:start + chunk] @ base.T
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        top = np.argpartition(-block, kk - 1, axis=1)[:, :kk] if kk < n_base else np.tile(np.arange(n_base), (len(block), 1))
        top_sims = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        ids[start:start + chunk, :kk] = np.take_along_axis(top, order, axis=1)
        sims[start:start + chunk, :kk] = np.take_along_axis(top_sims, order, axis=1)
    return ids, sims


GRAPH_BREADTH = 1.6  # the descent keeps this many times k neighbours per row: wider lists, fewer misses


def knn_graph(rows: np.ndarray, k: int, seed: int = 100, breadth: float = GRAPH_BREADTH) -> tuple[np.ndarray, np.ndarray]:
    """Each unit row's k nearest rows (itself among them) and their cosine similarities, best first, by
    nearest-neighbour descent: a random-projection forest's first guesses, refined by comparing every row
    with its neighbours' neighbours until few lists change.

    The engine's self-join beyond its exact cutoff: at 100,000 rows shaped like real embeddings it is
    nearly four times faster than building an HNSW index and searching every row in it, at a million six
    times (bench/ann.py). It finds the whole graph at once and answers no new queries. It keeps `breadth` x k
    neighbours per row while it works.
    """
    from pynndescent import NNDescent  # compiled by numba on first use (about a minute), so only when needed

    graph = NNDescent(np.ascontiguousarray(rows, dtype=np.float32), metric="dot",
                      n_neighbors=min(len(rows) - 1, round(k * breadth)), random_state=seed)
    ids, distances = graph.neighbor_graph
    return ids[:, :k].astype(np.int64), (1.0 - distances[:, :k]).astype(np.float32)


def drop_self(ids: np.ndarray, sims: np.ndarray, k: int, self_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """Turn a self-join's k+1 results per row into each row's k nearest *other* items.

    `self_ids` names each query row's own id (default: its row number).
    """
    self_ids = np.arange(len(ids)) if self_ids is None else np.asarray(self_ids)
    is_self = ids == self_ids[:, None]
    order = np.argsort(is_self, axis=1, kind="stable")[:, :k]
    out_ids = np.take_along_axis(ids, order, axis=1)
    out_sims = np.take_along_axis(sims, order, axis=1)
    return _pad(out_ids, out_sims, k)

def _pad(ids: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if ids.shape[1] == k:
        return ids, sims
    pad = k - ids.shape[1]
    return (np.pad(ids, ((0, 0), (0, pad)), constant_values=-1),
            np.pad(sims, ((0, 0), (0, pad)), constant_values=np.nan))
