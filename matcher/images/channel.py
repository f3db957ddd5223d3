"""The image channel: listing photos as unit embeddings, comparable by cosine like the text channels.

Backbone features are computed once per photo content and cached; an ArcFace head
learned from the catalogue's label groups projects them into the embedding. With
`finetune` set, the backbone learns from the groups too (matcher.images.finetune),
and its features are cached under its own weights. A catalogue without groups to
learn from keeps the backbone's own (ImageNet) features.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from matcher.images.arcface import ArcFaceConfig, ArcFaceHead
from matcher.images.features import FeatureExtractor
from matcher.images.finetune import BackboneFineTuner, FineTuneConfig

PARAMS_FILE = "image.json"
HEAD_FOLDER = "arcface"
WEIGHTS_FILE = "backbone.pt"


class ImageChannel:
    """fit(catalog) learns the head from its labelled photos; transform(catalog) -> (vectors, present, problems)."""

    name = "image"

    def __init__(self, backbone: str = "tf_efficientnet_lite0", arcface: dict | None = None,
                 finetune: dict | None = None, batch_size: int | None = None, threads: int = 2, device: str = "auto",
                 cache_dir=None, checkpoint_dir=None):
        """`finetune`: FineTuneConfig fields to fine-tune the backbone with; None keeps it frozen."""
        self.backbone = backbone
        self.arcface = ArcFaceConfig(**(arcface or {}))
        self.finetune = FineTuneConfig(**finetune) if finetune is not None else None
        self.batch_size, self.threads, self.device = batch_size, threads, device
        self.cache_dir, self.checkpoint_dir = cache_dir, checkpoint_dir
        self.head_: ArcFaceHead | None = None
        self.weights_: dict[str, torch.Tensor] | None = None  # the fine-tuned backbone's state, if fine-tuned
        self.training_: dict | None = None
        self._frozen: FeatureExtractor | None = None
        self._tuned: FeatureExtractor | None = None

    def get_params(self) -> dict:
        return {"backbone": self.backbone, "arcface": asdict(self.arcface),
                "finetune": asdict(self.finetune) if self.finetune is not None else None,
                "batch_size": self.batch_size, "threads": self.threads, "device": self.device}

    def clone(self) -> "ImageChannel":
        """A fresh, unfitted channel with the same parameters, sharing the loaded ImageNet backbone and its cache."""
        twin = type(self)(**self.get_params(), cache_dir=self.cache_dir, checkpoint_dir=self.checkpoint_dir)
        twin._frozen = self._frozen
        return twin

    @property
    def dim(self) -> int:
        return self.arcface.dim if self.head_ is not None else self.extractor.dim

    @property
    def extractor(self) -> FeatureExtractor:
        """Features from the fine-tuned backbone once there is one, else from the ImageNet one."""
        if self.weights_ is not None:
            if self._tuned is None:
                self._tuned = self._make_extractor(self.weights_)
            return self._tuned
        if self._frozen is None:
            self._frozen = self._make_extractor(None)
        return self._frozen

    def _make_extractor(self, weights) -> FeatureExtractor:
        return FeatureExtractor(self.backbone, self.batch_size, self.threads, self.cache_dir, self.device, weights)

    def fit(self, catalog, log=print) -> "ImageChannel":
        """Train on the labelled listings with a readable photo; without two such groups, keep ImageNet's features."""
        self.head_, self.weights_, self._tuned, self.training_ = None, None, None, None
        if self.finetune is not None:
            return self._fit_backbone(catalog, log)
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

    def _fit_backbone(self, catalog, log) -> "ImageChannel":
        """Fine-tune backbone and head together on the labelled photos (unreadable ones were reported at loading)."""
        rows = [i for i in range(len(catalog)) if catalog.image_path(i) is not None
                and catalog.has_labels and catalog.labels[i] != ""]
        groups = catalog.labels[rows] if rows else np.array([], str)
        if len(set(groups)) < 2:
            log("Image channel: no labelled photos to learn from; using the backbone's ImageNet features.")
            return self
        stages = "the whole backbone" if self.finetune.stages is None else f"its last {self.finetune.stages} stages"
        log(f"Image channel: fine-tuning {stages} with the ArcFace head on {len(rows):,} photos of "
            f"{len(set(groups)):,} groups, {self.finetune.epochs} epochs.")
        tuner = BackboneFineTuner(self.backbone, self.arcface, self.finetune, self.device)
        try:
            tuner.fit([catalog.image_path(i) for i in rows], groups, checkpoint_dir=self.checkpoint_dir)
        except ValueError as err:
            log(f"Image channel: {err}; using the backbone's ImageNet features.")
            return self
        self.weights_ = tuner.backbone_state_
        self.head_ = ArcFaceHead.from_module(self.arcface, tuner.head_, tuner.history_)
        self.training_ = {"photos": len(rows) - len(tuner.problems_), "groups": int(len(set(groups))),
                          "fine_tuned": asdict(self.finetune),
                          "final_loss": round(tuner.history_[-1], 4) if tuner.history_ else None}
        return self

    def transform(self, catalog):
        """(n x dim unit rows, which listings have a readable photo, problems of unreadable photos)."""
        return self._project(*self.extractor.transform_catalog(catalog))

    def transform_paths(self, paths):
        """The same for photo files outside any catalogue (a photo a moderator searches with)."""
        return self._project(*self.extractor.transform_paths(paths))

    def _project(self, features, present, problems):
        vectors = self.head_.transform(features) if self.head_ is not None else features
        return vectors, present, problems

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PARAMS_FILE).write_text(json.dumps({"params": self.get_params(), "training": self.training_},
                                                     indent=2))
        if self.head_ is not None:
            self.head_.save(folder / HEAD_FOLDER)
        if self.weights_ is not None:
            torch.save(self.weights_, folder / WEIGHTS_FILE)
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
        if (folder / WEIGHTS_FILE).is_file():
            channel.weights_ = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        return channel
