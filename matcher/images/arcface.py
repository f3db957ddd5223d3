"""ArcFace: an embedding head trained so that photos of one product point the same way.

ImageNet features describe what kind of object a photo shows (a shoe, a bag), not
which product it is, so photos of two different shoes sit closer than two photos of
the same one. An additive angular margin (Deng et al., 2019) on the catalogue's
label groups teaches a projection the difference. On a CPU the head trains on cached
backbone features in seconds to minutes; `matcher.images.finetune` trains it together
with the backbone where a GPU makes that affordable.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from matcher.atomic import atomic_file
from matcher.images.runtime import torch_threads

CHECKPOINT = "arcface-checkpoint.pt"


@dataclass
class ArcFaceConfig:
    dim: int = 512
    margin: float = 0.5
    scale: float = 30.0
    warmup_epochs: int = 5        # the margin grows linearly from 0 over these, so early training is not swamped
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.2
    seed: int = 0
    threads: int = 2


class EmbeddingHead(nn.Module):
    """Dropout, a linear projection and BatchNorm: the part kept after training; unit rows come from `embed`."""

    def __init__(self, in_dim: int, dim: int = 512, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, dim, bias=False)
        self.bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.linear(self.dropout(x)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self(x), dim=1)


class ArcMargin(nn.Module):
    """Class centres on the unit sphere, and logits with the angular margin added to each row's own class."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, margin: float, scale: float) -> torch.Tensor:
        """In float32 even under autocast: acos near 1 needs the precision, and bf16 logits would not take the
        float32 margin row back."""
        with torch.autocast(embeddings.device.type, enabled=False):
            return self._logits(embeddings.float(), labels, margin, scale)

    def _logits(self, embeddings: torch.Tensor, labels: torch.Tensor, margin: float, scale: float) -> torch.Tensor:
        cosine = nn.functional.normalize(embeddings, dim=1) @ nn.functional.normalize(self.weight, dim=1).T
        own = cosine.gather(1, labels[:, None]).clamp(-1 + 1e-7, 1 - 1e-7)
        theta = torch.acos(own)
        # Past pi - m, cos(theta + m) would rise again and reward a wrong angle: fall back to a linear penalty.
        with_margin = torch.where(theta + margin < math.pi, torch.cos(theta + margin),
                                  own - margin * math.sin(margin))
        return scale * cosine.scatter(1, labels[:, None], with_margin)


def margin_at(epoch: int, config: ArcFaceConfig) -> float:
    """The margin in `epoch` (0-based): linear warm-up to config.margin."""
    if config.warmup_epochs <= 0:
        return config.margin
    return config.margin * min(1.0, (epoch + 1) / config.warmup_epochs)


class ArcFaceHead:
    """scikit-learn-style: fit on (features, groups), transform features into unit embeddings, save/load.

    `features` may hold several views of each listing, shape (views, n, d) (the
    photo, flipped, cropped): each epoch draws one view per listing at random, a
    cheap augmentation when the backbone is frozen and its features are cached.
    """

    def __init__(self, config: ArcFaceConfig | None = None):
        self.config = config or ArcFaceConfig()
        self.head_: EmbeddingHead | None = None
        self.history_: list[float] = []

    def fit(self, features, groups, checkpoint_dir=None, on_epoch=None) -> "ArcFaceHead":
        """Train on labelled features; resume from `checkpoint_dir` when it holds this same run's checkpoint.

        `on_epoch(epoch, loss)` is called after each epoch (its checkpoint is already written).
        """
        views = _as_views(features)
        classes, codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
        if len(classes) < 2:
            raise ValueError("ArcFace needs at least two label groups to tell apart")
        config = self.config
        torch.manual_seed(config.seed)
        head = EmbeddingHead(views.shape[2], config.dim, config.dropout)
        arc = ArcMargin(config.dim, len(classes))
        optimiser = torch.optim.AdamW([*head.parameters(), *arc.parameters()], lr=config.lr,
                                      weight_decay=config.weight_decay)
        steps = config.epochs * math.ceil(views.shape[1] / config.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, total_steps=max(steps, 1),
                                                       pct_start=0.1)
        shuffler = torch.Generator().manual_seed(config.seed)
        run = _run_key(config, views, codes)
        checkpoint = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
        start, history = 0, []
        if checkpoint is not None and checkpoint.is_file():
            state = torch.load(checkpoint, weights_only=False)
            if state["run"] == run:
                for part, key in ((head, "head"), (arc, "arc"), (optimiser, "optimiser"), (schedule, "schedule")):
                    part.load_state_dict(state[key])
                shuffler.set_state(state["shuffler"])
                torch.set_rng_state(state["torch_rng"])
                start, history = state["epoch"] + 1, state["history"]
        data, labels = torch.from_numpy(views), torch.from_numpy(codes.astype(np.int64))
        with torch_threads(config.threads):
            for epoch in range(start, config.epochs):
                loss = _epoch(head, arc, optimiser, schedule, data, labels, shuffler, margin_at(epoch, config), config)
                history.append(loss)
                if checkpoint is not None:
                    checkpoint.parent.mkdir(parents=True, exist_ok=True)
                    atomic_save({"run": run, "epoch": epoch, "history": history, "head": head.state_dict(),
                                  "arc": arc.state_dict(), "optimiser": optimiser.state_dict(),
                                  "schedule": schedule.state_dict(), "shuffler": shuffler.get_state(),
                                  "torch_rng": torch.get_rng_state()}, checkpoint)
                if on_epoch is not None:
                    on_epoch(epoch, loss)
        self.head_, self.history_ = head.eval(), history
        return self

    def transform(self, features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Unit embeddings (float32) of backbone features; zero rows (no photo) stay zero."""
        features = np.asarray(features, np.float32)
        out = np.zeros((len(features), self.config.dim), np.float32)
        present = np.flatnonzero(np.abs(features).sum(axis=1) > 0)
        with torch.inference_mode(), torch_threads(self.config.threads):
            for start in range(0, len(present), batch_size):
                rows = present[start:start + batch_size]
                out[rows] = self.head_.embed(torch.from_numpy(features[rows])).numpy()
        return out

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "arcface.json").write_text(json.dumps({"config": asdict(self.config),
                                                         "in_dim": self.head_.linear.in_features,
                                                         "history": self.history_}, indent=2))
        torch.save(self.head_.state_dict(), folder / "head.pt")
        return folder

    @classmethod
    def from_module(cls, config: ArcFaceConfig, head: EmbeddingHead, history: list[float]) -> "ArcFaceHead":
        """A fitted head around an EmbeddingHead trained elsewhere (with the backbone, by fine-tuning)."""
        model = cls(config)
        model.head_, model.history_ = head.eval(), history
        return model

    @classmethod
    def load(cls, folder) -> "ArcFaceHead":
        folder = Path(folder)
        meta = json.loads((folder / "arcface.json").read_text())
        config = ArcFaceConfig(**meta["config"])
        head = EmbeddingHead(meta["in_dim"], config.dim, config.dropout)
        head.load_state_dict(torch.load(folder / "head.pt", weights_only=True))
        return cls.from_module(config, head, meta["history"])


def _epoch(head, arc, optimiser, schedule, data, labels, shuffler, margin, config) -> float:
    """One pass over every listing, one randomly drawn view of each; returns the mean loss."""
    head.train()
    n = data.shape[1]
    order = torch.randperm(n, generator=shuffler)
    view = torch.randint(data.shape[0], (n,), generator=shuffler)
    total = 0.0
    for start in range(0, n, config.batch_size):
        rows = order[start:start + config.batch_size]
        if len(rows) < 2:  # BatchNorm cannot train on a single row
            continue
        logits = arc(head(data[view[rows], rows]), labels[rows], margin, config.scale)
        loss = nn.functional.cross_entropy(logits, labels[rows])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        total += loss.item() * len(rows)
    return total / n


def _as_views(features) -> np.ndarray:
    views = np.asarray(features, np.float32)
    return views[None] if views.ndim == 2 else views


def _run_key(config: ArcFaceConfig, views: np.ndarray, codes: np.ndarray) -> str:
    """Identifies a training run, so a checkpoint is resumed only by the run that wrote it."""
    digest = hashlib.sha1(json.dumps(asdict(config), sort_keys=True).encode())
    digest.update(np.ascontiguousarray(views).tobytes())
    digest.update(codes.astype(np.int64).tobytes())
    return digest.hexdigest()


def atomic_save(state: dict, path: Path) -> None:
    """Checkpoint through a temporary file, so an interruption mid-write leaves the previous one intact."""
    with atomic_file(path) as out:
        torch.save(state, out)
