"""A built catalogue as the app sees it: the stored neighbour table, loaded once, re-filtered per rule.

Moving a threshold must answer within a few hundred milliseconds on tens of
thousands of listings (two seconds at a million), so nothing here runs a
model: the table is opened once (float32 similarities sorted by query, then
candidate; memory-mapped by matcher.table_store), and a rule's matches, groups,
scores and threshold sweeps are all array operations on it. What a threshold
move leaves unchanged is kept between calls: the fused score per weights, each
score's bins on the threshold grid, recent sweeps, and the last few rules'
matches (docs/app-benchmark.md, docs/app-benchmark-1m.md).
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.artifacts import IMAGE_FOLDER, read_manifest
from matcher.index import ExactIndex
from matcher.grouping import GroupingConfig, Groups, group_matches
from matcher.matching import FUSED, GRID, OFF, RuleScorer, UnionRule, best_candidates, fused_score, grid_bins
from matcher.metric import MatchScores
from matcher.neighbours import sim_column
from matcher.sorting import argsort_keys
from matcher.sweep_counts import sweep_counts
from matcher.table_store import TABLE_FILE, open_table


# matcher.build's name for it, not imported from there: build (like the photo channel, imported where a photo
# search needs it) brings torch and timm, whose objects alone double what Streamlit's garbage collection after
# every script run walks through (about 0.2 s a rerun on 2 cores).
STRATEGIES_FILE = "strategies.json"
NEAR_PIECE = 1 << 20  # table rows the review queue scans for uncertain pairs at a time


@dataclass
class Applied:
    """A rule applied to the table: the matching rows, and each row's margin past its nearest threshold.

    A threshold change needs only the matches (a few million rows of a million
    listings' 140 million): margins are computed for the rows asked about.
    Explorer.apply shares one Applied between sessions, so its arrays are read-only.
    """

    rule: UnionRule
    rows: np.ndarray                  # the matching rows' positions, ascending
    query: np.ndarray = field(repr=False)  # the listing each matching row belongs to
    table: pd.DataFrame = field(repr=False)
    fused: np.ndarray | None = field(default=None, repr=False)  # the rule's fused score, when it has weights

    def margin_at(self, rows: np.ndarray) -> np.ndarray:
        return self.rule.margin(self.table, self.fused, rows)

    def matched_at(self, rows: np.ndarray) -> np.ndarray:
        """Whether each of `rows` matches: a lookup among the matching rows, no pass over the table."""
        found = np.minimum(np.searchsorted(self.rows, rows), max(len(self.rows) - 1, 0))
        return (self.rows[found] == rows) if len(self.rows) else np.zeros(len(rows), bool)



@dataclass
class Summary:
    """What a rule does to the catalogue: matched pairs, groups, sizes, and scores where labels exist."""

    pairs: int                  # matched table rows (a pair found from both sides counts twice)
    matched: int                # listings with at least one match
    groups: int                 # groups of two or more listings
    sizes: pd.Series            # number of groups of each size (two or more)
    scores: MatchScores | None  # against the catalogue's labels, if it has them


@dataclass
class Tuned:
    """Everything the Thresholds page draws for one rule."""

    applied: Applied
    groups: Groups
    summary: Summary
    sweep: pd.DataFrame  # the charted threshold's sweep (see Explorer.sweep)


class Explorer:
    """One built catalogue: listings, the neighbour table, the build's strategies and group guards."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        self.listings = pd.read_parquet(self.folder / "listings.parquet")
        self.table = open_table(self.folder / TABLE_FILE, self.manifest["files"][TABLE_FILE])
        self.posting_ids = self.listings["posting_id"].astype(str).to_numpy()
        self.titles = self.listings["title"].fillna("").astype(str).to_numpy()
        self.query = self.table["query"].to_numpy()
        self.candidate = self.table["candidate"].to_numpy()
        self.bounds = np.searchsorted(self.query, np.arange(len(self.listings) + 1))
        self.channels = [c[len("sim_"):] for c in self.table.columns if c.startswith("sim_")]
        self.rule = UnionRule.from_dict(json.loads((self.folder / "rule.json").read_text()))
        self.strategies = _strategies(self.folder, self.manifest.get("strategy", "union"), self.rule)
        self.grouping = GroupingConfig(**self.manifest.get("grouping", {}))
        self.scorer = RuleScorer(self.table, self.labels) if self.labels is not None else None
        self._kept: dict[tuple, object] = {}  # per-rule results that outlive a threshold move (see _keep)
        self._keeping = threading.Lock()
        self._position = pd.Index(self.posting_ids)
        self._photo_search = None

    @property
    def labels(self) -> np.ndarray | None:
        """The label groups, when every listing has one (only then do precision and recall mean anything)."""
        if "label_group" not in self.listings or (self.listings["label_group"].astype(str) == "").any():
            return None
        return self.listings["label_group"].astype(str).to_numpy()

    def __len__(self) -> int:
        return len(self.listings)

    def position(self, posting_id: str) -> int | None:
        found = self._position.get_indexer([str(posting_id)])[0]
        return None if found < 0 else int(found)

    def apply(self, rule: UnionRule) -> Applied:
        """The rule's matches, kept for the last few rules: every page reruns on each click with the same rule
        (half a second at a million listings). Shared by sessions: read-only."""
        return self._keep(("applied", json.dumps(rule.to_dict(), sort_keys=True)), lambda: self._apply(rule), size=3)

    def _apply(self, rule: UnionRule) -> Applied:
        fused = self._fused(rule.weights) if rule.weights else None
        best = None
        if rule.rescue < OFF and len(self.table):  # each listing's best candidate, kept per rescue score
            key = ("best", rule.rescue_by, _weights_key(rule.weights) if rule.rescue_by == FUSED else ())
            best = self._keep(key, lambda: best_candidates(self.table, rule.rescue_score(self.table, fused)), size=4)
        rows, query = rule.matched(self.table, fused, best, np.flatnonzero(self._reached(rule, rule.active())))
        return Applied(rule, _read_only(rows), _read_only(query), self.table, fused)

    def groups(self, applied: Applied, decisions=None, config: GroupingConfig | None = None) -> Groups:
        """The groups of a rule's matches with moderators' decisions (confirmed join, rejected never do)."""
        rows = applied.rows
        return group_matches(len(self), applied.query, self.candidate[rows], lambda at: applied.margin_at(rows[at]),
                             self._position, decisions, config or self.grouping)

    def summary(self, applied: Applied, groups: Groups) -> Summary:
        size = np.bincount(groups.labels)
        sizes = pd.Series(np.bincount(size)[2:], index=np.arange(2, size.max(initial=1) + 1)) if len(size) else pd.Series(dtype=int)
        return Summary(pairs=len(applied.rows),
                       matched=int(np.count_nonzero(np.bincount(applied.query, minlength=len(self)))),
                       groups=int((size > 1).sum()), sizes=sizes[sizes > 0],
                       scores=self.scorer.mask_scores(applied.rows) if self.scorer else None)

    def tuned(self, rule: UnionRule, charted: str) -> Tuned:
        """A rule's matches, groups and summary, and the sweep of its `charted` threshold. The sweep runs in a
        second thread meanwhile (its compiled pass and NumPy's comparisons release the GIL): when a threshold
        other than the charted one moves, both halves take about as long, so two cores halve the wait."""
        for channel, threshold in rule.active().items():  # the moved threshold compared once, for both threads
            self._reaching(rule, channel, threshold)
        with ThreadPoolExecutor(1) as pool:
            sweep = pool.submit(self.sweep, rule, charted)
            applied = self.apply(rule)
            groups = self.groups(applied)
            return Tuned(applied, groups, self.summary(applied, groups), sweep.result())

    def score(self, rule: UnionRule, channel: str) -> np.ndarray:
        """The per-row score a rule thresholds for `channel` (a column, or the fused score)."""
        if channel == FUSED:
            return self._fused(rule.weights)
        return self.table[sim_column(channel)].to_numpy(np.float32)

    def sweep(self, rule: UnionRule, channel: str) -> pd.DataFrame:
        """Moving `channel`'s threshold over the grid with the rule's other thresholds fixed:
        matched rows at each threshold, and precision, recall and F1 where labels exist."""
        others = {c: t for c, t in rule.thresholds.items() if c != channel and t < OFF}
        uses_fused = FUSED in others or channel == FUSED
        key = ("sweep", channel, tuple(sorted(others.items())), _weights_key(rule.weights) if uses_fused else ())
        return self._keep(key, lambda: self._sweep(rule, channel, others)).copy()

    def _sweep(self, rule: UnionRule, channel: str, others: dict[str, float]) -> pd.DataFrame:
        fixed = self._reached(rule, others)
        scores = self.score(rule, channel)
        key = ("bins", channel, _weights_key(rule.weights) if channel == FUSED else ())
        bins = self._keep(key, lambda: grid_bins(scores, GRID), size=12)
        if self.scorer is not None:
            return self.scorer.sweep_scores(fixed, scores, GRID, bins)
        none = np.zeros(0, np.int64)  # rows in stored order; no labels
        pairs = sweep_counts(self.bounds, none, fixed, bins, np.zeros(0, bool), none, len(GRID))[0]
        return pd.DataFrame({"threshold": GRID, "pairs": pairs})

    def _reached(self, rule: UnionRule, thresholds: dict[str, float]) -> np.ndarray:
        """Which rows reach any of `thresholds` (channels of `rule`), as a mask: the channels' kept bits or-ed."""
        bits = np.zeros((len(self.table) + 7) // 8, np.uint8)
        for channel, threshold in thresholds.items():
            bits |= self._reaching(rule, channel, threshold)
        return np.unpackbits(bits, count=len(self.table), bitorder="little").view(bool)

    def _reaching(self, rule: UnionRule, channel: str, threshold: float) -> np.ndarray:
        """Which rows reach `threshold` on `channel`, as bits, kept: moving one threshold then compares one
        column and ors the others' bits (a column is 4 bytes a row, its bits an eighth of one). At a million
        listings the comparisons were half of applying a rule, and the sweep's fixed thresholds repeated them."""
        key = ("reach", channel, threshold, _weights_key(rule.weights) if channel == FUSED else ())
        return self._keep(key, lambda: np.packbits(self.score(rule, channel) >= threshold, bitorder="little"),
                          size=32)

    def _fused(self, weights: dict[str, float]) -> np.ndarray:
        """The fused score for `weights`, computed once per weights (moving a threshold never changes it)."""
        return self._keep(("fused", _weights_key(weights)), lambda: fused_score(self.table, weights), size=4)

    def _keep(self, key: tuple, make, size: int = 16):
        """`make()`, kept under `key` among the last `size` results of its kind (key[0]); read-only to callers.
        The app's sessions share one Explorer from several threads: the store is locked, `make` is not."""
        with self._keeping:
            if key in self._kept:
                self._kept[key] = self._kept.pop(key)  # most recently used last
                return self._kept[key]
        value = make()
        if isinstance(value, np.ndarray):
            _read_only(value)
        with self._keeping:
            same_kind = [k for k in self._kept if k[0] == key[0] and k != key]
            for old in same_kind[:max(0, len(same_kind) - size + 1)]:
                del self._kept[old]
            self._kept[key] = value
        return value

    def neighbours(self, position: int, applied: Applied) -> pd.DataFrame:
        """A listing's candidates, matches first, then by margin: ids, titles, every score and the reason."""
        rows = np.arange(self.bounds[position], self.bounds[position + 1])
        part = self.table.iloc[rows]
        frame = pd.DataFrame({"row": rows, "candidate": part["candidate"].to_numpy()})
        frame["posting_id"] = self.posting_ids[frame["candidate"]]
        frame["title"] = self.titles[frame["candidate"]]
        for channel in self.channels:
            frame[channel] = part[sim_column(channel)].to_numpy(np.float32)
        if applied.rule.weights:
            frame[FUSED] = fused_score(part, applied.rule.weights)
        frame["match"] = applied.matched_at(rows)
        frame["margin"] = applied.margin_at(rows)
        frame["reason"] = [reason(applied.rule, frame.iloc[i], bool(frame["match"].iat[i])) for i in range(len(frame))]
        return frame.sort_values(["match", "margin"], ascending=False, kind="stable").reset_index(drop=True)

    def pair_margin(self, applied: Applied, a: int, b: int) -> float:
        """The rule's margin for the pair (a, b), the better direction; NaN when neither lists the other."""
        rows = self._rows_of(np.array([a, b]), np.array([b, a]))
        rows = rows[rows >= 0]
        return float(applied.margin_at(rows).max()) if len(rows) else float("nan")

    def search_titles(self, words: str, limit: int = 60) -> np.ndarray:
        """Listings whose titles hold every word typed (any case, any order), best covered first."""
        wanted = [w for w in words.lower().split() if w]
        if not wanted:
            return np.zeros(0, np.int64)
        lowered = pd.Series(self.titles).str.lower()
        hit = np.ones(len(lowered), bool)
        for word in wanted:
            hit &= lowered.str.contains(word, regex=False).to_numpy()
        found = np.flatnonzero(hit)
        length = lowered.str.len().to_numpy()[found]
        return found[np.argsort(length, kind="stable")][:limit]  # shortest titles: the words weigh most

    def search_ids(self, text: str, limit: int = 60) -> np.ndarray:
        """Listings whose posting id starts with `text` (an exact id first)."""
        text = text.strip()
        if not text:
            return np.zeros(0, np.int64)
        starts = np.flatnonzero(pd.Series(self.posting_ids).str.startswith(text).to_numpy())
        return starts[np.argsort(self.posting_ids[starts] != text, kind="stable")][:limit]

    def search_photo(self, path, limit: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """Listings whose photos look most like the photo at `path`, and their similarities (none without a
        photo channel). The channel is loaded on first use, so text-only work never loads torch."""
        if self._photo_search is None:
            if not self.manifest.get("image"):
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            from matcher.images.channel import ImageChannel

            if not ExactIndex.exists(self.folder / "indexes", ImageChannel.name):
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            channel = ImageChannel.load(self.folder / IMAGE_FOLDER, cache_dir=None, device="cpu")
            index = ExactIndex.load(self.folder / "indexes", ImageChannel.name)
            self._photo_search = (channel, index)
        channel, index = self._photo_search
        vectors, present, problems = channel.transform_paths([path])
        if not present[0]:
            raise ValueError(problems[0].reason if problems else "the photo could not be read")
        ids, sims = index.search(vectors, limit)
        keep = ids[0] >= 0
        return ids[0][keep], sims[0][keep]

    def review_queue(self, applied: Applied, decided=frozenset(), groups: Groups | None = None,
                     limit: int = 200) -> pd.DataFrame:
        """Undecided candidate pairs to review, each once (posting_id_a < posting_id_b by position).

        Without `groups`: the most uncertain first, those whose margin to the
        rule's decision boundary is smallest either side of it. With `groups`:
        the matched pairs group by group, largest groups first, strongest first.
        A pair's margin and match are the better of its two directions.
        Only the rows that can make the queue are read, never the whole table
        (a million listings' table has 140 million rows).
        """
        wanted = limit + len(decided)
        if groups is None:
            rows, margin, match = self._uncertain_pairs(applied, wanted)
            order = np.argsort(np.abs(margin), kind="stable")[:wanted]
        else:
            rows, margin, match = self._pairs(applied, applied.rows)
            rows, margin, match = rows[match], margin[match], match[match]
            label = groups.labels[self.query[rows]]
            order = np.lexsort((-margin, label, -np.bincount(groups.labels)[label]))[:wanted]
        rows, margin, match = rows[order], margin[order], match[order]  # decided pairs take at most one row each
        a, b = self.query[rows], self.candidate[rows]
        frame = pd.DataFrame({"a": a, "b": b, "posting_id_a": self.posting_ids[a], "posting_id_b": self.posting_ids[b],
                              "margin": margin, "match": match})
        if groups is not None:
            frame["group"] = groups.ids_of(a)
        if decided:
            pairs = zip(frame["posting_id_a"], frame["posting_id_b"])
            frame = frame[[(x, y) not in decided and (y, x) not in decided for x, y in pairs]]
        return frame.head(limit).reset_index(drop=True)

    def _uncertain_pairs(self, applied: Applied, wanted: int):
        """At least `wanted` pairs (see _pairs) holding every pair whose margin is nearest zero, where the table has
        so many: those within `width` of zero, the width widened fourfold until enough are.

        A pair's margin is its better direction's, and a direction's margin its
        best score's distance past that score's threshold: a pair within `width`
        has a row with some score within `width` of its threshold, so only
        those rows are looked at.
        """
        scores = {c: sims for c, sims in applied.rule.scores(self.table, applied.fused).items()
                  if applied.rule.thresholds[c] < OFF}
        if not scores:  # no threshold in use: every margin is -inf, no pair is uncertain
            return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, bool)
        width = 0.005
        while True:
            near = [start + np.flatnonzero(self._near(scores, applied.rule.thresholds, width, start))
                    for start in range(0, len(self.table), NEAR_PIECE)]
            rows, margin, match = self._pairs(applied, np.concatenate(near) if near else np.zeros(0, np.int64))
            close = np.abs(margin) < width
            if close.sum() >= wanted or width > 2:  # past 2, every finite margin is within
                return rows[close], margin[close], match[close]
            width *= 4

    @staticmethod
    def _near(scores: dict[str, np.ndarray], thresholds: dict[str, float], width: float, start: int) -> np.ndarray:
        """Whether any score of the piece of rows from `start` lies within `width` of its threshold; a piece at
        a time, so the temporaries stay in cache (on the whole table each would be half a gigabyte)."""
        piece = slice(start, start + NEAR_PIECE)
        near = None
        for channel, sims in scores.items():
            close = np.abs(sims[piece] - thresholds[channel]) < width
            near = close if near is None else near | close
        return near

    def _pairs(self, applied: Applied, rows: np.ndarray):
        """The distinct pairs of `rows`, each as its row from the lower position (either direction's row where
        the table has only one), ascending, with the better direction's margin and match; pairs with no
        evidence (a margin of -inf) left out."""
        reverse = self._rows_of(self.candidate[rows], self.query[rows])
        flip = (reverse >= 0) & (self.query[rows] > self.candidate[rows])
        rows, reverse = np.where(flip, reverse, rows), np.where(flip, rows, reverse)
        order = argsort_keys(rows, len(self.table))
        ordered = rows[order]
        first = order[np.r_[True, ordered[1:] != ordered[:-1]]] if len(rows) else order  # each pair once
        rows, reverse = rows[first], reverse[first]
        has = reverse >= 0
        margin, match = applied.margin_at(rows), applied.matched_at(rows)
        margin[has] = np.fmax(margin[has], applied.margin_at(reverse[has]))
        match[has] |= applied.matched_at(reverse[has])
        finite = np.isfinite(margin)
        return rows[finite], margin[finite], match[finite]

    def _rows_of(self, owner: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        """The row of each pair (owner, wanted), -1 where the table lacks it: a bisection among the owner's rows
        (the table is sorted by query, then candidate), every pair's at once."""
        low, end = self.bounds[owner], self.bounds[owner + 1]
        high = end.copy()
        last = max(len(self.table) - 1, 0)
        while (low < high).any():
            middle = np.minimum((low + high) // 2, last)
            before = (low < high) & (self.candidate[middle] < wanted)
            after = (low < high) & ~before
            low, high = np.where(before, middle + 1, low), np.where(after, middle, high)
        found = (low < end) & (self.candidate[np.minimum(low, last)] == wanted)
        return np.where(found, low, -1)


def reason(rule: UnionRule, row: pd.Series, matched: bool) -> str:
    """Why a candidate is, or is not, a match under `rule`, in a moderator's words."""
    passed = [f"{c} {row[c]:.2f} ≥ {t:.2f}" for c, t in rule.active().items()
              if c in row and not pd.isna(row[c]) and row[c] >= t]
    if passed:
        return "match: " + ", ".join(passed)
    if matched:
        score = row.get(rule.rescue_by, np.nan)
        return f"match: best candidate of a listing with no other match ({rule.rescue_by} {score:.2f} ≥ {rule.rescue:.2f})"
    gaps = {c: t - row[c] for c, t in rule.active().items() if c in row and not pd.isna(row[c])}
    if not gaps:
        return "no match: no channel has evidence for this pair"
    closest = min(gaps, key=gaps.get)
    return f"no match: nearest is {closest} {row[closest]:.2f} < {rule.active()[closest]:.2f}"


def _read_only(array: np.ndarray) -> np.ndarray:
    """`array`, no longer writeable: it is kept and shared between sessions."""
    array.flags.writeable = False
    return array


def _weights_key(weights: dict[str, float]) -> tuple:
    return tuple(sorted(weights.items()))


def _strategies(folder: Path, chosen: str, rule: UnionRule) -> dict[str, UnionRule]:
    """Every strategy the build tuned, by name, the chosen one first (only it for older builds)."""
    path = folder / STRATEGIES_FILE
    stored = json.loads(path.read_text())["strategies"] if path.is_file() else {}
    rules = {chosen: rule}
    rules.update({name: UnionRule.from_dict(entry["rule"]) for name, entry in stored.items() if name != chosen})
    return rules
