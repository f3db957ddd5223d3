"""Fine-tuning the backbone together with the ArcFace head, on augmented photos.

A frozen ImageNet backbone only tells kinds of object apart; telling two pink
court shoes apart needs its later layers to learn the products' details too.
`stages` picks how much trains: the last n stages of blocks plus the final
convolution ("partial"), or every layer (None, "full"). Each photo is decoded
once, its short side kept at `side` pixels; every epoch then draws a random crop,
flip and colour change of it. The randomness of each photo in each epoch comes
from (seed, epoch, photo), so runs are deterministic, augmentation can run on
threads, and a run resumes from its last checkpoint to the identical result.

A GPU does this in seconds to minutes; a CPU manages partial fine-tuning of a
couple of thousand photos in tens of minutes, so the build asks for it
explicitly there (`--finetune partial`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch import nn
from tqdm import tqdm

from matcher.images.arcface import ArcFaceConfig, ArcMargin, EmbeddingHead, atomic_save, margin_at
from matcher.images.backbone import create_backbone, feature_dim, preprocess_config
from matcher.images.read import ImageProblem, read_image
from matcher.images.runtime import resolve_device, torch_threads

CHECKPOINT = "finetune-checkpoint.pt"
MODES = ("auto", "none", "partial", "full")
PARTIAL_STAGES = 2


@dataclass
class FineTuneConfig:
    stages: int | None = None      # train the last n block stages and the final convolution; None: the whole backbone
    epochs: int = 12
    batch_size: int = 32
    lr: float = 3e-4               # for the backbone; the head uses the ArcFace config's
    side: int = 256                # short side photos are decoded to, before the random crop
    min_crop: float = 0.4          # smallest crop, as a share of the photo's area
    jitter: float = 0.3            # brightness, contrast and saturation vary by up to this share
    threads: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))  # decoding and augmentation


def finetune_params(mode: str = "auto", device: str = "auto", epochs: int | None = None) -> dict | None:
    """FineTuneConfig fields for a mode, None for a frozen backbone.

    "partial" trains the last two stages, "full" every layer, "none" nothing;
    "auto" is "full" where the device is a GPU and "none" on a CPU, where even
    partial fine-tuning takes tens of minutes (docs/image-benchmark.md).
    """
    if mode not in MODES:
        raise ValueError(f"fine-tuning mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "full" if resolve_device(device).type == "cuda" else "none"
    if mode == "none":
        return None
    return {"stages": PARTIAL_STAGES if mode == "partial" else None, **({"epochs": epochs} if epochs else {})}


class BackboneFineTuner:
    """fit(paths, groups) trains backbone and head together; gives `backbone_state_` and `head_`."""

    def __init__(self, backbone: str = "tf_efficientnet_lite0", arcface: ArcFaceConfig | None = None,
                 config: FineTuneConfig | None = None, device: str = "auto"):
        self.backbone = backbone
        self.arcface = arcface or ArcFaceConfig()
        self.config = config or FineTuneConfig()
        self.device = resolve_device(device)
        self.backbone_state_: dict[str, torch.Tensor] | None = None
        self.head_: EmbeddingHead | None = None
        self.history_: list[float] = []
        self.problems_: list[ImageProblem] = []

    def fit(self, paths, groups, checkpoint_dir=None, on_epoch=None) -> "BackboneFineTuner":
        """Train on the photos at `paths` labelled by `groups`; unreadable photos are left out (`problems_`).

        `on_epoch(epoch, loss)` is called after each epoch, once its checkpoint is written.
        """
        images, groups = self._decode(paths, np.asarray(groups, dtype=str))
        classes, codes = np.unique(groups, return_inverse=True)
        if len(classes) < 2:
            raise ValueError("fine-tuning needs readable photos of at least two label groups")
        torch.manual_seed(self.arcface.seed)
        model = _Trainable(create_backbone(self.backbone), self.config.stages, self.arcface, len(classes))
        model.to(self.device)
        optimiser = torch.optim.AdamW(
            [{"params": model.backbone_parameters(), "lr": self.config.lr},
             {"params": [*model.head.parameters(), *model.arc.parameters()], "lr": self.arcface.lr}],
            weight_decay=self.arcface.weight_decay)
        steps = self.config.epochs * math.ceil(len(images) / self.config.batch_size)
        schedule = one_cycle(optimiser, [self.config.lr, self.arcface.lr], steps)
        checkpoint = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
        run = self._run_key(paths, codes)
        start, history = 0, []
        if checkpoint is not None and checkpoint.is_file():
            state = torch.load(checkpoint, map_location=self.device, weights_only=False)
            if state["run"] == run:
                for part, key in ((model, "model"), (optimiser, "optimiser"), (schedule, "schedule")):
                    part.load_state_dict(state[key])
                torch.set_rng_state(state["torch_rng"].cpu())
                start, history = state["epoch"] + 1, state["history"]
        labels = torch.from_numpy(codes.astype(np.int64))
        preprocess = _Normalise(preprocess_config(model.backbone))
        with torch_threads(self.config.threads), ThreadPoolExecutor(self.config.threads) as pool:
            for epoch in range(start, self.config.epochs):
                loss = self._epoch(model, optimiser, schedule, images, labels, preprocess, pool, epoch)
                history.append(loss)
                if checkpoint is not None:
                    checkpoint.parent.mkdir(parents=True, exist_ok=True)
                    atomic_save({"run": run, "epoch": epoch, "history": history, "model": model.state_dict(),
                                 "optimiser": optimiser.state_dict(), "schedule": schedule.state_dict(),
                                 "torch_rng": torch.get_rng_state()}, checkpoint)
                if on_epoch is not None:
                    on_epoch(epoch, loss)
        model.eval().cpu()
        self.backbone_state_ = model.backbone.state_dict()
        self.head_, self.history_ = model.head, history
        return self

    def _decode(self, paths, groups: np.ndarray) -> tuple[list[Image.Image], np.ndarray]:
        """Every readable photo as RGB with its short side at config.side; the others go to `problems_`."""
        side = self.config.side
        with ThreadPoolExecutor(self.config.threads) as pool:
            decoded = list(tqdm(pool.map(lambda path: read_image(path, draft_size=(side, side)), paths),
                                total=len(paths), desc="decoding photos", unit="photo", disable=None))
        self.problems_ = [problem for image, problem in decoded if image is None]
        keep = np.array([image is not None for image, _ in decoded], bool)
        return [_short_side(image.convert("RGB"), side) for image, _ in decoded if image is not None], groups[keep]

    def _epoch(self, model, optimiser, schedule, images, labels, preprocess, pool, epoch: int) -> float:
        """One pass over every photo in an order and with augmentations drawn from (seed, epoch)."""
        model.train()
        seed, size = self.arcface.seed, model.input_size
        order = np.random.default_rng([seed, epoch]).permutation(len(images))
        margin = margin_at(epoch, self.arcface)
        total = 0.0
        for start in range(0, len(order), self.config.batch_size):
            rows = order[start:start + self.config.batch_size]
            if len(rows) < 2:  # BatchNorm cannot train on a single photo
                continue
            views = pool.map(lambda i: augment(images[i], size, np.random.default_rng([seed, epoch, i]), self.config),
                             rows)
            batch = torch.stack([preprocess(view) for view in views]).to(self.device)
            target = labels[rows].to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
                logits = model(batch, target, margin)
            loss = nn.functional.cross_entropy(logits.float(), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(rows)
        return total / len(order)

    def _run_key(self, paths, codes: np.ndarray) -> str:
        """Identifies a run (configs, photo contents, labels), so a checkpoint is resumed only by its own run."""
        settings = {key: value for key, value in asdict(self.config).items() if key != "threads"}  # no effect on it
        digest = hashlib.sha1(json.dumps([self.backbone, asdict(self.arcface), settings]).encode())
        for path in paths:
            try:
                digest.update(Path(path).read_bytes())
            except OSError:
                digest.update(b"unreadable")
        digest.update(codes.astype(np.int64).tobytes())
        return digest.hexdigest()


def one_cycle(optimiser, max_lr: list[float], steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """Warm up over a tenth of the steps, then anneal; at least two warm-up steps, since torch divides by
    (warm-up steps - 1) and fails on short runs (a small catalogue, few epochs)."""
    total = max(steps, 3)
    return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=max_lr, total_steps=total,
                                               pct_start=max(0.1, 2 / total))


def augment(image: Image.Image, size: tuple[int, int], rng: np.random.Generator,
            config: FineTuneConfig) -> Image.Image:
    """A random crop (config.min_crop to all of the area, aspect 3:4 to 4:3) resized to `size`, maybe mirrored,
    with brightness, contrast and saturation each scaled by up to config.jitter."""
    width, height = image.size
    area = width * height * rng.uniform(config.min_crop, 1.0)
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    crop_w = min(width, round(math.sqrt(area * aspect)))
    crop_h = min(height, round(math.sqrt(area / aspect)))
    left, top = rng.integers(0, width - crop_w + 1), rng.integers(0, height - crop_h + 1)
    view = image.resize(size, Image.BICUBIC, box=(left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        view = view.transpose(Image.FLIP_LEFT_RIGHT)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        view = enhancer(view).enhance(1 + rng.uniform(-config.jitter, config.jitter))
    return view


class _Trainable(nn.Module):
    """Backbone, embedding head and ArcFace margin as one module, with the frozen part of the backbone fixed."""

    def __init__(self, backbone: nn.Module, stages: int | None, arcface: ArcFaceConfig, n_classes: int):
        super().__init__()
        self.backbone, self.arcface = backbone, arcface
        self.head = EmbeddingHead(feature_dim(backbone), arcface.dim, arcface.dropout)
        self.arc = ArcMargin(arcface.dim, n_classes)
        self.input_size = tuple(preprocess_config(backbone)["input_size"][1:][::-1])  # PIL's (width, height)
        self.trained = self._trained_modules(stages)
        trained = {id(p) for module in self.trained for p in module.parameters()}
        for parameter in backbone.parameters():
            parameter.requires_grad = id(parameter) in trained

    def _trained_modules(self, stages: int | None) -> list[nn.Module]:
        if stages is None:
            return [self.backbone]
        blocks = getattr(self.backbone, "blocks", None)
        if blocks is None or not 0 < stages <= len(blocks):
            raise ValueError(f"partial fine-tuning of {stages} stages needs a backbone with that many `blocks` "
                             f"stages (EfficientNet-style); use full fine-tuning (stages=None) for this one")
        tail = [getattr(self.backbone, name) for name in ("conv_head", "bn2") if hasattr(self.backbone, name)]
        return [*blocks[len(blocks) - stages:], *tail]

    def backbone_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.backbone.parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> "_Trainable":
        """Frozen layers stay in evaluation mode: their BatchNorm statistics are ImageNet's and stay so."""
        super().train(False)
        if mode:
            for module in [*self.trained, self.head, self.arc]:
                module.train()
        return self

    def forward(self, batch: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
        features = nn.functional.normalize(self.backbone(batch).float(), dim=1)  # unit rows, as FeatureExtractor
        return self.arc(self.head(features), labels, margin, self.arcface.scale)


class _Normalise:
    """PIL view -> the model's normalised tensor (the crop and resize already happened in `augment`)."""

    def __init__(self, config: dict):
        self.mean = torch.tensor(config["mean"]).view(3, 1, 1)
        self.std = torch.tensor(config["std"]).view(3, 1, 1)

    def __call__(self, view: Image.Image) -> torch.Tensor:
        pixels = torch.from_numpy(np.asarray(view, np.float32) / 255.0).permute(2, 0, 1)
        return (pixels - self.mean) / self.std


def _short_side(image: Image.Image, side: int) -> Image.Image:
    width, height = image.size
    scale = side / min(width, height)
    return image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BICUBIC)
