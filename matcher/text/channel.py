"""What every text channel is: a scikit-learn-style encoder of titles into comparable vectors.

A channel is fitted (on a catalogue's titles, and on its label groups where it
learns from them), turns titles into L2-normalised rows (dense arrays or sparse
matrices), and saves to / loads from a folder of its own.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from matcher.text.preprocess import TitleCleaner

PARAMS_FILE = "channel.json"
_REGISTRY: dict[str, type["TextChannel"]] = {}


def register(cls):
    """Make a channel class loadable by the name written in its folder."""
    _REGISTRY[cls.__name__] = cls
    return cls


class TextChannel:
    """Base class: subclasses set `sparse`, implement fit/transform and their state's save/load."""

    sparse = False
    # Unsupervised channels are refitted on each catalogue they match (its own
    # vocabulary and word statistics), as the competition's text baselines were.
    refit_per_catalogue = False

    def __init__(self, cleaner: TitleCleaner | None = None):
        self.cleaner = cleaner or TitleCleaner()

    def get_params(self) -> dict:
        return {"cleaner": self.cleaner.params()}

    def fit(self, titles, groups=None):
        raise NotImplementedError

    def transform(self, titles):
        raise NotImplementedError

    def fit_transform(self, titles, groups=None):
        return self.fit(titles, groups).transform(titles)

    def clone(self) -> "TextChannel":
        """A fresh, unfitted channel with the same parameters."""
        return type(self)(**self._init_args(self.get_params()))

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"class": type(self).__name__, "params": self.get_params()}
        (folder / PARAMS_FILE).write_text(json.dumps(meta, indent=2))
        self._save_state(folder)
        return folder

    @classmethod
    def _init_args(cls, params: dict) -> dict:
        args = dict(params)
        args["cleaner"] = TitleCleaner(**{**args["cleaner"], "stopwords": tuple(args["cleaner"]["stopwords"])})
        return args

    def _save_state(self, folder: Path) -> None:
        raise NotImplementedError

    def _load_state(self, folder: Path) -> None:
        raise NotImplementedError


def load_channel(folder) -> TextChannel:
    """Rebuild a saved channel of any registered class."""
    folder = Path(folder)
    meta = json.loads((folder / PARAMS_FILE).read_text())
    cls = _REGISTRY[meta["class"]]
    channel = cls(**cls._init_args(meta["params"]))
    channel._load_state(folder)
    return channel


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit rows (zero rows stay zero), float32: cosine similarity becomes a dot product."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
