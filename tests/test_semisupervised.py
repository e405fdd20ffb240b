"""The semi-supervised GAN: its formulas by hand, its labeled subset, its reduction to the supervised baseline, and
its presets on small files in the real formats."""

import copy
import functools
import json
import math
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganforge.data import DigitsDataModule
from ganforge.data.base import heldout_split
from ganforge.data.semisupervised import SemiSupervisedData, balanced_subset
from ganforge.losses import feature_matching_loss, real_fake_logit
from ganforge.networks import NoisyMLPClassifier
from ganforge.semisupervised import SemiSupervisedGAN, class_entropy
from ganforge.train import build, train
from tests.conftest import FAST_EVAL, compose_config
from tests.datafiles import write_mnist


def test_the_real_fake_logit_is_log_z_so_that_d_is_z_over_z_plus_one() -> None:
    logits = torch.tensor([[0.0, math.log(2.0), math.log(3.0)], [-1.0, -1.0, -1.0]], dtype=torch.float64)
    z = torch.tensor([1.0 + 2.0 + 3.0, 3 * math.exp(-1.0)], dtype=torch.float64)
    assert torch.allclose(real_fake_logit(logits), z.log())
    assert torch.allclose(torch.sigmoid(real_fake_logit(logits)), z / (z + 1))  # 6/7 for the first row


def test_feature_matching_is_the_squared_distance_of_the_batch_means() -> None:
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # mean (1, 1)
    assert feature_matching_loss(real, fake) == pytest.approx((1.0**2 + 2.0**2) / 2)


def test_the_class_entropy_is_the_mean_entropy_of_the_softmax_in_nats() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [math.log(3.0), 0.0, -100.0, -100.0]], dtype=torch.float64)
    # uniform over 4: ln 4; (3/4, 1/4, ~0, ~0): -(3/4 ln 3/4 + 1/4 ln 1/4)
    by_hand = (math.log(4.0) - (0.75 * math.log(0.75) + 0.25 * math.log(0.25))) / 2
    assert class_entropy(logits).item() == pytest.approx(by_hand)


def test_the_entropy_weight_adds_the_unlabeled_batchs_class_entropy_to_ds_loss() -> None:
    torch.manual_seed(0)
    classifier = NoisyMLPClassifier((1, 8, 8), 10, hidden_dims=(32, 16), input_noise=0.0, hidden_noise=0.0)
    generator = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 8, 8)))
    generator.latent_dim = 4
    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    labeled, labels, unlabeled = torch.randn(6, 1, 8, 8), torch.arange(6), torch.randn(5, 1, 8, 8)
    losses = {}
    for weight in (0.0, 0.5):
        gan = SemiSupervisedGAN(generator, classifier, adam, adam, entropy_weight=weight, classifier_ema_decay=None)
        torch.manual_seed(1)  # the same fakes for both
        losses[weight], scalars = gan.classifier_loss(labeled, labels, unlabeled)
    assert "train/unlabeled_entropy" in scalars
    expected = 0.5 * class_entropy(classifier(unlabeled))
    assert (losses[0.5] - losses[0.0]).item() == pytest.approx(expected.item(), rel=1e-5)


def digits(**kwargs) -> SemiSupervisedData:
    base = DigitsDataModule(image_size=8, holdout_fraction=0.5, batch_size=50)
    return SemiSupervisedData(base, labeled_batch_size=20, **kwargs)


def test_the_labeled_subset_is_balanced_seeded_stored_and_from_the_training_split_only(tmp_path: Path) -> None:
    data = digits(labels_per_class=3, draw=4, output_dir=str(tmp_path))
    data.setup()
    train_labels, test_labels = data.labels()
    labeled = data.labeled_index
    assert torch.bincount(train_labels[labeled]).tolist() == [3] * 10  # balanced
    assert torch.equal(labeled, balanced_subset(train_labels, 3, draw=4))  # seeded: the same draw again
    assert not torch.equal(labeled, balanced_subset(train_labels, 3, draw=5))
    stored = json.loads((tmp_path / "labeled.json").read_text())
    assert stored["indices"] == labeled.tolist() and stored["labels"] == train_labels[labeled].tolist()
    # positions in the whole dataset: the labeled images are training images, never test images
    train_rows, test_rows = heldout_split(1797, 0.5, seed=0)
    assert len(test_labels) == len(test_rows) == 898 and set(train_rows[labeled].tolist()).isdisjoint(
        test_rows.tolist()
    )
    batch = next(iter(data.train_dataloader()))
    images, labels = batch["labeled"]
    assert batch["unlabeled"].shape == batch["matched"].shape == (50, 1, 8, 8) and images.shape == (20, 1, 8, 8)
    assert set(labels.tolist()) <= set(train_labels[labeled].tolist())


def test_a_validation_split_replaces_the_test_split_and_comes_from_the_training_images() -> None:
    data = digits(labels_per_class=1, draw=0, validation_size=300)
    data.setup()
    assert len(data.train_set) == 899 - 300 and len(data.heldout_set) == 300 and len(data.labels()[1]) == 300
    base = DigitsDataModule(image_size=8, holdout_fraction=0.5)
    base.setup()
    test = {tuple(x.flatten().tolist()) for x in base.heldout_set.samples}
    validation = [tuple(x.flatten().tolist()) for x in data.heldout_set.samples]
    assert sum(v in test for v in validation) <= 5  # identical 8x8 digits exist; the split itself is disjoint


class Recorder(L.Callback):
    def __init__(self) -> None:
        self.weights: list[list[torch.Tensor]] = []
        self.batches: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.weights.append([p.detach().clone() for p in pl_module.discriminator.parameters()])
        self.batches.append(batch)


def test_without_g_and_the_unlabeled_loss_it_is_the_supervised_baseline_step_for_step() -> None:
    torch.manual_seed(0)
    classifier = NoisyMLPClassifier((1, 8, 8), 10, hidden_dims=(32, 16), input_noise=0.0, hidden_noise=0.0)
    start = copy.deepcopy(classifier)
    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    gan = SemiSupervisedGAN(None, classifier, adam, adam, unsupervised_weight=0.0, classifier_ema_decay=None)
    recorder = Recorder()
    trainer = L.Trainer(max_steps=8, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", callbacks=[recorder])  # fmt: skip
    trainer.fit(gan, datamodule=digits(labels_per_class=5, draw=0))
    # the same network, labels and steps by hand: cross-entropy of each labeled batch, one Adam step
    optimizer = adam(start.parameters())
    for batch, weights in zip(recorder.batches, recorder.weights, strict=True):
        images, labels = batch["labeled"]
        optimizer.zero_grad()
        F.cross_entropy(start(images), labels).backward()
        optimizer.step()
        assert all(torch.equal(a, b) for a, b in zip(start.parameters(), weights, strict=True))
    assert len(recorder.weights) == 8 and gan.step == 8 and gan.generator_updates == 0


def test_the_digits_preset_trains_logs_and_reports_the_last_steps_test_accuracy(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path / "run", "experiment=ssl_digits", "steps=20", "data.labeled.per_class=2",
                         "callbacks.classifier.every_n_steps=10", "callbacks.progress_bar=null",
                         "callbacks.model_summary=null")  # fmt: skip
    results = train(cfg)
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["step"] == 20 and report["labeled"] == 20 and report["evaluated_size"] == 898
    assert results["test/accuracy"] == report["metrics"]["test/accuracy"] > 0.2  # 10 classes: chance is 0.1
    from tests.test_train import events

    scalars = events(tmp_path / "run").Tags()["scalars"]
    for tag in ("train/labeled_ce", "train/unlabeled_loss", "train/feature_matching", "train/real_fake_accuracy",
                "test/accuracy"):  # fmt: skip
        assert tag in scalars
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["SemiSupervisedData"]["labeled_index"] == report_indices(tmp_path / "run")


def report_indices(run: Path) -> list[int]:
    return json.loads((run / "labeled.json").read_text())["indices"]


def test_the_mnist_format_preset_trains_a_batch(tmp_path: Path) -> None:
    write_mnist(tmp_path / "datasets", n_train=60, n_test=20)
    cfg = compose_config(tmp_path / "run", "experiment=ssl_mnist", f"paths.data_dir={tmp_path / 'datasets'}",
                         "data.batch_size=10", "data.labeled.per_class=1", "data.labeled.batch_size=10",
                         "trainer.max_epochs=1", "trainer.limit_train_batches=1", "trainer.log_every_n_steps=1",
                         "callbacks.progress_bar=null",
                         "callbacks.model_summary=null", *FAST_EVAL)  # fmt: skip
    gan, data, trainer = build(cfg)
    trainer.fit(gan, datamodule=data)
    assert gan.step == 1 and data.num_classes == 10


def write_class_folder(root: Path, per_class: int = 12) -> None:
    rng = np.random.default_rng(3)
    for name in ("cats", "dogs", "owls"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(root / name / f"{i}.png")


def test_the_folder_preset_takes_labels_from_class_subfolders_and_trains_a_batch(tmp_path: Path) -> None:
    write_class_folder(tmp_path / "images")
    cfg = compose_config(tmp_path / "run", "experiment=ssl_folder", f"data.path={tmp_path / 'images'}",
                         "data.batch_size=8", "data.labeled.per_class=2", "data.labeled.batch_size=6",
                         "steps=1", "trainer.log_every_n_steps=1", "callbacks.progress_bar=null",
                         "callbacks.model_summary=null")  # fmt: skip
    gan, data, trainer = build(cfg)
    trainer.fit(gan, datamodule=data)
    train_labels, test_labels = data.labels()
    assert data.num_classes == 3 and len(train_labels) + len(test_labels) == 36
    assert torch.bincount(train_labels[data.labeled_index]).tolist() == [2, 2, 2] and gan.step == 1
