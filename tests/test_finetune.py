"""Fine-tuning the backbone with the head: augmentation, what trains and what stays, determinism, resuming."""
import numpy as np
import pytest
import torch
from PIL import Image

from matcher.images.arcface import ArcFaceConfig
from matcher.images.backbone import create_backbone
from matcher.images.channel import ImageChannel
from matcher.images.finetune import BackboneFineTuner, FineTuneConfig, augment, finetune_params, one_cycle

HEAD = ArcFaceConfig(dim=32, warmup_epochs=0, lr=1e-2, dropout=0.1, threads=2)
TINY = FineTuneConfig(stages=1, epochs=2, batch_size=8, lr=1e-3, side=128)


@pytest.fixture(scope="module")
def small(demo_catalog):
    """24 photos of the demo's first 8 groups."""
    groups = sorted(set(demo_catalog.labels))[:8]
    rows = np.flatnonzero(np.isin(demo_catalog.labels, groups))[:24]
    return [demo_catalog.image_path(i) for i in rows], demo_catalog.labels[rows]


def tune(small, config=TINY, **fit):
    return BackboneFineTuner(arcface=HEAD, config=config, device="cpu").fit(*small, **fit)


@pytest.fixture(scope="module")
def tuned(small):
    return tune(small)


def test_augment_is_a_deterministic_random_view_at_the_model_size():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8))
    view = augment(photo, (224, 224), np.random.default_rng([0, 1, 2]), TINY)
    again = augment(photo, (224, 224), np.random.default_rng([0, 1, 2]), TINY)
    other = augment(photo, (224, 224), np.random.default_rng([0, 1, 3]), TINY)
    assert view.size == (224, 224) and view.mode == "RGB"
    assert np.array_equal(np.asarray(view), np.asarray(again))
    assert not np.array_equal(np.asarray(view), np.asarray(other))


def test_partial_fine_tuning_changes_only_the_last_stage_and_the_final_convolution(tuned):
    imagenet = create_backbone().state_dict()
    changed = {name for name, value in tuned.backbone_state_.items()
               if value.is_floating_point() and not torch.equal(value, imagenet[name])}
    last = len(create_backbone().blocks) - 1
    assert changed and all(name.startswith((f"blocks.{last}.", "conv_head.", "bn2.")) for name in changed)
    assert any(name.startswith(f"blocks.{last}.") for name in changed)
    assert any(name.startswith("conv_head.") for name in changed)


def test_training_is_deterministic_and_lowers_the_loss(small, tuned):
    again = tune(small)
    for name, value in tuned.backbone_state_.items():
        assert torch.equal(value, again.backbone_state_[name]), name
    assert tuned.history_ == again.history_
    longer = tune(small, FineTuneConfig(**{**TINY.__dict__, "epochs": 4}))
    assert longer.history_[-1] < longer.history_[0]


def test_an_interrupted_run_resumes_to_the_same_result(small, tuned, tmp_path):
    def stop(epoch, loss):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune(small, checkpoint_dir=tmp_path, on_epoch=stop)
    epochs = []
    resumed = tune(small, checkpoint_dir=tmp_path, on_epoch=lambda epoch, loss: epochs.append(epoch))
    assert epochs == [1]
    assert resumed.history_ == tuned.history_
    for name, value in tuned.backbone_state_.items():
        assert torch.equal(value, resumed.backbone_state_[name]), name
    for name, value in tuned.head_.state_dict().items():
        assert torch.equal(value, resumed.head_.state_dict()[name]), name


def test_unreadable_photos_are_left_out_and_named(small, tmp_path):
    paths, groups = small
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a photo")
    model = tune(([*paths, broken], np.append(groups, groups[0])), FineTuneConfig(**{**TINY.__dict__, "epochs": 1}))
    assert [problem.path for problem in model.problems_] == [str(broken)]


def test_partial_fine_tuning_needs_stages_the_backbone_has(small):
    with pytest.raises(ValueError, match="stages"):
        tune(small, FineTuneConfig(**{**TINY.__dict__, "stages": 99}))


def test_fine_tuned_channel_saves_its_backbone_and_caches_features_under_its_weights(demo_catalog, tmp_path):
    groups = sorted(set(demo_catalog.labels))[:8]
    part = demo_catalog.subset(np.isin(demo_catalog.labels, groups))
    cache = tmp_path / "cache"
    channel = ImageChannel(arcface=HEAD.__dict__, finetune={**TINY.__dict__, "epochs": 1}, device="cpu",
                           cache_dir=cache).fit(part, log=lambda message: None)
    assert channel.weights_ is not None and channel.training_["fine_tuned"]["stages"] == 1
    vectors, present, _ = channel.transform(part)
    assert present.all() and vectors.shape == (len(part), 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    cached = sorted(path.name for path in cache.iterdir())
    assert len(cached) == 1 and cached[0].startswith("features-tf_efficientnet_lite0-")

    loaded = ImageChannel.load(channel.save(tmp_path / "image"), cache_dir=tmp_path / "elsewhere", device="cpu")
    assert loaded.get_params() == channel.get_params()
    np.testing.assert_allclose(loaded.transform(part)[0], vectors, atol=1e-5)  # recomputed from the saved weights


def test_fine_tuning_modes():
    assert finetune_params("auto", "cpu") is None and finetune_params("none", "cuda") is None
    assert finetune_params("auto", "cuda") == {"stages": None}
    assert finetune_params("partial", "cpu", epochs=3) == {"stages": 2, "epochs": 3}
    with pytest.raises(ValueError, match="partial"):
        finetune_params("half")


@pytest.mark.parametrize("steps", range(1, 25))
def test_the_learning_rate_schedule_runs_any_number_of_steps(steps):
    """torch's OneCycleLR divides by zero for some short runs (10 steps at a 10% warm-up): a small catalogue's."""
    optimiser = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = one_cycle(optimiser, [0.1], steps)
    rates = []
    for _ in range(steps):
        optimiser.step()
        schedule.step()
        rates.append(optimiser.param_groups[0]["lr"])
    assert all(0 < rate <= 0.1 for rate in rates)
