"""Learned from label groups: within-group whitening of a channel's embedding (WCCN).

Listings of one product vary along a few directions (seller noise, promo
words); whitening the within-group covariance shrinks those directions and
keeps the ones that separate products. A closed-form fit, seconds on a CPU;
measured on real titles in docs/text-benchmark.md.
"""
from __future__ import annotations

import numpy as np

from matcher.metric import group_codes


class WithinGroupWhitening:
    """fit(X, groups) / transform(X): x -> (x - mean) W with W W' = inverse within-group covariance."""

    def __init__(self, shrinkage: float = 0.1):
        self.shrinkage = shrinkage
        self.mean_: np.ndarray | None = None
        self.components_: np.ndarray | None = None

    def fit(self, X: np.ndarray, groups) -> "WithinGroupWhitening":
        X = np.asarray(X, dtype=np.float64)
        codes = group_codes(groups)
        self.mean_ = X.mean(axis=0)
        centred = X - self.mean_
        sums = np.zeros((codes.max() + 1, X.shape[1]))
        np.add.at(sums, codes, centred)
        spread = centred - (sums / np.bincount(codes)[:, None])[codes]
        within = spread.T @ spread / len(X)
        within = (1 - self.shrinkage) * within + self.shrinkage * np.trace(within) / len(within) * np.eye(len(within))
        values, vectors = np.linalg.eigh(within)
        self.components_ = (vectors / np.sqrt(np.maximum(values, 1e-12))).astype(np.float32)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float32) - self.mean_.astype(np.float32)) @ self.components_
