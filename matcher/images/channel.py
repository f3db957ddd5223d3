"""The image channel: listing photos as unit embeddings, comparable by cosine like the text channels.

Backbone features are computed once per photo content and cached; an ArcFace head
learned from the catalogue's label groups projects them into the embedding. A
catalogue without groups to learn from keeps the backbone's own (ImageNet) features.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from matcher.images.arcface import ArcFaceConfig, ArcFaceHead
from matcher.images.features import FeatureExtractor

PARAMS_FILE = "image.json"
HEAD_FOLDER = "arcface"


class ImageChannel:
    """fit(catalog) learns the head from its labelled photos; transform(catalog) -> (vectors, present, problems)."""

    name = "image"

    def __init__(self, backbone: str = "tf_efficientnet_lite0", arcface: dict | None = None, batch_size: int | None = None,
                 threads: int = 2, device: str = "auto", cache_dir=None, checkpoint_dir=None):
        self.backbone = backbone
        self.arcface = ArcFaceConfig(**(arcface or {}))
        self.batch_size, self.threads, self.device = batch_size, threads, device
        self.cache_dir, self.checkpoint_dir = cache_dir, checkpoint_dir
        self.head_: ArcFaceHead | None = None
        self.training_: dict | None = None
        self._extractor: FeatureExtractor | None = None

    def get_params(self) -> dict:
        return {"backbone": self.backbone, "arcface": asdict(self.arcface), "batch_size": self.batch_size,
                "threads": self.threads, "device": self.device}

    def clone(self) -> "ImageChannel":
        """A fresh, unfitted channel with the same parameters, sharing the loaded backbone and its cache."""
        twin = type(self)(**self.get_params(), cache_dir=self.cache_dir, checkpoint_dir=self.checkpoint_dir)
        twin._extractor = self._extractor
        return twin

    @property
    def dim(self) -> int:
        return self.arcface.dim if self.head_ is not None else self.extractor.dim

    @property
    def extractor(self) -> FeatureExtractor:
        if self._extractor is None:
            self._extractor = FeatureExtractor(self.backbone, self.batch_size, self.threads, self.cache_dir,
                                               self.device)
        return self._extractor

    def fit(self, catalog, log=print) -> "ImageChannel":
        """Train the head on the labelled listings with a readable photo; without two such groups, keep none."""
        self.head_, self.training_ = None, None
        features, present, _ = self.extractor.transform_catalog(catalog)
        labelled = present & (catalog.labels != "") if catalog.has_labels else np.zeros(len(catalog), bool)
        groups = catalog.labels[labelled]
        if len(set(groups)) < 2:
            log("Image channel: no labelled photos to learn from; using the backbone's ImageNet features.")
            return self
        log(f"Image channel: training the ArcFace head on {labelled.sum():,} photos of {len(set(groups)):,} groups.")
        head = ArcFaceHead(self.arcface).fit(features[labelled], groups, checkpoint_dir=self.checkpoint_dir)
        self.head_ = head
        self.training_ = {"photos": int(labelled.sum()), "groups": int(len(set(groups))),
                          "final_loss": round(head.history_[-1], 4) if head.history_ else None}
        return self

    def transform(self, catalog):
        """(n x dim unit rows, which listings have a readable photo, problems of unreadable photos)."""
        features, present, problems = self.extractor.transform_catalog(catalog)
        vectors = self.head_.transform(features) if self.head_ is not None else features
        return vectors, present, problems

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PARAMS_FILE).write_text(json.dumps({"params": self.get_params(), "training": self.training_},
                                                     indent=2))
        if self.head_ is not None:
            self.head_.save(folder / HEAD_FOLDER)
        return folder

    @classmethod
    def load(cls, folder, cache_dir=None, device: str | None = None) -> "ImageChannel":
        """The saved channel; `device` overrides where it runs (a model trained on a GPU can embed on a CPU)."""
        folder = Path(folder)
        meta = json.loads((folder / PARAMS_FILE).read_text())
        params = {**meta["params"], **({"device": device} if device else {})}
        channel = cls(**params, cache_dir=cache_dir)
        channel.training_ = meta["training"]
        if (folder / HEAD_FOLDER).is_dir():
            channel.head_ = ArcFaceHead.load(folder / HEAD_FOLDER)
        return channel
