"""TF-IDF of cleaned titles, on words or character n-grams (exact sparse cosine)."""
from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import scipy.sparse as sp
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
        """Learn the vocabulary; a catalogue too small for `min_df` keeps every term, one with no words none."""
        cleaned = self.cleaner.clean_many(titles)
        self.vectorizer_ = None
        for min_df in dict.fromkeys((self.min_df, 1)):
            try:
                self.vectorizer_ = self._vectorizer(min_df).fit(cleaned)
                break
            except ValueError:  # sklearn: empty vocabulary, or no term left after pruning
                continue
        return self

    def transform(self, titles):
        """Unit rows; all zero (no text evidence) where a title has no known term."""
        if self.vectorizer_ is None:
            return sp.csr_matrix((len(titles), 1), dtype=np.float32)
        return self.vectorizer_.transform(self.cleaner.clean_many(titles)).tocsr()

    def _vectorizer(self, min_df: int) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer=self.analyzer, ngram_range=self.ngram_range, sublinear_tf=self.sublinear_tf,
            binary=self.binary, min_df=min_df, max_features=self.max_features,
            token_pattern=r"\S+" if self.analyzer == "word" else None, lowercase=False, dtype=np.float32,
        )

    def _save_state(self, folder: Path) -> None:
        joblib.dump(self.vectorizer_, folder / "vectorizer.joblib")  # None when it learned no words

    def _load_state(self, folder: Path) -> None:
        self.vectorizer_ = joblib.load(folder / "vectorizer.joblib")
