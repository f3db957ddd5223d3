"""Named fusion strategies, and the fusion state a build learns and `match` reuses.

Every strategy ends as thresholds on columns of the one neighbour table, so the
app re-filters the stored table for any of them and never re-runs a model:

- `union`: each channel on its own threshold, any one suffices (the
  competition's strong baseline, TF-IDF or pHash);
- `fused`: the union plus a weighted mean of the channels' similarities, and the
  "at least one match" rescue on it;
- `combined`: the dense channels' embeddings concatenated with tuned weights,
  searched in their own index (`sim_combined`), with pHash and the rescue;
- `expanded`: the combined embedding after neighbourhood blending, searched
  again (`sim_expanded`), with pHash and the rescue;
- `learned`: the pair scorer's probability (`sim_learned`), with the rescue,
  optionally for mutual best candidates only.

`build` tunes each on held-out groups of the training catalogue and keeps the
best; the manifest records every strategy's figure and the choice.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from matcher.encode import Encoded
from matcher.fusion import COMBINED, EXPANDED, Blending, combined_vectors, expanded_vectors
from matcher.matching import UnionRule, tune_rule
from matcher.neighbours import PHASH_CHANNEL, nearest, sim_column
from matcher.scorer import LEARNED, PairScorer

STRATEGIES = ("union", "fused", "combined", "expanded", "learned")
FUSION_FILE = "fusion.json"
SCORER_FOLDER = "pair-scorer"


@dataclass
class Fusion:
    """What a build learned beyond the channels: combined-embedding weights, blending, the pair scorer."""

    weights: dict[str, float] = field(default_factory=dict)  # dense channels of the combined embedding
    blending: Blending = field(default_factory=Blending)
    scorer: PairScorer | None = None

    @classmethod
    def from_fused_weights(cls, fused: dict[str, float], encoded: Encoded) -> "Fusion":
        """The fused score's weights, kept for the dense channels: sparse TF-IDF cannot go into one HNSW
        index, so it takes part through the fused score and the pair scorer instead."""
        dense = {c: w for c, w in fused.items() if w > 0 and c in encoded.vectors
                 and not sp.issparse(encoded.vectors[c])}
        if not dense:  # no tuned weights (one text channel): every dense channel counts the same
            dense = {c: 1.0 for c, v in encoded.vectors.items() if not sp.issparse(v)}
        total = sum(dense.values())
        return cls({c: w / total for c, w in dense.items()})

    def extend(self, encoded: Encoded, k: int | None = None) -> Encoded:
        """`encoded` plus the combined and expanded embeddings, as two more channels of the table.

        Given the table's `k`, the combined rows' k nearest are searched once:
        the blending reads the first few of each list, and the combined channel
        keeps them whole (`encoded.searched`), so fusion searches twice rather
        than three times.
        """
        weights = {c: w for c, w in self.weights.items() if c in encoded.vectors}
        if not weights:
            return encoded
        rows, present = combined_vectors(encoded.vectors, encoded.present, weights)
        encoded.vectors[COMBINED], encoded.present[COMBINED] = rows, present
        encoded.mixtures[COMBINED] = {c: w for c, w in weights.items() if w > 0}
        searched = None
        if k is not None:
            searched = nearest(rows, present, k)
            encoded.searched[COMBINED] = searched[0]
        encoded.vectors[EXPANDED] = expanded_vectors(rows, present, self.blending, searched)
        encoded.present[EXPANDED] = present
        return encoded

    def score(self, table: pd.DataFrame, titles) -> pd.DataFrame:
        """The table with the pair scorer's probability as `sim_learned` (unchanged without a scorer)."""
        if self.scorer is not None:
            table[sim_column(LEARNED)] = self.scorer.transform(table, titles).astype(np.float16)
        return table

    def save(self, folder) -> None:
        folder = Path(folder)
        (folder / FUSION_FILE).write_text(json.dumps({"weights": self.weights, "blending": asdict(self.blending)},
                                                     indent=2))
        if self.scorer is not None:
            self.scorer.save(folder / SCORER_FOLDER)

    @classmethod
    def load(cls, folder) -> "Fusion":
        folder = Path(folder)
        meta = json.loads((folder / FUSION_FILE).read_text())
        scorer = PairScorer.load(folder / SCORER_FOLDER) if (folder / SCORER_FOLDER).is_dir() else None
        return cls(meta["weights"], Blending(**meta["blending"]), scorer)


def tune_strategies(table: pd.DataFrame, labels, channels, fuse, max_matches: int, rounds: int,
                    wanted=STRATEGIES) -> dict[str, tuple[UnionRule, float]]:
    """Each wanted strategy the table has columns for, tuned on it: {name: (rule, mean F1)}.

    `channels` are the table's own channels, `fuse` those the fused score may weigh.
    """
    columns = {c[len("sim_"):] for c in table.columns if c.startswith("sim_")}
    base = [c for c in channels if c in columns and c not in (COMBINED, EXPANDED, LEARNED)]
    phash = [PHASH_CHANNEL] if PHASH_CHANNEL in columns else []
    common = {"max_matches": max_matches, "rounds": rounds}
    tuned = {"union": tune_rule(table, labels, base, **common),
             "fused": tune_rule(table, labels, base, fuse=[c for c in fuse if c in base], **common)}
    for name, column in (("combined", COMBINED), ("expanded", EXPANDED)):
        if column in columns:
            tuned[name] = tune_rule(table, labels, [column, *phash], rescue_by=column, **common)
    if LEARNED in columns:
        tuned["learned"] = tune_rule(table, labels, [LEARNED], rescue_by=LEARNED, **common)
    return {name: rule for name, rule in tuned.items() if name in wanted}


def best_strategy(tuned: dict[str, tuple[UnionRule, float]]) -> str:
    """The strategy with the highest F1; ties go to the simpler one (earlier in STRATEGIES)."""
    return max(tuned, key=lambda name: (round(tuned[name][1], 6), -STRATEGIES.index(name)))
