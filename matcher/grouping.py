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
from matcher.graph import capped_walk, closed_overlaps, components, undirected_pairs
from matcher.metric import group_codes, score_matches
from matcher.sorting import argsort_keys

DECISIONS = ("confirmed", "rejected")


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
        return _group_ids(compact, self._posting_ids[members])[np.searchsorted(members, positions)]

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


def group_matches(n: int, query: np.ndarray, candidate: np.ndarray, score, posting_ids,
                  decisions=None, config: GroupingConfig | None = None) -> Groups:
    """Group `n` listings from match pairs (positions, any direction, repeats allowed) and moderators' decisions.

    `score`: each pair's score (the best of a pair's copies counts), as an array, or as a function giving
    the scores at some of the pairs' indices: only pairs the strongest-first walk reaches need one (a fifth
    of them at a million listings, where computing every margin cost a fifth of the grouping).
    `decisions` holds (posting_id_a, posting_id_b, decision) rows, decision "confirmed" or "rejected"
    (a DataFrame with those columns, or any iterable of triples); the last decision on a pair wins.
    `posting_ids`: a sequence, or a pd.Index whose lookup table is kept between calls (see _decision_pairs).
    """
    config = config or GroupingConfig()
    if not callable(score) and len(score) != len(query):
        raise ValueError("query, candidate and score must have the same length")
    a, b, pair_of = _unique_pairs(n, query, candidate)
    kept = ~_weak_bridges(n, a, b, config)
    confirmed, rejected, unknown = _decision_pairs(decisions, posting_ids)
    # Pairs only ever merge within a connected component of all the pairs. A component no larger than
    # max_size and free of rejected pairs is merged whole, whatever the order: only the others need
    # the strongest-first walk (few, on real catalogues; sorting every pair would cost more than walking them),
    # which gives exactly what walking every pair would.
    component, guarded = _guarded_components(n, a[kept], b[kept], confirmed, rejected, config.max_size)
    walk = kept & guarded[a]
    score = _best_scores(pair_of, walk, score)
    a, b = a[walk], b[walk]
    order = np.lexsort((b, a, -score))
    walked, too_big, refused, conflicts = capped_walk(n, a[order], b[order], confirmed, rejected, config.max_size)
    dropped = {"size": int(too_big), "bridge": int((~kept).sum()), "rejected": int(refused),
               "unknown_decisions": unknown, "conflicts": int(conflicts)}
    # Both name each group by one of its listings: a component merged whole, and the walk's groups.
    return _groups(np.where(guarded, walked, component), posting_ids if isinstance(posting_ids, pd.Index)
                   else np.asarray(posting_ids), dropped)


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
                         lambda at: rule.margin(table, rows=rows[at]), posting_ids, decisions, config)


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


def _unique_pairs(n: int, query, candidate) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected pairs (a < b), each once, self-pairs dropped; and each given pair's index among them (-1: self)."""
    query, candidate = np.asarray(query, np.int64), np.asarray(candidate, np.int64)
    if len(query) != len(candidate):
        raise ValueError("query, candidate and score must have the same length")
    if len(query) and (min(query.min(), candidate.min()) < 0 or max(query.max(), candidate.max()) >= n):
        raise ValueError(f"pair positions must lie in 0..{n - 1}")
    return undirected_pairs(n, query, candidate)


def _best_scores(pair_of: np.ndarray, wanted: np.ndarray, score) -> np.ndarray:
    """The best score of each `wanted` pair (a mask over the unique pairs), in their order, from the given
    pairs that are copies of them (NaN where any copy's is, like np.maximum). `score`: see group_matches."""
    count = int(np.count_nonzero(wanted))
    slot = np.full(len(wanted) + 1, -1, np.int64)  # the last slot answers self-pairs (pair_of -1): none
    slot[:-1][wanted] = np.arange(count)
    slot = slot[pair_of]
    given = np.flatnonzero(slot >= 0)
    values = score(given) if callable(score) else np.asarray(score)[given]
    values = values if np.issubdtype(values.dtype, np.floating) else values.astype(np.float64)
    best = np.full(count, -np.inf, values.dtype)
    with np.errstate(invalid="ignore"):  # NaN wins, as meant
        np.maximum.at(best, slot[given], values)
    return best


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
    shared = closed_overlaps(n, a, b, x, y)
    bridge[dense] = shared < config.min_support * (sizes[x] + sizes[y] - shared)
    return bridge


def _guarded_components(n: int, a: np.ndarray, b: np.ndarray, confirmed: np.ndarray, rejected: np.ndarray,
                        max_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each listing's connected component over the model's and the confirmed pairs, and which listings lie
    in a component where a guard may refuse a merge (larger than `max_size`, or holding a rejected pair)."""
    component = components(n, np.r_[a, confirmed[:, 0]], np.r_[b, confirmed[:, 1]])
    risky = np.bincount(component, minlength=n) > max_size
    same = component[rejected[:, 0]] == component[rejected[:, 1]]
    risky[component[rejected[same, 0]]] = True
    return component, risky[component]


def _decision_pairs(decisions, posting_ids) -> tuple[np.ndarray, np.ndarray, int]:
    """Confirmed and rejected pairs as positions (two columns), and how many decisions named unknown posting ids.

    `posting_ids` may be a pd.Index of them, whose lookup table is then built once for many calls
    (half a second at a million listings).
    """
    columns = ["posting_id_a", "posting_id_b", "decision"]
    if decisions is None:
        return _as_pairs([]), _as_pairs([]), 0
    frame = decisions[columns] if isinstance(decisions, pd.DataFrame) else pd.DataFrame(list(decisions), columns=columns)
    unexpected = set(frame["decision"]) - set(DECISIONS)
    if unexpected:
        raise ValueError(f"decisions must be one of {DECISIONS}, got {sorted(map(str, unexpected))}")
    index = posting_ids if isinstance(posting_ids, pd.Index) else pd.Index(np.asarray(posting_ids).astype(str))
    x = index.get_indexer(frame["posting_id_a"].astype(str))
    y = index.get_indexer(frame["posting_id_b"].astype(str))
    known = (x >= 0) & (y >= 0)
    pairs = pd.DataFrame({"a": np.minimum(x, y), "b": np.maximum(x, y), "decision": frame["decision"].to_numpy()})
    pairs = pairs[known & (x != y)].drop_duplicates(["a", "b"], keep="last")
    confirmed, rejected = (_as_pairs(pairs.loc[pairs["decision"] == d, ["a", "b"]].to_numpy()) for d in DECISIONS)
    return confirmed, rejected, int((~known).sum())


def _groups(roots: np.ndarray, posting_ids: np.ndarray, dropped: dict) -> Groups:
    """Number groups by their first listing (`roots`: each listing's group as one of its listings); each is
    named by its members' posting ids when first asked."""
    first = _first_of(roots, len(roots))
    labels = (np.cumsum(first == np.arange(len(roots))) - 1)[first]
    return Groups(labels=labels, dropped=dropped, posting_ids=posting_ids)


def _group_ids(labels: np.ndarray, posting_ids: np.ndarray) -> np.ndarray:
    """Each listing's group id: group_id of its group's posting ids, every group hashed once.

    Listings are ordered by group with an integer sort, and each group's few ids
    sorted on their own (a sort of a million strings costs more than all of those).
    """
    posting_ids = np.asarray(posting_ids).astype(str)
    ordered = posting_ids[argsort_keys(labels, len(labels))].tolist()
    names, start = [], 0
    for end in np.cumsum(np.bincount(labels)).tolist():
        names.append("G" + hashlib.sha1("\n".join(sorted(ordered[start:end])).encode()).hexdigest()[:12])
        start = end
    return np.array(names)[labels]


def _members(labels: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(labels, kind="stable")
    return np.split(order, np.cumsum(np.bincount(labels)))[:-1]


def group_id(posting_ids) -> str:
    """A group's stable id: "G" and 12 hex digits of the sha1 of its sorted posting ids, one a line."""
    return "G" + hashlib.sha1("\n".join(sorted(map(str, posting_ids))).encode()).hexdigest()[:12]
