"""The learned pair scorer: gradient-boosted trees on pair features, giving each candidate pair P(same product).

Thresholds on single similarities cannot say "close in text, but 200 ml vs
400 ml" or "only fairly close, but the nearest thing in a sparse neighbourhood";
trees over the pair features (matcher.pairs) can. Trained on a labelled
neighbour table; its probabilities become one more column of the table
(`sim_learned`), thresholded like any channel.
"""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from matcher.metric import group_codes
from matcher.pairs import PairContext, pair_features, reverse_rows
from matcher.split import group_hash

LEARNED = "learned"
MODEL_FILE = "pair-scorer.joblib"


class PairScorer:
    """fit(table, titles, labels) / transform(table, titles) -> P(same product) per row / save / load."""

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.1, max_leaf_nodes: int = 31,
                 negatives: float = 0.5, folds: int = 4, seed: int = 0):
        """`negatives`: the share of non-matching pairs trained on (weighted back up), since they dominate."""
        self.max_iter, self.learning_rate, self.max_leaf_nodes = max_iter, learning_rate, max_leaf_nodes
        self.negatives, self.folds, self.seed = negatives, folds, seed
        self.model_: HistGradientBoostingClassifier | None = None
        self.columns_: list[str] | None = None

    def get_params(self) -> dict:
        return {"max_iter": self.max_iter, "learning_rate": self.learning_rate,
                "max_leaf_nodes": self.max_leaf_nodes, "negatives": self.negatives, "folds": self.folds,
                "seed": self.seed}

    def fit(self, table: pd.DataFrame, titles, labels) -> "PairScorer":
        features = pair_features(table, titles)
        self.columns_ = list(features.columns)
        self.model_ = self._fit(features, _same_group(table, labels), np.ones(len(table), bool))
        return self

    def fit_out_of_fold(self, table: pd.DataFrame, titles, labels) -> np.ndarray:
        """Fit, and return each pair's probability from a model that never saw either listing's group.

        Groups go to `folds` folds by hash; fold f's pairs are scored by a model
        trained on the pairs that touch no group of fold f. These honest scores
        are what thresholds for the learned channel may be tuned on.
        """
        features = pair_features(table, titles)
        self.columns_ = list(features.columns)
        same = _same_group(table, labels)
        codes = group_codes(labels)
        fold_of_group = np.array([group_hash(str(code), "fold:") % self.folds for code in range(codes.max() + 1)])
        query_fold = fold_of_group[codes[table["query"].to_numpy()]]
        candidate_fold = fold_of_group[codes[table["candidate"].to_numpy()]]
        scores = np.zeros(len(table), np.float32)
        for fold in range(self.folds):
            model = self._fit(features, same, (query_fold != fold) & (candidate_fold != fold))
            scoring = query_fold == fold
            scores[scoring] = model.predict_proba(features[scoring])[:, 1]
        self.model_ = self._fit(features, same, np.ones(len(table), bool))
        return both_ways(table, scores)

    def transform(self, table: pd.DataFrame, titles, rows_per_piece: int = 2 ** 20) -> np.ndarray:
        """P(same product) for every row; columns the scorer was trained with but the table lacks are NaN.

        Features are made and scored a piece of rows at a time from one
        PairContext, so memory holds one piece's features, not the table's.
        """
        if not len(table):
            return np.zeros(0, np.float32)
        context = PairContext(table, titles)
        scores = np.empty(len(table), np.float32)
        for start in range(0, len(table), rows_per_piece):
            rows = slice(start, start + rows_per_piece)
            scores[rows] = self.model_.predict_proba(context.features(rows).reindex(columns=self.columns_))[:, 1]
        return both_ways(table, scores, context.reverse)

    def _fit(self, features: pd.DataFrame, same: np.ndarray, usable: np.ndarray) -> HistGradientBoostingClassifier:
        rng = np.random.default_rng(self.seed)
        keep = usable & (same | (rng.random(len(same)) < self.negatives))
        if same[keep].all() or not same[keep].any():
            raise ValueError(f"too few labelled pairs to train the pair scorer ({int(same[keep].sum())} matching, "
                             f"{int((~same[keep]).sum())} not, in one of its {self.folds} folds)")
        weight = np.where(same[keep], 1.0, 1.0 / self.negatives)
        model = HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                               max_leaf_nodes=self.max_leaf_nodes, random_state=self.seed)
        return model.fit(features[keep], same[keep], sample_weight=weight)

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.model_, folder / MODEL_FILE)
        (folder / "pair-scorer.json").write_text(json.dumps({"params": self.get_params(),
                                                             "columns": self.columns_}, indent=2))
        return folder

    @classmethod
    def load(cls, folder) -> "PairScorer":
        folder = Path(folder)
        meta = json.loads((folder / "pair-scorer.json").read_text())
        scorer = cls(**meta["params"])
        scorer.model_, scorer.columns_ = joblib.load(folder / MODEL_FILE), meta["columns"]
        return scorer


def both_ways(table: pd.DataFrame, scores: np.ndarray, reverse: np.ndarray | None = None) -> np.ndarray:
    """Each pair's score averaged with its reverse pair's, where the table holds both.

    Features are asymmetric (ranks, gaps and density are the query's), so
    p(a, b) and p(b, a) differ; their mean is steadier than either and makes a
    pair match in both directions or neither (+0.003 to +0.005 mean F1 on Shopee).
    `reverse`: the table's reverse_rows, when the caller has them.
    """
    query, candidate = table["query"].to_numpy(), table["candidate"].to_numpy()
    if not len(query):
        return scores
    if reverse is None:
        reverse = reverse_rows(query, candidate, int(max(query.max(), candidate.max())) + 1)
    mean = (scores + scores[np.maximum(reverse, 0)]) / 2
    return np.where(reverse >= 0, mean, scores).astype(np.float32)


def _same_group(table: pd.DataFrame, labels) -> np.ndarray:
    codes = group_codes(labels)
    return codes[table["query"].to_numpy()] == codes[table["candidate"].to_numpy()]
