"""ArcFace head: the margin, learning a separable set, determinism, resuming, save/load."""
import math

import numpy as np
import pytest
import torch

from matcher.images.arcface import CHECKPOINT, ArcFaceConfig, ArcFaceHead, ArcMargin, margin_at

FAST = dict(dim=16, epochs=40, batch_size=32, warmup_epochs=5, lr=1e-2, dropout=0.0, threads=1)


def products(n_classes=8, per_class=40, dim=24, seed=0):
    """Features where product identity is a small signal in 4 dims under large nuisance in the rest,
    so raw cosine neighbours are mostly wrong until a projection learns to ignore the nuisance."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, 4)) * 3
    labels = np.repeat(np.arange(n_classes), per_class)
    x = np.concatenate([centres[labels] + rng.normal(scale=0.3, size=(len(labels), 4)),
                        rng.normal(scale=4.0, size=(len(labels), dim - 4))], axis=1)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.array([f"g{c}" for c in labels])


def nn1(vectors, labels):
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return (labels[sims.argmax(1)] == labels).mean()


def test_margin_warms_up_linearly():
    config = ArcFaceConfig(margin=0.4, warmup_epochs=4)
    assert [round(margin_at(e, config), 2) for e in range(6)] == [0.1, 0.2, 0.3, 0.4, 0.4, 0.4]
    assert margin_at(0, ArcFaceConfig(margin=0.4, warmup_epochs=0)) == 0.4


def test_margin_lowers_only_the_own_class_logit():
    arc = ArcMargin(dim=3, n_classes=2)
    with torch.no_grad():
        arc.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    emb = torch.tensor([[math.cos(0.3), math.sin(0.3), 0.0]])
    logits = arc(emb, torch.tensor([0]), margin=0.5, scale=10.0)[0]
    assert logits[0].item() == pytest.approx(10 * math.cos(0.8), abs=1e-5)     # cos(theta + m)
    assert logits[1].item() == pytest.approx(10 * math.sin(0.3), abs=1e-5)     # other class untouched
    # Past pi - m the penalty stays monotonic instead of wrapping round.
    far = torch.tensor([[-1.0, 0.01, 0.0]])
    assert arc(far, torch.tensor([0]), margin=0.5, scale=1.0)[0, 0].item() < -1.0


def test_margin_logits_are_float32_under_bf16_autocast():
    """Fine-tuning on a GPU runs the backbone under bf16 autocast; the margin row must still fit the logits."""
    torch.manual_seed(0)
    arc = ArcMargin(8, 3)
    embeddings, labels = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = arc(embeddings, labels, 0.5, 30.0)
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits, arc(embeddings, labels, 0.5, 30.0))


def test_head_learns_a_separable_set_and_generalises_to_new_photos():
    x, labels = products(seed=0)
    new_x, new_labels = products(seed=0, per_class=60)  # same products (same rng draws the centres), new photos
    head = ArcFaceHead(ArcFaceConfig(**FAST)).fit(x, labels)
    assert head.history_[-1] < head.history_[0] / 3
    assert nn1(new_x, new_labels) < 0.6                   # raw features: nuisance dominates
    embedded = head.transform(new_x)
    assert nn1(embedded, new_labels) > 0.95
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=1), 1, atol=1e-5)


def test_training_is_deterministic_given_a_seed():
    x, labels = products()
    a = ArcFaceHead(ArcFaceConfig(**FAST, seed=3)).fit(x, labels).transform(x)
    b = ArcFaceHead(ArcFaceConfig(**FAST, seed=3)).fit(x, labels).transform(x)
    c = ArcFaceHead(ArcFaceConfig(**FAST, seed=4)).fit(x, labels).transform(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


class Interrupted(Exception):
    pass


def test_interrupted_training_resumes_from_its_checkpoint_to_the_same_result(tmp_path):
    x, labels = products()
    config = ArcFaceConfig(**{**FAST, "dropout": 0.2})  # dropout: the RNG state must be resumed too
    whole = ArcFaceHead(config).fit(x, labels).transform(x)

    def stop_after_epoch_14(epoch, loss):
        if epoch == 14:
            raise Interrupted

    with pytest.raises(Interrupted):
        ArcFaceHead(config).fit(x, labels, checkpoint_dir=tmp_path, on_epoch=stop_after_epoch_14)
    assert (tmp_path / CHECKPOINT).is_file()
    seen = []
    resumed = ArcFaceHead(config).fit(x, labels, checkpoint_dir=tmp_path, on_epoch=lambda e, l: seen.append(e))
    assert seen == list(range(15, config.epochs))
    np.testing.assert_allclose(resumed.transform(x), whole, atol=1e-6)
    # Another run's checkpoint is never resumed: different data trains from the start.
    seen.clear()
    ArcFaceHead(config).fit(x[::-1].copy(), labels[::-1], checkpoint_dir=tmp_path, on_epoch=lambda e, l: seen.append(e))
    assert seen == list(range(config.epochs))


def test_training_draws_from_every_view():
    x, labels = products()
    jittered = x + np.random.default_rng(1).normal(scale=0.05, size=x.shape).astype(np.float32)
    single = ArcFaceHead(ArcFaceConfig(**FAST)).fit(x, labels)
    views = ArcFaceHead(ArcFaceConfig(**FAST)).fit(np.stack([x, jittered]), labels)
    assert nn1(views.transform(x), labels) > 0.9 and nn1(views.transform(jittered), labels) > 0.9
    assert not np.allclose(views.transform(x), single.transform(x))


def test_save_load_round_trip_and_zero_rows(tmp_path):
    x, labels = products()
    head = ArcFaceHead(ArcFaceConfig(**FAST)).fit(x, labels)
    loaded = ArcFaceHead.load(head.save(tmp_path / "head"))
    with_blank = np.concatenate([x[:5], np.zeros((1, x.shape[1]), np.float32)])
    np.testing.assert_array_equal(loaded.transform(with_blank), head.transform(with_blank))
    assert not loaded.transform(with_blank)[-1].any()
    assert loaded.history_ == head.history_ and loaded.config == head.config


def test_one_group_is_a_clear_error():
    x, _ = products()
    with pytest.raises(ValueError, match="two label groups"):
        ArcFaceHead(ArcFaceConfig(**FAST)).fit(x, ["same"] * len(x))
