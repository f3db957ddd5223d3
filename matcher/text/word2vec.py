"""Word2Vec trained on the catalogue's own titles (the seed's choice), IDF-weighted title means.

gensim is imported where it is used: it takes about a second to import, which
every command and app start would otherwise pay for a channel most builds skip.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from matcher.text.channel import TextChannel, l2_normalise, register
from matcher.text.preprocess import TitleCleaner

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


@register
class Word2VecChannel(TextChannel):
    """Title vector = IDF-weighted mean of its word vectors, so brand and size words outweigh "murah".

    Title vectors are centred on the catalogue's mean title: uncentred, every
    pair of titles scores above 0.95 and thresholds cannot separate them.
    """

    refit_per_catalogue = True

    def __init__(self, cleaner: TitleCleaner | None = None, vector_size: int = 100, window: int = 5,
                 min_count: int = 1, epochs: int = 20, sg: int = 1, seed: int = 0, workers: int = 1):
        super().__init__(cleaner)
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.sg = sg
        self.seed = seed
        self.workers = workers
        self.vectors_: KeyedVectors | None = None
        self.idf_: dict[str, float] = {}
        self.centre_: np.ndarray | None = None

    def get_params(self) -> dict:
        return {**super().get_params(), "vector_size": self.vector_size, "window": self.window,
                "min_count": self.min_count, "epochs": self.epochs, "sg": self.sg, "seed": self.seed,
                "workers": self.workers}

    def fit(self, titles, groups=None):
        """Train on the titles' words; titles without words leave a model that knows none (zero vectors)."""
        from gensim.models import Word2Vec

        sentences = [words for words in (self.cleaner.tokens(t) for t in titles) if words]
        model = Word2Vec(vector_size=self.vector_size, window=self.window, min_count=self.min_count, sg=self.sg,
                         seed=self.seed, workers=self.workers)
        if sentences:
            model.build_vocab(sentences)
        if len(model.wv):
            model.train(sentences, total_examples=len(sentences), epochs=self.epochs)
        self.vectors_ = model.wv
        self.idf_ = _idf(sentences)
        self.centre_ = np.zeros(self.vector_size, np.float32)
        means = self._title_means(titles)
        known = means.any(axis=1)
        if known.any():
            self.centre_ = means[known].mean(axis=0)
        return self

    def transform(self, titles):
        means = self._title_means(titles)
        empty = ~means.any(axis=1)
        centred = means - self.centre_
        centred[empty] = 0
        return l2_normalise(centred)

    def _title_means(self, titles) -> np.ndarray:
        """Unit IDF-weighted mean word vector of each title (zeros where no word is known)."""
        out = np.zeros((len(titles), self.vector_size), dtype=np.float32)
        for row, title in enumerate(titles):
            words = [w for w in self.cleaner.tokens(title) if w in self.vectors_.key_to_index]
            if words:
                weights = np.array([self.idf_.get(w, 1.0) for w in words], dtype=np.float32)
                out[row] = weights @ self.vectors_[words]
        return l2_normalise(out)

    def _save_state(self, folder: Path) -> None:
        self.vectors_.save(str(folder / "word2vec.kv"))
        (folder / "idf.json").write_text(json.dumps(self.idf_, ensure_ascii=False))
        np.save(folder / "centre.npy", self.centre_)

    def _load_state(self, folder: Path) -> None:
        from gensim.models import KeyedVectors

        self.vectors_ = KeyedVectors.load(str(folder / "word2vec.kv"))
        self.idf_ = json.loads((folder / "idf.json").read_text())
        self.centre_ = np.load(folder / "centre.npy")


def _idf(sentences) -> dict[str, float]:
    """Smoothed inverse document frequency of each word over the titles."""
    counts: dict[str, int] = {}
    for words in sentences:
        for w in set(words):
            counts[w] = counts.get(w, 0) + 1
    n = len(sentences)
    return {w: float(np.log((1 + n) / (1 + c)) + 1) for w, c in counts.items()}
