"""Top-k search of sparse unit rows (TF-IDF titles): exact where affordable, pruned of common terms beyond.

A self-join's cost is its multiply-adds: the sum over terms of their
document frequency squared. Word TF-IDF stays cheap (about n²/5), but
character n-grams share their commonest terms with most titles (about 14 n²
on Shopee-like titles), so an exact join grows with the square of the
catalogue. Beyond a budget per listing the commonest terms leave the
*candidate* search: they carry little weight (low IDF) and decide few
neighbours. Candidates are then rescored exactly on every term, so a pruned
search can miss a neighbour but never misscores one; listings whose weight
lies mostly in the pruned terms are searched exactly.
"""
from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp
from sparse_dot_topn import sp_matmul_topn
from tqdm import tqdm

# Multiply-adds per listing an exact self-join may take (300k: char n-grams stay exact to about 20k titles, word
# TF-IDF to over a million); beyond, the commonest terms leave the candidate search (bench/scale.py measures recall).
FLOPS_PER_ROW = 300_000
CANDIDATES_PER_NEIGHBOUR = 2  # pruned candidates rescored per neighbour wanted
LIGHT = 0.5  # a listing with less than this share of its squared weight in searched terms is searched exactly


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
    """Each row's k nearest rows (itself included), exact within `flops_per_row` (FLOPS_PER_ROW), else pruned."""
    rows = sp.csr_matrix(rows, dtype=np.float32)
    df = np.bincount(rows.indices, minlength=rows.shape[1])
    searched = affordable_terms(df, (flops_per_row or FLOPS_PER_ROW) * rows.shape[0])
    if searched.all():
        return sparse_top_k(rows, rows, k)
    pruned = rows[:, np.flatnonzero(searched)]
    candidates, _ = sparse_top_k(pruned, pruned, CANDIDATES_PER_NEIGHBOUR * k)
    ids = np.empty((rows.shape[0], k), np.int64)
    sims = np.empty((rows.shape[0], k), np.float32)
    for start in range(0, rows.shape[0], 100_000):  # bounds the pairs scored at once
        ids[start:start + 100_000], sims[start:start + 100_000] = rescored(rows, candidates[start:start + 100_000], k, start)
    light = np.flatnonzero(np.asarray(pruned.multiply(pruned).sum(axis=1)).ravel() < LIGHT)
    if len(light):
        ids[light], sims[light] = sparse_top_k(rows[light], rows, k)
    return ids, sims


def affordable_terms(df: np.ndarray, budget: float) -> np.ndarray:
    """The terms a self-join searches: all but the commonest, as few left out as keep sum(df²) within `budget`."""
    order = np.argsort(df, kind="stable")
    within = np.cumsum(df[order].astype(np.float64) ** 2) <= budget
    searched = np.zeros(len(df), bool)
    searched[order[within]] = True
    return searched


def rescored(rows, candidates: np.ndarray, k: int, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows first, first + 1, ...: their `candidates` scored on all their terms, the best k kept, best first."""
    query = np.repeat(np.arange(first, first + len(candidates)), candidates.shape[1])
    found = candidates.ravel() >= 0
    sims = np.full(candidates.size, -np.inf, np.float32)
    sims[found] = row_dots(rows, query[found], candidates.ravel()[found])
    sims = sims.reshape(candidates.shape)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    ids, sims = np.take_along_axis(candidates, order, axis=1), np.take_along_axis(sims, order, axis=1)
    return np.where(ids >= 0, ids, -1), np.where(ids >= 0, sims, np.nan).astype(np.float32)


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
