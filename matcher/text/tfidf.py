"""TF-IDF of cleaned titles, on words or character n-grams (exact sparse cosine)."""
from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.text.channel import TextChannel, register
from matcher.text.preprocess import TitleCleaner


@register
class TfidfChannel(TextChannel):
    """Word or char_wb TF-IDF; refitted on each catalogue, so rare product words count."""

    sparse = True
    refit_per_catalogue = True

    def __init__(self, cleaner: TitleCleaner | None = None, analyzer: str = "word",
                 ngram_range=(1, 1), sublinear_tf: bool = True, binary: bool = False,
                 min_df: int = 1, max_features: int | None = None):
        super().__init__(cleaner)
        self.analyzer = analyzer
        self.ngram_range = tuple(ngram_range)
        self.sublinear_tf = sublinear_tf
        self.binary = binary
        self.min_df = min_df
        self.max_features = max_features
        self.vectorizer_: TfidfVectorizer | None = None

    def get_params(self) -> dict:
        return {**super().get_params(), "analyzer": self.analyzer, "ngram_range": list(self.ngram_range),
                "sublinear_tf": self.sublinear_tf, "binary": self.binary, "min_df": self.min_df,
                "max_features": self.max_features}

    def fit(self, titles, groups=None):
        self.vectorizer_ = TfidfVectorizer(
            analyzer=self.analyzer, ngram_range=self.ngram_range, sublinear_tf=self.sublinear_tf,
            binary=self.binary, min_df=self.min_df, max_features=self.max_features,
            token_pattern=r"\S+" if self.analyzer == "word" else None, lowercase=False, dtype=np.float32,
        )
        cleaned = self.cleaner.clean_many(titles)
        if not any(cleaned):
            raise ValueError("TF-IDF needs at least one non-empty title; switch text channels off for this catalogue")
        self.vectorizer_.fit(cleaned)
        return self

    def transform(self, titles):
        return self.vectorizer_.transform(self.cleaner.clean_many(titles)).tocsr()

    def _save_state(self, folder: Path) -> None:
        joblib.dump(self.vectorizer_, folder / "vectorizer.joblib")

    def _load_state(self, folder: Path) -> None:
        self.vectorizer_ = joblib.load(folder / "vectorizer.joblib")
