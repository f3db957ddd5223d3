"""From the neighbour table to match sets: per-channel thresholds and their union.

A pair matches when any channel's similarity reaches that channel's threshold
(the competition's strong baseline). Thresholds are tuned on labelled groups by
coordinate ascent on the competition metric, counted straight from the table
so that a threshold change costs milliseconds, not a model run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matcher.metric import MatchScores, group_codes, scores_from_counts
from matcher.neighbours import sim_column

OFF = 1.01  # a threshold no cosine similarity reaches: the channel is not used


@dataclass
class UnionRule:
    """Match when any channel reaches its threshold; keep at most `max_matches` (self included)."""

    thresholds: dict[str, float] = field(default_factory=dict)
    max_matches: int = 50

    def active(self) -> dict[str, float]:
        return {c: t for c, t in self.thresholds.items() if t < OFF}

    def to_dict(self) -> dict:
        return {"rule": "union", "thresholds": dict(self.thresholds), "max_matches": self.max_matches}

    @classmethod
    def from_dict(cls, data: dict) -> "UnionRule":
        return cls(thresholds={c: float(t) for c, t in data["thresholds"].items()},
                   max_matches=int(data["max_matches"]))

    def margin(self, table: pd.DataFrame) -> np.ndarray:
        """How far each pair is past its nearest threshold (positive: a match); orders a listing's matches."""
        margin = np.full(len(table), -np.inf, np.float32)
        for channel, threshold in self.active().items():
            sims = table[sim_column(channel)].to_numpy(np.float32)
            margin = np.fmax(margin, sims - threshold)
        return margin

    def matches(self, table: pd.DataFrame) -> np.ndarray:
        """Which rows of the table are matches, with the cap applied."""
        margin = self.margin(table)
        return _cap(table["query"].to_numpy(), margin, margin >= 0, self.max_matches - 1)


def _cap(query: np.ndarray, score: np.ndarray, mask: np.ndarray, cap: int) -> np.ndarray:
    """Keep each query's `cap` best-scoring matched rows (most queries are under the cap: no sort then)."""
    rows = np.flatnonzero(mask)
    if len(rows) == 0 or np.bincount(query[rows]).max() <= cap:
        return mask
    rows = rows[np.lexsort((-score[rows], query[rows]))]
    q = query[rows]
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    rank = np.arange(len(q)) - np.repeat(starts, np.diff(np.r_[starts, len(q)]))
    capped = np.zeros_like(mask)
    capped[rows[rank < cap]] = True
    return capped


def match_sets(table: pd.DataFrame, n_listings: int, rule: UnionRule) -> list[np.ndarray]:
    """Each listing's matches (positions, itself first, then best first), as the submission lists them."""
    mask = rule.matches(table)
    query = table["query"].to_numpy()[mask]
    candidate = table["candidate"].to_numpy()[mask]
    margin = rule.margin(table)[mask]
    order = np.lexsort((-margin, query))
    query, candidate = query[order], candidate[order]
    bounds = np.searchsorted(query, np.arange(n_listings + 1))
    return [np.concatenate([[i], candidate[bounds[i]:bounds[i + 1]]]) for i in range(n_listings)]


class RuleScorer:
    """Scores rules on one labelled neighbour table fast enough to sweep thresholds."""

    def __init__(self, table: pd.DataFrame, labels):
        codes = group_codes(labels)
        self.n = len(codes)
        self.query = table["query"].to_numpy()
        self.same = codes[self.query] == codes[table["candidate"].to_numpy()]
        self.group_size = np.bincount(codes)[codes]
        self.sims = {c[len("sim_"):]: table[c].to_numpy(np.float32) for c in table.columns if c.startswith("sim_")}
        self.table = table

    def scores(self, mask: np.ndarray, thresholds: dict[str, float], max_matches: int) -> MatchScores:
        """Scores of the matched rows `mask` (which `thresholds` produced), with the cap applied."""
        predicted = np.bincount(self.query[mask], minlength=self.n)
        if predicted.max(initial=0) > max_matches - 1:
            margin = UnionRule(thresholds).margin(self.table)
            mask = _cap(self.query, margin, mask, max_matches - 1)
            predicted = np.bincount(self.query[mask], minlength=self.n)
        correct = np.bincount(self.query[mask & self.same], minlength=self.n)
        return scores_from_counts(predicted + 1, correct + 1, self.group_size)

    def rule_scores(self, rule: UnionRule) -> MatchScores:
        return self.scores(self.mask(rule.thresholds), rule.thresholds, rule.max_matches)

    def mask(self, thresholds: dict[str, float]) -> np.ndarray:
        mask = np.zeros(len(self.query), bool)
        for channel, threshold in thresholds.items():
            if threshold < OFF:
                mask |= self.sims[channel] >= threshold
        return mask


def tune_union(table: pd.DataFrame, labels, channels, max_matches: int = 50,
               grid=None, rounds: int = 3) -> tuple[UnionRule, float]:
    """Per-channel thresholds maximising mean F1 on labelled listings (coordinate ascent).

    Each channel's threshold is swept with the others fixed, "off" included, so
    a channel that only adds false matches is switched off rather than forced in.
    """
    grid = np.round(np.arange(0.30, 1.0001, 0.01), 2) if grid is None else np.asarray(grid)
    scorer = RuleScorer(table, labels)
    thresholds = {c: OFF for c in channels}
    best = scorer.scores(scorer.mask(thresholds), thresholds, max_matches).mean_f1
    for _ in range(rounds):
        improved = False
        for channel in channels:
            others = scorer.mask({c: t for c, t in thresholds.items() if c != channel})
            sims = scorer.sims[channel]
            for threshold in [OFF, *grid]:
                mask = others | (sims >= threshold) if threshold < OFF else others
                f1 = scorer.scores(mask, {**thresholds, channel: threshold}, max_matches).mean_f1
                if f1 > best + 1e-9:
                    best, thresholds[channel], improved = f1, float(threshold), True
        if not improved:
            break
    return UnionRule(thresholds=thresholds, max_matches=max_matches), best
