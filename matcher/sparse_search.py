"""Top-k search of sparse unit rows (TF-IDF titles): exact where affordable, prefix-filtered beyond.

A self-join's cost is its multiply-adds: the sum over terms of their
document frequency squared. Word TF-IDF stays cheap (about n²/5), but
character n-grams share their commonest terms with most titles (about 14 n²
on Shopee-like titles), so an exact join grows with the square of the
catalogue. Beyond a budget per listing, each listing's commonest terms, up to
a norm of PREFIX_NORM, leave the *indexed* side of the join; queries keep
every term (the prefix filter of all-pairs similarity search, Bayardo et al.
2007, with the L2 bound of Anastasiu and Karypis 2014). By Cauchy-Schwarz
the left-out terms alone give a pair less than PREFIX_NORM, so a pair at
that cosine or more shares an indexed term: it is a candidate unless more
than CANDIDATES_PER_NEIGHBOUR x k others outscore it there. Candidates are
rescored exactly on every term, so the search can miss a neighbour but
never misscores one. (Leaving the commonest terms out of every listing
instead, as the engine once did, lost the neighbours of listings made of
common terms: matchable recall 0.83 at 300k, bench/scale.py.)

Both joins still grow with the square of the catalogue: where every title
shares common terms with a fixed share of the others, every term's list grows
with it. Beyond SKETCH_CUTOFF rows such a join is approximate instead: each row
is hashed to SKETCH_DIMS dense coordinates with random signs (a count sketch,
Charikar et al. 2002, which keeps inner products in expectation with an error
of about 1/sqrt(SKETCH_DIMS)), the sketches' nearest neighbours are found by
nearest-neighbour descent (matcher.index.knn_graph, near-linear), and
SKETCH_CANDIDATES per neighbour wanted are rescored exactly on every term.
SKETCHES independent sketches pool their candidates: each sketch blurs other
neighbours and each descent misses other ones, so the second finds most of
what the first missed.
"""
from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp
from sparse_dot_topn import sp_matmul_topn
from tqdm import tqdm

from matcher.index import knn_graph

# Multiply-adds per listing an exact self-join may take (300k: char n-grams stay exact to about 20k titles, word
# TF-IDF to over a million); beyond, the join is prefix-filtered or sketched (bench/scale.py measures their recall).
FLOPS_PER_ROW = 300_000
# Char n-grams (bench/scale.py): 0.4 keeps 60% of the entries, a join of about 2.3 n² multiply-adds instead of
# 14 n²; with 4 candidates per neighbour, recall@51 0.999 at 100k listings and 0.997 at 300k.
PREFIX_NORM = 0.4
CANDIDATES_PER_NEIGHBOUR = 4  # candidates rescored per neighbour wanted
# A join beyond its budget is sketched beyond this many rows, prefix-filtered up to it (bench/scale.py, char n-grams
# at 300k: filtered 1,023 s, matchable recall 0.999; one sketch 607 s, 0.975; at 1M one sketch 2,359 s, 0.952, time
# growing with exponent 1.13): the filter's recall while its time stays within about twice one sketch's. Not
# measured against the filter again since a second sketch joined (1M: 0.990, time growing with exponent 1.05).
SKETCH_CUTOFF = 500_000
SKETCH_DIMS = 512
SKETCH_CANDIDATES = 3  # sketched neighbours rescored per neighbour wanted, from each sketch
# Char n-grams at 100k (docs/bench/status.md): one sketch found recall@51 0.957, matchable 0.993; two, each with
# half the candidates, 0.952 and 0.988 in the same time; two with all of them 0.991 and 0.9994 in 1.7 times the time.
SKETCHES = 2


def sparse_top_k(queries, base, k: int, rows_per_chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by dot product of sparse unit rows, best first; -1 / NaN beyond a row's last shared term.

    sparse_dot_topn keeps only each row's k largest products, so no dense
    block of queries × base is ever built (about 8 times faster than one).
    """
    queries, base = sp.csr_matrix(queries, dtype=np.float32), sp.csr_matrix(base, dtype=np.float32).T.tocsr()
    ids = np.full((queries.shape[0], k), -1, np.int64)
    sims = np.full((queries.shape[0], k), np.nan, np.float32)
    starts = range(0, queries.shape[0], rows_per_chunk)
    for start in tqdm(starts, desc="sparse search", unit="chunk", disable=len(starts) < 8 or None, leave=False):
        top = sp_matmul_topn(queries[start:start + rows_per_chunk], base, top_n=k, sort=True,
                             n_threads=os.cpu_count() or 1)
        counts = np.diff(top.indptr)
        row = np.repeat(np.arange(len(counts)), counts) + start
        col = np.arange(top.nnz) - np.repeat(top.indptr[:-1], counts)
        ids[row, col], sims[row, col] = top.indices, top.data
    return ids, sims


def sparse_self_knn(rows, k: int, flops_per_row: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest rows (itself included), by the join `join_path` names."""
    rows = sp.csr_matrix(rows, dtype=np.float32)
    path = join_path(rows, k, flops_per_row)
    if path == "exact":
        return sparse_top_k(rows, rows, k)
    if path == "sketched":
        candidates = sketched_candidates(rows, SKETCH_CANDIDATES * k)
    else:
        candidates, _ = sparse_top_k(rows, indexed_part(rows, flops_per_row), CANDIDATES_PER_NEIGHBOUR * k)
    return rescored_all(rows, candidates, k)


def join_path(rows, k: int, flops_per_row: int | None = None) -> str:
    """How a self-join of these rows goes: "exact" within `flops_per_row` (FLOPS_PER_ROW) multiply-adds per row,
    else "sketched" beyond SKETCH_CUTOFF rows, else "filtered" (by prefix)."""
    if exact_affordable(rows, flops_per_row):
        return "exact"
    return "sketched" if rows.shape[0] > SKETCH_CUTOFF and SKETCH_CANDIDATES * k < rows.shape[0] else "filtered"


def exact_affordable(rows, flops_per_row: int | None = None) -> bool:
    """Whether an exact self-join costs at most `flops_per_row` (FLOPS_PER_ROW) multiply-adds per row: the sum
    over terms of their document frequency squared."""
    df = np.bincount(rows.indices, minlength=rows.shape[1]).astype(np.float64)
    return (df ** 2).sum() <= (FLOPS_PER_ROW if flops_per_row is None else flops_per_row) * rows.shape[0]


def sketch(rows, dims: int = SKETCH_DIMS, seed: int = 0, rows_per_chunk: int = 100_000) -> np.ndarray:
    """Unit sparse rows as unit dense rows of `dims` coordinates: each term added, with a random sign, to one
    coordinate chosen at random, so two rows' product keeps its expected value (a count sketch)."""
    rng = np.random.default_rng(seed)
    terms = rows.shape[1]
    signs, coordinates = rng.choice(np.float32([-1.0, 1.0]), terms), rng.integers(0, dims, terms)
    projection = sp.csr_matrix((signs, (np.arange(terms), coordinates)), shape=(terms, dims))
    out = np.empty((rows.shape[0], dims), np.float32)
    for start in range(0, rows.shape[0], rows_per_chunk):  # bounds the sparse product's memory
        out[start:start + rows_per_chunk] = (rows[start:start + rows_per_chunk] @ projection).toarray()
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.finfo(np.float32).tiny)
    return out


def sketched_candidates(rows, per_sketch: int) -> np.ndarray:
    """Each row's `per_sketch` nearest rows by each of SKETCHES independent sketches, pooled, each row once (-1 pads
    where the sketches agree)."""
    pooled = np.hstack([knn_graph(sketch(rows, seed=seed), per_sketch, seed=100 + seed, breadth=1.0)[0].astype(np.int32)
                        for seed in range(SKETCHES)])
    pooled.sort(axis=1)
    pooled[:, 1:][pooled[:, 1:] == pooled[:, :-1]] = -1
    return pooled


def rescored_all(rows, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row's `candidates` rescored on all its terms, the best k kept: `rescored` in bounded blocks."""
    ids = np.empty((rows.shape[0], k), np.int64)
    sims = np.empty((rows.shape[0], k), np.float32)
    for start in range(0, rows.shape[0], 50_000):  # bounds the pairs scored at once
        ids[start:start + 50_000], sims[start:start + 50_000] = rescored(rows, candidates[start:start + 50_000], k, start)
    return ids, sims


def indexed_part(rows, flops_per_row: int | None = None, rows_per_chunk: int = 100_000):
    """The side of a self-join that queries are matched against: `rows` itself where an exact join costs at
    most `flops_per_row` (FLOPS_PER_ROW) per row, else each row without its commonest terms up to PREFIX_NORM.

    A row's last (rarest) term always stays, so every listing can be found.
    """
    if exact_affordable(rows, flops_per_row):
        return rows
    df = np.bincount(rows.indices, minlength=rows.shape[1])
    rank = np.empty(len(df), np.int64)
    rank[np.argsort(-df, kind="stable")] = np.arange(len(df))  # 0: the commonest term
    kept = np.empty(rows.nnz, bool)
    for start in range(0, rows.shape[0], rows_per_chunk):  # bounds the sort's memory
        bounds = rows.indptr[start:start + rows_per_chunk + 1]
        lo, hi, counts = bounds[0], bounds[-1], np.diff(bounds)
        row = np.repeat(np.arange(len(counts)), counts)
        order = np.lexsort((rank[rows.indices[lo:hi]], row))  # each row's terms, commonest first
        squared = np.cumsum(rows.data[lo:hi][order].astype(np.float64) ** 2)
        squared -= np.repeat(np.r_[0.0, squared][bounds[:-1] - lo], counts)  # each row's running sum
        kept[lo + order] = squared >= PREFIX_NORM ** 2
    indptr = np.r_[0, np.cumsum(kept)][rows.indptr]
    return sp.csr_matrix((rows.data[kept], rows.indices[kept], indptr), shape=rows.shape)


def rescored(rows, candidates: np.ndarray, k: int, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows first, first + 1, ...: their `candidates` scored on all their terms, the best k kept, best first."""
    query = np.repeat(np.arange(first, first + len(candidates)), candidates.shape[1])
    found = candidates.ravel() >= 0
    sims = np.full(candidates.size, -np.inf, np.float32)
    sims[found] = row_dots(rows, query[found], candidates.ravel()[found])
    sims = sims.reshape(candidates.shape)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    ids, sims = np.take_along_axis(candidates, order, axis=1), np.take_along_axis(sims, order, axis=1)
    shared = sims > 0  # a candidate sharing no term is no neighbour, as in sparse_top_k
    return np.where(shared, ids, -1), np.where(shared, sims, np.nan).astype(np.float32)


def row_dots(rows, query: np.ndarray, candidate: np.ndarray, batch: int = 65_536) -> np.ndarray:
    """Dot product of each (query, candidate) pair of sparse rows, in batches to bound memory.

    The row-wise product of the pairs' two rows: 8 times faster than a
    product of query and candidate blocks, most of which no pair needs.
    """
    out = np.empty(len(query), np.float32)
    for lo in range(0, len(query), batch):
        q, c = query[lo:lo + batch], candidate[lo:lo + batch]
        out[lo:lo + batch] = np.asarray(rows[q].multiply(rows[c]).sum(axis=1)).ravel()
    return out
