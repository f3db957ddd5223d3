"""Compiled loops over match graphs: unique pairs, connected components, neighbourhood overlaps, a capped
Kruskal walk.

Grouping a million listings walks millions of pairs one at a time (union-find)
and intersects as many pairs of match sets: loops that NumPy can only imitate
with whole-array tricks and Python runs slowly. Compiled with numba (on first
use, then cached on disk for later processes), each is a plain loop.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _find(parent: np.ndarray, x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving: each step points a listing at its grandparent
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def _union(parent: np.ndarray, size: np.ndarray, ra: int, rb: int) -> int:
    """Merge two roots, the smaller under the larger; returns the surviving root."""
    if size[ra] < size[rb]:
        ra, rb = rb, ra
    parent[rb] = ra
    size[ra] += size[rb]
    return ra


@numba.njit(cache=True, nogil=True)
def _merge_pairs(parent: np.ndarray, size: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Union every pair (a[i], b[i]), whatever the sizes."""
    for i in range(len(a)):
        ra, rb = _find(parent, a[i]), _find(parent, b[i])
        if ra != rb:
            _union(parent, size, ra, rb)


@numba.njit(cache=True, nogil=True)
def undirected_pairs(n: int, query: np.ndarray, candidate: np.ndarray):
    """The distinct undirected pairs (a < b) among (query[i], candidate[i]), ordered by a, then by first
    appearance; and each i's pair (-1 for a self-pair).

    The pairs are counting-sorted by their lower listing, then each one's
    partners are stamped as they come: linear in pairs and listings, where
    sorting pair keys took twice as long at a million listings.
    """
    start = np.zeros(n + 1, np.int64)
    for i in range(len(query)):
        if query[i] != candidate[i]:
            start[min(query[i], candidate[i]) + 1] += 1
    for i in range(n):
        start[i + 1] += start[i]
    fill = start[:-1].copy()
    high = np.empty(start[n], np.int64)  # each pair's higher listing and index, by lower listing, in input order
    index = np.empty(start[n], np.int64)
    for i in range(len(query)):
        if query[i] != candidate[i]:
            low = min(query[i], candidate[i])
            high[fill[low]] = max(query[i], candidate[i])
            index[fill[low]] = i
            fill[low] += 1
    low_of = np.empty(start[n], np.int64)
    pair_of = np.full(len(query), -1, np.int64)
    seen = np.full(n, -1, np.int64)  # seen[y] == x: (x, y) is pair at[y]
    at = np.zeros(n, np.int64)
    m = 0
    for x in range(n):
        for j in range(start[x], start[x + 1]):
            y = high[j]
            if seen[y] != x:
                seen[y], at[y] = x, m
                low_of[m], high[m] = x, y
                m += 1
            pair_of[index[j]] = at[y]
    return low_of[:m], high[:m], pair_of


@numba.njit(cache=True, nogil=True)
def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each of `n` listings' connected component over the pairs (a, b), named by one of its listings."""
    parent = np.arange(n)
    _merge_pairs(parent, np.ones(n, np.int64), a, b)
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


@numba.njit(cache=True, nogil=True)
def closed_overlaps(n: int, a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How many listings the closed match sets of x and y share (each set includes its listing), in the graph
    of the distinct pairs (a, b).

    x's set is stamped once per run of equal x (pairs come sorted by x), then
    y's set is read against the stamps: no sorting, one pass over each set.
    """
    start = np.zeros(n + 1, np.int64)
    for i in range(len(a)):
        start[a[i] + 1] += 1
        start[b[i] + 1] += 1
    for i in range(n):
        start[i + 1] += start[i] + 1  # and the listing itself
    members = np.empty(start[n], np.int64)
    fill = start[:-1].copy()
    for i in range(n):
        members[fill[i]] = i
        fill[i] += 1
    for i in range(len(a)):
        members[fill[a[i]]] = b[i]
        fill[a[i]] += 1
        members[fill[b[i]]] = a[i]
        fill[b[i]] += 1
    stamp = np.full(n, -1, np.int64)  # stamp[z] == v: z is in v's closed set
    shared = np.zeros(len(x), np.int64)
    for k in range(len(x)):
        if k == 0 or x[k] != x[k - 1]:
            for i in range(start[x[k]], start[x[k] + 1]):
                stamp[members[i]] = x[k]
        count = 0
        for i in range(start[y[k]], start[y[k] + 1]):
            count += stamp[members[i]] == x[k]
        shared[k] = count
    return shared


@numba.njit(cache=True, nogil=True)
def capped_walk(n: int, x: np.ndarray, y: np.ndarray, confirmed: np.ndarray, rejected: np.ndarray,
                max_size: int) -> tuple[np.ndarray, int, int, int]:
    """Kruskal over `n` listings: the confirmed pairs merged first (no cap), then the pairs (x, y) in the order
    given, each merge refused when it would make a group of more than `max_size` listings or put a
    rejected pair in one group.

    Returns each listing's group (a listing of it), and how many merges the size cap and the rejected
    pairs refused, and how many rejected pairs the confirmed ones had already joined (those ban nothing).
    Each group keeps a linked list of the rejected-pair ends that lie among its listings, so a merge
    checks only the shorter list.
    """
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    _merge_pairs(parent, size, confirmed[:, 0], confirmed[:, 1])
    head = np.full(n, -1, np.int64)  # a group's first rejected-pair end (end 2k + s: listing rejected[k, s])
    tail = np.full(n, -1, np.int64)
    ends = np.zeros(n, np.int64)
    after = np.full(2 * len(rejected), -1, np.int64)
    conflicts = 0
    for k in range(len(rejected)):
        if _find(parent, rejected[k, 0]) == _find(parent, rejected[k, 1]):
            conflicts += 1
            continue
        for side in range(2):
            root, end = _find(parent, rejected[k, side]), 2 * k + side
            if head[root] < 0:
                head[root] = end
            else:
                after[tail[root]] = end
            tail[root] = end
            ends[root] += 1
    too_big = refused = 0
    for i in range(len(x)):
        ra, rb = _find(parent, x[i]), _find(parent, y[i])
        if ra == rb:
            continue
        if size[ra] + size[rb] > max_size:
            too_big += 1
            continue
        few, many = (ra, rb) if ends[ra] <= ends[rb] else (rb, ra)
        banned = False
        end = head[few]
        while end >= 0 and not banned:
            banned = _find(parent, rejected[end // 2, 1 - end % 2]) == many
            end = after[end]
        if banned:
            refused += 1
            continue
        root = _union(parent, size, ra, rb)
        other = rb if root == ra else ra
        if head[other] >= 0:  # the survivor takes the other group's rejected-pair ends
            if head[root] < 0:
                head[root] = head[other]
            else:
                after[tail[root]] = head[other]
            tail[root] = tail[other]
            ends[root] += ends[other]
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent, too_big, refused, conflicts
