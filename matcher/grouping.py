"""From pairwise matches to groups, without letting a few weak links merge unrelated products.

Match pairs are not transitive: joining every connected pair (plain connected components) lets one
doubtful edge merge two products, and a chain of them merge dozens. Groups are built instead by a
constrained Kruskal, strongest evidence first: moderators' confirmed pairs, then the model's pairs
by score, each merge refused when it would grow a group past `max_size`, bridge two dense
neighbourhoods that barely overlap, or put a moderator-rejected pair in one group.

Each group has an id made from its members' posting ids only, so a rebuild that leaves a group's
membership unchanged gives it the same id whatever the catalogue's order.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from matcher.metric import group_codes, score_matches
from matcher.sorting import argsort_keys

DECISIONS = ("confirmed", "rejected")
_PADS = np.unique(np.round(2 ** np.arange(1, 8.5, 0.25)).astype(np.int64))  # padded sizes 2..304, at most 19% apart
DENSE_COMPONENT = int(_PADS[-1])  # the largest component whose overlaps are counted by dense products (shared_counts)
_DENSE_BYTES = 64 << 20  # the dense matrices of one batch


@dataclass
class GroupingConfig:
    """Limits on the merges the model's pairs may make (moderators' confirmed pairs ignore them)."""

    max_size: int = 50
    # Weak-bridge guard: a model pair (a, b) is dropped when both listings have at least `min_degree` matches
    # and the Jaccard overlap of their match sets (each including itself) is below `min_support`.
    # Two cliques of k joined by one edge overlap 1/k there, a listing whose only two matches lie in two
    # cliques of k overlaps each 2/(k + 2): 0.25 cuts the first from k = 5 on, the second from k = 7. An edge
    # inside a clique (1), a pair (1), a triple (2/3) or a chain (1/2) is never cut: long chains are left to
    # `max_size`, and `min_degree` 2 keeps a listing with a single match attached to it. On simulated match
    # graphs (Shopee-like group sizes) 0.25 raised F1 by 0.05 to 0.12 where matches crossed products and cost
    # at most 0.01 where groups were sparse (30% of their pairs matched); 0.35 gained more on the first and
    # cost up to 0.22 on the second. Tune it on labelled groups like the thresholds.
    min_support: float = 0.25
    min_degree: int = 2


class Groups:
    """Every listing's group: `labels` index groups by their first listing, `ids` are stable across rebuilds.

    `dropped` counts the pairs each guard refused ("size", "bridge", "rejected"), the decisions naming
    posting ids not in the catalogue ("unknown_decisions") and the rejected pairs that confirmed pairs
    force into one group anyway ("conflicts": left for moderators to resolve, never an error).

    `ids` may be given, or computed from `posting_ids` on first use (hashing every group's members
    costs more than grouping; counting groups never needs it).
    """

    def __init__(self, labels: np.ndarray, ids: np.ndarray | None = None, dropped: dict | None = None,
                 posting_ids: np.ndarray | None = None):
        if ids is None and posting_ids is None:
            raise ValueError("Groups needs its ids or the posting ids to make them from")
        self.labels = labels
        self.dropped = {} if dropped is None else dropped
        self._ids = ids
        self._posting_ids = posting_ids

    @property
    def ids(self) -> np.ndarray:
        """Each listing's group id (see group_id)."""
        if self._ids is None:
            self._ids = _group_ids(self.labels, self._posting_ids)
        return self._ids

    def ids_of(self, positions: np.ndarray) -> np.ndarray:
        """The group ids of the listings at `positions`, hashing only their groups (every group's id costs
        seconds at a million listings; a page shows a few)."""
        if self._ids is not None:
            return self._ids[positions]
        wanted = np.zeros(self.labels.max(initial=-1) + 1, bool)
        wanted[self.labels[positions]] = True
        members = np.flatnonzero(wanted[self.labels])
        compact = np.unique(self.labels[members], return_inverse=True)[1]
        return _group_ids(compact, np.asarray(self._posting_ids)[members])[np.searchsorted(members, positions)]

    def __repr__(self) -> str:
        return f"Groups({len(self.labels)} listings, {int(self.labels.max(initial=-1)) + 1} groups, dropped={self.dropped})"

    def members(self) -> list[np.ndarray]:
        """Positions of each group's listings, ascending, in group-index order."""
        return _members(self.labels)

    def match_sets(self) -> list[np.ndarray]:
        """Each listing's group, itself first: the competition's submission format."""
        members = self.members()
        return [members[g].copy() if len(members[g]) == 1 else np.concatenate(([i], members[g][members[g] != i]))
                for i, g in enumerate(self.labels.tolist())]


def group_matches(n: int, query: np.ndarray, candidate: np.ndarray, score: np.ndarray, posting_ids,
                  decisions=None, config: GroupingConfig | None = None) -> Groups:
    """Group `n` listings from match pairs (positions, any direction, repeats allowed) and moderators' decisions.

    `decisions` holds (posting_id_a, posting_id_b, decision) rows, decision "confirmed" or "rejected"
    (a DataFrame with those columns, or any iterable of triples); the last decision on a pair wins.
    """
    config = config or GroupingConfig()
    posting_ids = np.asarray(posting_ids)  # read as strings only where decisions name them (a million: 0.1 s)
    a, b, score = _unique_pairs(n, query, candidate, score)
    bridge = _weak_bridges(n, a, b, config)
    confirmed, rejected, unknown = _decision_pairs(decisions, posting_ids)

    forest = _Forest(n)
    for x, y in confirmed:
        forest.union(forest.find(x), forest.find(y))
    conflicts = forest.forbid(rejected)
    dropped = {"size": 0, "bridge": int(bridge.sum()), "rejected": 0, "unknown_decisions": unknown,
               "conflicts": conflicts}
    a, b, score = a[~bridge], b[~bridge], score[~bridge]
    # Pairs only ever merge within a connected component of all the pairs. A component no larger than
    # max_size and free of rejected pairs is merged whole, whatever the order: only the others need
    # the strongest-first walk below (few, on real catalogues), which gives exactly what walking every pair would.
    component, guarded = _guarded_components(n, a, b, confirmed, rejected, config.max_size)
    walk, inside = guarded[a], np.flatnonzero(guarded)
    _walk(forest, a[walk], b[walk], score[walk], inside, confirmed, rejected, config.max_size, dropped)
    roots = n + component  # a merged component's listings share one root, distinct from any listing's
    roots[inside] = [forest.find(i) for i in inside.tolist()]
    return _groups(roots, posting_ids, dropped)


def _walk(forest: "_Forest", a: np.ndarray, b: np.ndarray, score: np.ndarray, inside: np.ndarray,
          confirmed, rejected, max_size: int, dropped: dict) -> None:
    """Merge the pairs (a, b) of the guarded components (listings `inside`) strongest first, each merge refused
    when it would grow a group past `max_size` or join a rejected pair; counts refusals in `dropped`.

    Walking pair by pair is Python's work, so as much as possible is decided at
    once: the longest run of strongest pairs no guard could refuse is merged as
    the connected components it makes (see _safe_run); of the pairs after it,
    those whose fate is already sealed are counted without a walk.
    """
    order = np.lexsort((b, a, -score))
    local = np.full(len(forest.parent), -1, np.int64)
    local[inside] = np.arange(len(inside))
    x, y = local[a[order]], local[b[order]]
    merged = _safe_run(len(inside), x, y, local[_as_pairs(confirmed)], local[_as_pairs(rejected)], max_size)
    for i, j in zip(inside.tolist(), inside[_first_of(merged, len(merged))].tolist()):
        forest.union(forest.find(i), forest.find(j))
    # Of the pairs after the run, those inside one group already would be skipped, and those whose groups
    # already hold more than max_size listings together refused (groups only grow, and no model merge can
    # put the two in one group any more): only the others are walked.
    group_size = np.bincount(merged)
    rest = merged[x] != merged[y]
    too_big = rest & (group_size[merged[x]] + group_size[merged[y]] > max_size)
    dropped["size"] += int(too_big.sum())
    rest &= ~too_big
    find, size, banned = forest.find, forest.size, forest.banned  # local names for the loop's sake
    for i, j in zip(inside[x[rest]].tolist(), inside[y[rest]].tolist()):
        ra, rb = find(i), find(j)
        if ra == rb:
            continue
        if size[ra] + size[rb] > max_size:
            dropped["size"] += 1
        elif rb in banned.get(ra, ()):
            dropped["rejected"] += 1
        else:
            forest.union(ra, rb)


def _safe_run(m: int, x: np.ndarray, y: np.ndarray, confirmed: np.ndarray, rejected: np.ndarray,
              max_size: int) -> np.ndarray:
    """The groups after, in each component, the longest run of its first pairs (x, y) that no guard could
    refuse, as a label per listing (0..m-1: the listings of the guarded components; `confirmed` and
    `rejected` pairs among them).

    While every group that the confirmed pairs and a component's first k pairs
    make holds at most `max_size` listings and joins no rejected pair that the
    confirmed pairs had not joined already, walking those k pairs one at a time
    would merge at every one (a merge stays inside such a group). Both
    conditions only fail more as k grows, and components never interact, so
    each component's k is found by its own bisection, all of them in step: one
    connected-components pass over these few listings per step.
    """
    confirmed = confirmed[(confirmed >= 0).all(axis=1)]
    rejected = rejected[(rejected >= 0).all(axis=1)]

    def groups(pairs: np.ndarray) -> np.ndarray:
        rows, cols = np.r_[confirmed[:, 0], x[pairs]], np.r_[confirmed[:, 1], y[pairs]]
        graph = sparse.coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(m, m)).tocsr()
        return connected_components(graph, directed=False)[1]

    before = groups(np.zeros(len(x), bool))
    component = groups(np.ones(len(x), bool))
    count = int(component.max(initial=-1)) + 1
    unit = component[x]  # each pair's component
    length = np.bincount(unit, minlength=count)
    rank = np.empty(len(x), np.int64)  # each pair's place in its component's walk
    rank[argsort_keys(unit, count)] = np.arange(len(x)) - np.repeat(np.cumsum(length) - length, length)
    low, high = np.zeros(count, np.int64), length
    while (low < high).any():
        middle = (low + high + 1) // 2
        taken = rank < middle[unit]
        labels = groups(taken)
        unsafe = np.zeros(count, bool)
        unsafe[unit[taken & (np.bincount(labels)[labels[x]] > max_size)]] = True
        joined = (labels[rejected[:, 0]] == labels[rejected[:, 1]]) & (before[rejected[:, 0]] != before[rejected[:, 1]])
        unsafe[component[rejected[joined, 0]]] = True
        low, high = np.where(unsafe, low, middle), np.where(unsafe, middle - 1, high)
    return groups(rank < low[unit])


def _as_pairs(pairs) -> np.ndarray:
    return np.asarray(pairs, np.int64).reshape(-1, 2)


def _first_of(labels: np.ndarray, bound: int) -> np.ndarray:
    """For each position, the first position with the same label (labels below `bound`): linear, no sort."""
    first = np.full(bound, len(labels), np.int64)
    np.minimum.at(first, labels, np.arange(len(labels)))
    return first[labels]


def group_table(table: pd.DataFrame, rule, posting_ids, decisions=None, config: GroupingConfig | None = None) -> Groups:
    """The groups of a neighbour table's matches under `rule` (a UnionRule), strongest margin first."""
    rows = rule.matched_rows(table)
    return group_matches(len(posting_ids), table["query"].to_numpy()[rows], table["candidate"].to_numpy()[rows],
                         rule.margin(table, rows=rows), posting_ids, decisions, config)


def tune_grouping(table: pd.DataFrame, rule, labels, posting_ids, max_sizes=(10, 20, 30, 50),
                  min_supports=(0.0, 0.15, 0.25, 0.35, 0.5)) -> tuple[GroupingConfig, float]:
    """The guards that give labelled groups the best mean F1, like thresholds are tuned; ties go to looser guards."""
    biggest = int(np.bincount(group_codes(labels)).max())
    sizes = sorted({max(size, biggest) for size in max_sizes})  # never cap below a real group's size
    best, best_f1 = GroupingConfig(), -1.0
    for max_size in reversed(sizes):
        for min_support in min_supports:
            config = GroupingConfig(max_size=max_size, min_support=min_support)
            f1 = score_matches(group_table(table, rule, posting_ids, config=config).match_sets(), labels).mean_f1
            if f1 > best_f1 + 1e-9:
                best, best_f1 = config, f1
    return best, best_f1


def _unique_pairs(n: int, query, candidate, score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected pairs (a < b), each once with its best score; self-pairs dropped."""
    query, candidate = np.asarray(query, np.int64), np.asarray(candidate, np.int64)
    score = np.asarray(score)
    score = score if np.issubdtype(score.dtype, np.floating) else score.astype(np.float64)
    if not len(query) == len(candidate) == len(score):
        raise ValueError("query, candidate and score must have the same length")
    if len(query) and (min(query.min(), candidate.min()) < 0 or max(query.max(), candidate.max()) >= n):
        raise ValueError(f"pair positions must lie in 0..{n - 1}")
    a, b = np.minimum(query, candidate), np.maximum(query, candidate)
    distinct = a != b
    if not distinct.all():
        a, b, score = a[distinct], b[distinct], score[distinct]
    key = a * n + b
    if not len(key):
        return a, b, score
    order = argsort_keys(key, n * n)  # one key, sorted packed with its index: 3 times faster than argsort
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    first = order[starts]
    return a[first], b[first], np.maximum.reduceat(score[order], starts)


def _weak_bridges(n: int, a: np.ndarray, b: np.ndarray, config: GroupingConfig) -> np.ndarray:
    """Which pairs join two listings with `min_degree` matches each whose match sets barely overlap.

    `a`, `b`: distinct undirected pairs (_unique_pairs). Only pairs between two
    such listings have their overlap counted: a pair of a group of two, the
    commonest size, costs nothing here.
    """
    sizes = np.bincount(a, minlength=n) + np.bincount(b, minlength=n) + 1  # closed match sets: itself included
    dense = np.flatnonzero(np.minimum(sizes[a], sizes[b]) > config.min_degree)
    bridge = np.zeros(len(a), bool)
    if not len(dense) or config.min_support <= 0:
        return bridge
    x, y = a[dense], b[dense]
    shared = shared_counts(n, a, b, x, y)
    bridge[dense] = shared < config.min_support * (sizes[x] + sizes[y] - shared)
    return bridge


def shared_counts(n: int, a: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray,
                  dense_limit: int = DENSE_COMPONENT) -> np.ndarray:
    """How many listings the closed match sets of x and y share (each set includes its listing), in the graph
    of the pairs (a, b); each (x, y) lies in one connected component.

    Counted per component, as its adjacency matrix squared: match graphs are
    mostly groups of a few to a few tens of listings, whose small dense products,
    batched by padded size, beat gathering sparse rows for every pair (the
    million-listing benchmark catalogue: 0.38 s against 0.62 s, and no
    temporaries of tens of millions of entries). Components over `dense_limit`
    listings (long chains, a threshold set very low) take the sparse products.
    """
    graph = sparse.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    component = connected_components(graph, directed=False)[1]
    size = np.bincount(component)
    local = np.empty(n, np.int64)  # each listing's position within its component
    order = argsort_keys(component, n)
    local[order] = np.arange(n) - np.repeat(np.cumsum(size) - size, size)
    pad = np.where(size <= min(dense_limit, DENSE_COMPONENT), _PADS[np.minimum(np.searchsorted(_PADS, size), len(_PADS) - 1)], 0)
    pair_component, edge_component = component[x], component[a]
    batch, slot, widths, counts = _batches(np.flatnonzero(np.bincount(pair_component, minlength=len(size))), pad)
    # Each listing's first cell in its batch's matrices, flattened: a pair (i, j) is cell[i] + local[j].
    cell = (slot[component] * pad[component] + local) * pad[component]
    # Edges and pairs in batch order, once: each batch then reads contiguous slices.
    edge_order, edge_bounds = _by_key(batch[edge_component], len(widths))
    pair_order, pair_bounds = _by_key(batch[pair_component], len(widths))
    edge_a, edge_b, pair_x, pair_y = a[edge_order], b[edge_order], x[pair_order], y[pair_order]
    edge_cells, back_cells = cell[edge_a] + local[edge_b], cell[edge_b] + local[edge_a]
    pair_cells = cell[pair_x] + local[pair_y]
    found = np.zeros(len(pair_order), np.int64)
    for k, (width, count) in enumerate(zip(widths.tolist(), counts.tolist())):
        e, p = slice(edge_bounds[k], edge_bounds[k + 1]), slice(pair_bounds[k], pair_bounds[k + 1])
        matrices = np.zeros((count, width, width), np.float32)
        flat = matrices.reshape(-1)
        flat[edge_cells[e]] = flat[back_cells[e]] = 1
        matrices[:, np.arange(width), np.arange(width)] = 1  # closed sets; padding rows meet no listing
        found[p] = np.matmul(matrices, matrices).reshape(-1)[pair_cells[p]]
    shared = np.zeros(len(x), np.int64)
    shared[pair_order] = found
    rest = np.flatnonzero(pad[pair_component] == 0)
    if len(rest):  # sparse products over the large components' listings alone
        big = np.flatnonzero(pad[component] == 0)
        compact = np.full(n, -1, np.int64)
        compact[big] = np.arange(len(big))
        edges = pad[edge_component] == 0
        adjacency = sparse.coo_matrix((np.ones(int(edges.sum()), np.int32), (compact[a[edges]], compact[b[edges]])),
                                      shape=(len(big), len(big)))
        closed = (adjacency + adjacency.T + sparse.identity(len(big), np.int32, format="csr")).tocsr()
        rows_x, rows_y = closed[compact[x[rest]]], closed[compact[y[rest]]]
        shared[rest] = np.asarray(rows_x.multiply(rows_y).sum(axis=1)).ravel()
    return shared


def _batches(components: np.ndarray, pad: np.ndarray):
    """Components (those with pad > 0) in batches of one padded width, each batch's matrices at most
    _DENSE_BYTES: every component's batch (-1: none) and slot in it, and each batch's width and size."""
    components = components[pad[components] > 0]
    components = components[np.argsort(pad[components], kind="stable")]
    width = pad[components]
    first = np.r_[True, width[1:] != width[:-1]]
    rank = np.arange(len(components)) - np.maximum.accumulate(np.where(first, np.arange(len(components)), 0))
    per = np.maximum(1, _DENSE_BYTES // (4 * width * width))
    new = first | (rank % per == 0)
    batch, slot = np.full(len(pad), -1), np.full(len(pad), -1)
    batch[components] = np.cumsum(new) - 1
    slot[components] = rank % per
    return batch, slot, width[new], np.diff(np.r_[np.flatnonzero(new), len(components)])


def _by_key(keys: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The indices of `keys` with a value in 0..count-1, ordered by it, and where each value's run starts."""
    if count < 2 ** 15:
        keys = keys.astype(np.int16)  # a stable sort of 16-bit keys is a radix sort: linear
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(count + 1))
    return order[bounds[0]:], bounds - bounds[0]


def _guarded_components(n: int, a: np.ndarray, b: np.ndarray, confirmed, rejected,
                        max_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each listing's connected component over the model's and the confirmed pairs, and which listings lie
    in a component where a guard may refuse a merge (larger than `max_size`, or holding a rejected pair)."""
    x = np.r_[a, np.asarray(confirmed, np.int64).reshape(-1, 2)[:, 0]]
    y = np.r_[b, np.asarray(confirmed, np.int64).reshape(-1, 2)[:, 1]]
    graph = sparse.coo_matrix((np.ones(len(x), np.int8), (x, y)), shape=(n, n)).tocsr()
    component = connected_components(graph, directed=False)[1].astype(np.int64)
    risky = np.bincount(component) > max_size
    refused = np.asarray(rejected, np.int64).reshape(-1, 2)
    same = component[refused[:, 0]] == component[refused[:, 1]]
    risky[component[refused[same, 0]]] = True
    return component, risky[component]


def _decision_pairs(decisions, posting_ids: np.ndarray) -> tuple[list[list[int]], list[list[int]], int]:
    """Confirmed and rejected pairs as positions, and how many decisions named unknown posting ids."""
    columns = ["posting_id_a", "posting_id_b", "decision"]
    if decisions is None:
        return [], [], 0
    frame = decisions[columns] if isinstance(decisions, pd.DataFrame) else pd.DataFrame(list(decisions), columns=columns)
    unexpected = set(frame["decision"]) - set(DECISIONS)
    if unexpected:
        raise ValueError(f"decisions must be one of {DECISIONS}, got {sorted(map(str, unexpected))}")
    index = pd.Index(posting_ids.astype(str))
    x = index.get_indexer(frame["posting_id_a"].astype(str))
    y = index.get_indexer(frame["posting_id_b"].astype(str))
    known = (x >= 0) & (y >= 0)
    pairs = pd.DataFrame({"a": np.minimum(x, y), "b": np.maximum(x, y), "decision": frame["decision"].to_numpy()})
    pairs = pairs[known & (x != y)].drop_duplicates(["a", "b"], keep="last")
    confirmed, rejected = (pairs.loc[pairs["decision"] == d, ["a", "b"]].to_numpy().tolist() for d in DECISIONS)
    return confirmed, rejected, int((~known).sum())


class _Forest:
    """Union-find (path compression, union by size) that also tracks which components may never merge.

    `banned[root]` holds the roots of components it has a rejected pair with, kept current on every union.
    """

    def __init__(self, n: int):
        self.parent = list(range(n))
        self.size = [1] * n
        self.banned: dict[int, set[int]] = {}

    def find(self, x: int) -> int:
        parent = self.parent  # a local name: the walk calls this hundreds of thousands of times
        while parent[x] != x:
            parent[x] = x = parent[parent[x]]  # path halving: each step points a listing at its grandparent
        return x

    def forbid(self, pairs) -> int:
        """Ban merging the components of each rejected pair; returns how many pairs already share one."""
        conflicts = 0
        for x, y in pairs:
            rx, ry = self.find(x), self.find(y)
            if rx == ry:
                conflicts += 1
            else:
                self.banned.setdefault(rx, set()).add(ry)
                self.banned.setdefault(ry, set()).add(rx)
        return conflicts

    def union(self, ra: int, rb: int) -> None:
        """Merge two roots; the smaller component's ban list moves to the survivor, its partners repointed."""
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        moved = self.banned.pop(rb, set())
        for partner in moved:
            self.banned[partner].discard(rb)
            self.banned[partner].add(ra)
        if moved:
            self.banned.setdefault(ra, set()).update(moved)


def _groups(roots: np.ndarray, posting_ids: np.ndarray, dropped: dict) -> Groups:
    """Number groups by their first listing (roots are below 2n); each is named by its members' posting ids
    when first asked."""
    first = _first_of(roots, 2 * len(roots))
    labels = (np.cumsum(first == np.arange(len(roots))) - 1)[first]
    return Groups(labels=labels, dropped=dropped, posting_ids=posting_ids)


def _group_ids(labels: np.ndarray, posting_ids: np.ndarray) -> np.ndarray:
    """Each listing's group id: group_id of its group's posting ids, every group hashed once.

    Listings are ordered by group, then by posting id, once for all groups, so each group's ids are
    joined already sorted (what group_id does per group).
    """
    posting_ids = np.asarray(posting_ids).astype(str)
    order = np.lexsort((posting_ids, labels))
    ends = np.cumsum(np.bincount(labels))
    ordered = posting_ids[order].tolist()
    names, start = [], 0
    for end in ends.tolist():
        names.append("G" + hashlib.sha1("\n".join(ordered[start:end]).encode()).hexdigest()[:12])
        start = end
    return np.array(names)[labels]


def _members(labels: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.cumsum(np.bincount(labels)))[:-1]


def group_id(posting_ids) -> str:
    """A group's stable id: "G" and 12 hex digits of the sha1 of its sorted posting ids, one a line."""
    return "G" + hashlib.sha1("\n".join(sorted(map(str, posting_ids))).encode()).hexdigest()[:12]
