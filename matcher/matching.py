"""From the neighbour table to match sets: thresholds on channels and on their weighted mean.

A pair matches when any channel, or the fused score (a weighted mean of the
channels' similarities), reaches its threshold; a listing left with no match
keeps its best candidate when that one's score (the fused score, or any other
column such as the learned pair probability) is high enough ("at least one
match"), optionally only when each is the other's best ("mutual"). Thresholds
and weights are tuned on labelled groups for the competition metric, counted
straight from the table, so moving a threshold costs milliseconds and never a
model run.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matcher.metric import MatchScores, group_codes, scores_from_counts
from matcher.neighbours import sim_column
from matcher.sweep_counts import sweep_counts

OFF = 1.01  # a threshold no cosine similarity reaches: the channel is not used
FUSED = "fused"
GRID = np.round(np.arange(0.20, 1.0001, 0.01), 2)


@dataclass
class UnionRule:
    """Match when any score reaches its threshold; keep at most `max_matches` per listing (self included)."""

    thresholds: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    rescue: float = OFF
    max_matches: int = 50
    rescue_by: str = FUSED     # the score a listing's best candidate is rescued on
    mutual: bool = False       # rescue only pairs that are each other's best candidate

    def active(self) -> dict[str, float]:
        return {c: t for c, t in self.thresholds.items() if t < OFF}

    def to_dict(self) -> dict:
        return {"rule": "union", "thresholds": dict(self.thresholds), "weights": dict(self.weights),
                "rescue": self.rescue, "rescue_by": self.rescue_by, "mutual": self.mutual,
                "max_matches": self.max_matches}

    @classmethod
    def from_dict(cls, data: dict) -> "UnionRule":
        return cls(thresholds={c: float(t) for c, t in data["thresholds"].items()},
                   weights={c: float(w) for c, w in data.get("weights", {}).items()},
                   rescue=float(data.get("rescue", OFF)), max_matches=int(data["max_matches"]),
                   rescue_by=data.get("rescue_by", FUSED), mutual=bool(data.get("mutual", False)))

    def restricted_to(self, channels) -> "UnionRule":
        """The same rule on a table holding only `channels` (a catalogue without titles or pHashes)."""
        channels = set(channels)
        weights = {c: w for c, w in self.weights.items() if c in channels}
        keep = channels | ({FUSED} if weights else set())
        return UnionRule({c: t for c, t in self.thresholds.items() if c in keep}, weights,
                         self.rescue if self.rescue_by in keep else OFF, self.max_matches, self.rescue_by,
                         self.mutual)

    # `fused`, where a method takes it, is `fused_score(table, self.weights)` when the caller already has it.

    def rescue_score(self, table: pd.DataFrame, fused: np.ndarray | None = None) -> np.ndarray:
        if self.rescue_by == FUSED:
            return fused_score(table, self.weights) if fused is None else fused
        return table[sim_column(self.rescue_by)].to_numpy(np.float32)

    def scores(self, table: pd.DataFrame, fused: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every score the rule thresholds, per table row: channel similarities and the fused score."""
        sims = {c: table[sim_column(c)].to_numpy(np.float32) for c in self.thresholds if c != FUSED}
        if self.weights:
            sims[FUSED] = fused_score(table, self.weights) if fused is None else fused
        return sims

    def margin(self, table: pd.DataFrame, fused: np.ndarray | None = None,
               rows: np.ndarray | None = None) -> np.ndarray:
        """How far each pair is past its nearest threshold (>= 0: a match); orders a listing's matches.
        `rows`: only those rows (positions), in that order.

        The running maximum starts at -inf (where every score is NaN, the margin stays -inf) and is
        taken in place: on millions of rows, fresh arrays cost more than the arithmetic.
        """
        margin = None
        for channel, sims in self.scores(table, fused).items():
            if self.thresholds[channel] < OFF:
                past = (sims if rows is None else sims[rows]) - self.thresholds[channel]
                if margin is None:
                    margin = np.fmax(past, -np.inf, out=past)  # fmax(-inf, x): x, or -inf for NaN
                else:
                    margin = np.fmax(margin, past, out=margin if np.result_type(margin, past) == margin.dtype else None)
        return np.full(len(table) if rows is None else len(rows), -np.inf, np.float32) if margin is None else margin

    def matched_rows(self, table: pd.DataFrame, fused: np.ndarray | None = None,
                     best: np.ndarray | None = None) -> np.ndarray:
        """The positions of the rows that match, ascending (see matched)."""
        return self.matched(table, fused, best)[0]

    def matched(self, table: pd.DataFrame, fused: np.ndarray | None = None, best: np.ndarray | None = None,
                reaching: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The positions of the rows that match, ascending, and each one's query: thresholds, then the cap,
        then the rescue.

        One comparison per threshold, then work on the matches alone: a margin is
        computed only for the rows of listings over the cap, never for the whole
        table (a million listings' table has 140 million rows, a few million matches).
        The queries are read once, for the cap, the rescue and the caller (grouping
        reads them too). `best` is `best_candidates(table, self.rescue_score(table))`
        when the caller already has it (it depends on no threshold); `reaching`, the
        rows where any score reaches its threshold (ascending), likewise.
        """
        query = table["query"].to_numpy()
        rows = reaching
        if rows is None:
            rows = np.flatnonzero(_mask(self.scores(table, fused), self.thresholds, len(table)))
        matched = query[rows]
        kept = _capped(matched, lambda over: self.margin(table, fused, rows[over]), self.max_matches - 1)
        if kept is not None:
            rows, matched = rows[kept], matched[kept]
        if self.rescue < OFF and len(query):
            rescued = np.sort(rescued_rows(table, self.rescue_score(table, fused), matched, self.rescue, self.mutual, best))
            at = np.searchsorted(rows, rescued)  # disjoint: rescued listings had no match
            rows, matched = np.insert(rows, at, rescued), np.insert(matched, at, query[rescued])
        return rows, matched

    def matches(self, table: pd.DataFrame, fused: np.ndarray | None = None,
                best: np.ndarray | None = None) -> np.ndarray:
        """Which rows of the table match, as a mask (see matched_rows)."""
        mask = np.zeros(len(table), bool)
        mask[self.matched_rows(table, fused, best)] = True
        return mask


def best_candidates(table: pd.DataFrame, score: np.ndarray) -> np.ndarray:
    """Each listing's best row by `score` (see best_rows), over every position the table names."""
    query, candidate = table["query"].to_numpy(), table["candidate"].to_numpy()
    return best_rows(query, score, int(max(query.max(), candidate.max())) + 1)


def rescued_rows(table: pd.DataFrame, score: np.ndarray, matched_queries: np.ndarray, threshold: float,
                 mutual: bool, best: np.ndarray | None = None) -> np.ndarray:
    """The best row of each listing without a match (none among `matched_queries`, the matched rows'
    queries), where its score reaches `threshold` (`best`: `best_candidates(table, score)` when the caller
    already has it)."""
    query, candidate = table["query"].to_numpy(), table["candidate"].to_numpy()
    best = best_candidates(table, score) if best is None else best
    matched = np.zeros(len(best), bool)
    matched[matched_queries] = True  # listings with a match (a lookup: no sort of millions of matches)
    rows = best[best >= 0]
    rows = rows[~matched[query[rows]] & (score[rows] >= threshold)]
    if mutual:  # the candidate's own best candidate must be this query
        back = best[candidate[rows]]
        rows = rows[(back >= 0) & (candidate[np.maximum(back, 0)] == query[rows])]
    return rows


def fused_score(table: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
    """Weighted mean of the channels' similarities over the channels with evidence for the pair."""
    total = np.zeros(len(table), np.float32)
    weight = np.zeros(len(table), np.float32)
    for channel, w in weights.items():
        sims = table[sim_column(channel)].to_numpy(np.float32)
        known = ~np.isnan(sims)
        total[known] += w * sims[known]
        weight[known] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan).astype(np.float32)


def grid_bins(scores: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each score's bin on an ascending grid: the index of the highest grid value it reaches, -1 below the
    grid or NaN. Depends on the scores alone, so a caller sweeping one column many times can keep it."""
    bins = np.full(len(scores), -1, np.min_scalar_type(-len(grid)))  # int8 for the app's grid: a byte a row
    reach = scores >= grid[0]
    bins[reach] = np.searchsorted(grid, scores[reach], side="right") - 1
    return bins


def best_rows(query: np.ndarray, score: np.ndarray, n: int) -> np.ndarray:
    """Each listing's best-scoring table row, the first on ties (-1 where none has a score).

    A table sorted by query (as stored) is done in one pass of segment maxima;
    any other order is sorted first.
    """
    best = np.full(n, -1, np.int64)
    if not len(query):
        return best
    order = None
    if (np.diff(query) < 0).any():
        order = np.argsort(query, kind="stable")
        query, score = query[order], score[order]
    value = np.where(np.isnan(score), -np.inf, score)
    starts = np.flatnonzero(np.r_[True, query[1:] != query[:-1]])
    top = np.repeat(np.maximum.reduceat(value, starts), np.diff(np.r_[starts, len(query)]))
    hits = np.flatnonzero((value == top) & (value > -np.inf))
    first = hits[np.r_[True, query[hits][1:] != query[hits][:-1]]] if len(hits) else hits
    best[query[first]] = first if order is None else order[first]
    return best


def _capped(matched: np.ndarray, margin_of, cap: int) -> np.ndarray | None:
    """Which of the matches (their queries, `matched`) are their query's `cap` best by margin
    (`margin_of(indices)`), as a mask; None when no query has more than `cap`.

    Only the matches of queries over the cap are scored and sorted (few: most
    listings have fewer matches than the cap), not every match.
    """
    if not len(matched):
        return None
    counts = np.bincount(matched)
    if counts.max() <= cap:
        return None
    over = np.flatnonzero(counts[matched] > cap)
    over = over[np.lexsort((-margin_of(over), matched[over]))]
    q = matched[over]
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    rank = np.arange(len(q)) - np.repeat(starts, np.diff(np.r_[starts, len(q)]))
    keep = np.ones(len(matched), bool)
    keep[over[rank >= cap]] = False
    return keep


def match_sets(table: pd.DataFrame, n_listings: int, rule: UnionRule) -> list[np.ndarray]:
    """Each listing's matches (positions, itself first, then best first), as the submission lists them."""
    rows = rule.matched_rows(table)
    query = table["query"].to_numpy()[rows]
    candidate = table["candidate"].to_numpy()[rows]
    order = np.lexsort((-rule.margin(table, rows=rows), query))
    query, candidate = query[order], candidate[order]
    bounds = np.searchsorted(query, np.arange(n_listings + 1))
    return [np.concatenate([[i], candidate[bounds[i]:bounds[i + 1]]]) for i in range(n_listings)]


class RuleScorer:
    """Scores rules on one labelled neighbour table, and sweeps a threshold over a whole grid at once."""

    def __init__(self, table: pd.DataFrame, labels):
        codes = group_codes(labels)
        self.n = len(codes)
        self.table = table
        self.query = table["query"].to_numpy()
        self.same = codes[self.query] == codes[table["candidate"].to_numpy()]
        self.group_size = np.bincount(codes)[codes]
        # A sweep reads each listing's rows: by position in a table sorted by query (as stored), through
        # `order` otherwise (empty: sorted).
        unsorted = bool((self.query[1:] < self.query[:-1]).any())
        self.order = np.argsort(self.query, kind="stable") if unsorted else np.zeros(0, np.int64)
        self.bounds = np.searchsorted(self.query[self.order] if unsorted else self.query, np.arange(self.n + 1))

    def rule_scores(self, rule: UnionRule) -> MatchScores:
        return self.mask_scores(rule.matched_rows(self.table))

    def mask_scores(self, mask: np.ndarray) -> MatchScores:
        """Scores of the match sets that the table rows in `mask` (a boolean mask, or row positions) make."""
        rows = np.flatnonzero(mask) if mask.dtype == bool else mask
        query = self.query[rows]
        predicted = np.bincount(query, minlength=self.n)
        correct = np.bincount(query[self.same[rows]], minlength=self.n)
        return scores_from_counts(predicted + 1, correct + 1, self.group_size)

    # `bins`, where a method takes it, is `grid_bins(scores, grid)` when the caller already has it.

    def sweep(self, fixed: np.ndarray, scores: np.ndarray, grid: np.ndarray, bins: np.ndarray | None = None) -> np.ndarray:
        """Mean F1 of `fixed | (scores >= t)` for every t of an ascending grid (cap not applied)."""
        return self._sweep_means(fixed, scores, grid, bins)["f1"]

    def sweep_scores(self, fixed: np.ndarray, scores: np.ndarray, grid: np.ndarray,
                     bins: np.ndarray | None = None) -> pd.DataFrame:
        """Matched rows, mean precision, recall and F1 of `fixed | (scores >= t)` for every t of an ascending grid."""
        return pd.DataFrame({"threshold": grid, **self._sweep_means(fixed, scores, grid, bins)})

    def _sweep_means(self, fixed: np.ndarray, scores: np.ndarray, grid: np.ndarray, bins) -> dict:
        """Matched rows, and mean precision, recall and F1 over listings, at every grid threshold: each row
        binned by the highest grid value it passes, then one compiled pass (matcher.sweep_counts)."""
        bins = grid_bins(scores, grid) if bins is None else bins
        pairs, f1, precision, recall = sweep_counts(self.bounds, self.order, fixed, bins, self.same, self.group_size,
                                                    len(grid))
        return {"pairs": pairs, "precision": precision, "recall": recall, "f1": f1}

    def none_f1(self, fixed: np.ndarray) -> float:
        """Mean F1 of `fixed` alone: the score of a threshold switched off."""
        predicted = np.bincount(self.query[fixed], minlength=self.n)
        correct = np.bincount(self.query[fixed & self.same], minlength=self.n)
        return float((2 * (correct + 1) / (predicted + 1 + self.group_size)).mean())


def tune_rule(table: pd.DataFrame, labels, channels, fuse=(), max_matches: int = 50,
              rounds: int = 3, weight_step: float = 0.1, rescue_by: str | None = None) -> tuple[UnionRule, float]:
    """Weights of the fused score, every threshold, and the rescue threshold, maximising mean F1.

    The fused score's weights are searched on a simplex grid, each with its
    best threshold; then every threshold in turn is swept with the others
    fixed ("off" included, so a channel that only adds false matches is
    dropped); last, the rescue threshold on `rescue_by` (default: the fused
    score when there is one), with and without the mutual check.
    """
    scorer = RuleScorer(table, labels)
    fuse = [c for c in fuse if c in channels]
    weights = _tune_weights(scorer, table, fuse, weight_step) if len(fuse) > 1 else {}
    scores = {c: table[sim_column(c)].to_numpy(np.float32) for c in channels}
    if weights:
        scores[FUSED] = fused_score(table, weights)
    thresholds = {c: OFF for c in scores}
    for _ in range(rounds):
        changed = False
        for channel in scores:
            fixed = _mask(scores, {c: t for c, t in thresholds.items() if c != channel}, len(table))
            f1 = scorer.sweep(fixed, scores[channel], GRID)
            best = float(GRID[f1.argmax()]) if f1.max() > scorer.none_f1(fixed) else OFF
            changed |= best != thresholds[channel]
            thresholds[channel] = best
        if not changed:
            break
    rule = UnionRule(thresholds, weights, OFF, max_matches, rescue_by or FUSED)
    if rescue_by is not None or weights:
        rule.rescue, rule.mutual = _tune_rescue(scorer, rule)
    return rule, scorer.rule_scores(rule).mean_f1


def _mask(scores: dict[str, np.ndarray], thresholds: dict[str, float], length: int) -> np.ndarray:
    """The rows where any score reaches its threshold (the comparison is exact: margin >= 0 exactly there)."""
    mask = np.zeros(length, bool)
    for channel, threshold in thresholds.items():
        if threshold < OFF:
            mask |= scores[channel] >= threshold
    return mask


def _tune_weights(scorer: RuleScorer, table, channels, step: float) -> dict[str, float]:
    """The simplex grid point whose fused score reaches the best F1 at its best threshold."""
    ticks = np.round(np.arange(0, 1 + 1e-9, step), 6)
    nothing = np.zeros(len(table), bool)
    best, best_f1 = {}, -1.0
    for combo in itertools.product(ticks, repeat=len(channels) - 1):
        last = 1 - sum(combo)
        if last < -1e-9:
            continue
        weights = {c: float(w) for c, w in zip(channels, [*combo, round(last, 6)]) if w > 0}
        f1 = scorer.sweep(nothing, fused_score(table, weights), GRID).max()
        if f1 > best_f1:
            best, best_f1 = weights, f1
    return best


def _tune_rescue(scorer: RuleScorer, rule: UnionRule) -> tuple[float, bool]:
    """The score from which a listing with no match keeps its best candidate (OFF if that never helps),
    and whether to ask for mutual best candidates: whichever gains more F1."""
    matched = rule.matched(scorer.table)[1]
    score = rule.rescue_score(scorer.table)
    best = (OFF, False, 0.0)
    for mutual in (False, True):
        rows = rescued_rows(scorer.table, score, matched, -np.inf, mutual)
        size = scorer.group_size[scorer.query[rows]]
        gain = 2 * (1 + scorer.same[rows]) / (2 + size) - 2 / (1 + size)
        totals = np.array([gain[score[rows] >= t].sum() for t in GRID])
        if totals.max(initial=0) > best[2]:
            best = (float(GRID[totals.argmax()]), mutual, float(totals.max()))
    return best[0], best[1]
