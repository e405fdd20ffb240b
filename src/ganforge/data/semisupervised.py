"""Batches for the semi-supervised GAN: all the unlabeled training images and a handful of labels.

The labels are the point of this mode (``ganforge.semisupervised``), and the only labels a GAN in ganforge is
given: ``labels_per_class`` images of every class, drawn from the training split by a seeded, class-balanced draw
(``draw``), stored with the run (``labeled.json`` and the checkpoints) and resampled for as long as training lasts.
Unlabeled batches come from the whole training split. The held-out split is the test set: measured, never
trained or tuned on.
"""

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from ganforge.data.base import GANDataModule, TensorSamples, _already_batched, to_unit_range
from ganforge.errors import ConfigError, DataError
from ganforge.rules import integer, optional_integer

log = logging.getLogger(__name__)

# data.labeled: the labeled subset, a data option read by ``ganforge.build.build_datamodule``
RULES = (
    optional_integer("data.labeled.per_class", 1, "10", "every label"),
    integer("data.labeled.draw", 0, "0"),
    integer("data.labeled.batch_size", 1, "100"),
    optional_integer("data.labeled.validation_size", 1, "300", "the test split"),
)


def balanced_subset(labels: Tensor, per_class: int | None, draw: int) -> Tensor:
    """Sorted indices of ``per_class`` samples of every class, drawn without replacement by seed ``draw``
    (every index when ``per_class`` is None)."""
    if per_class is None:
        return torch.arange(len(labels))
    rng = np.random.default_rng(draw)
    labels_np = labels.numpy()
    picks = []
    for label in np.unique(labels_np):
        members = np.flatnonzero(labels_np == label)
        if len(members) < per_class:
            raise DataError(
                f"data.labeled.per_class={per_class}, but class {label} has only {len(members)} training samples; "
                f"choose data.labeled.per_class <= {len(members)}."
            )
        picks.append(rng.choice(members, per_class, replace=False))
    return torch.from_numpy(np.sort(np.concatenate(picks)))


class SemiSupervisedBatches(Dataset):
    """The training images with the labeled subset's labels: a batch of indices ``(unlabeled, labeled)`` is
    ``{"unlabeled": ..., "matched": ..., "labeled": (images, labels)}``: the first half of the unlabeled indices
    for D, the second for G's feature matching, the labeled ones indexing the subset."""

    def __init__(self, images: Tensor, labeled_index: Tensor, labels: Tensor) -> None:
        self.images, self.labeled_index, self.labels = images, labeled_index, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitems__(self, indices: tuple[Tensor, Tensor]) -> dict[str, Any]:
        unlabeled, labeled = indices
        rows = self.labeled_index[labeled]
        half = len(unlabeled) // 2
        return {
            "unlabeled": to_unit_range(self.images[unlabeled[:half]]),
            "matched": to_unit_range(self.images[unlabeled[half:]]),
            "labeled": (to_unit_range(self.images[rows]), self.labels[rows]),
        }


class SemiSupervisedSampler(Sampler[tuple[Tensor, Tensor]]):
    """Per step: 2 x ``batch_size`` unlabeled indices (slices of one randperm per epoch) and ``labeled_batch_size``
    positions in the labeled subset (drawn with replacement). An epoch's indices depend only on (seed, epoch)."""

    def __init__(self, n: int, batch_size: int, labeled: int, labeled_batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.labeled, self.labeled_batch_size = n, batch_size, labeled, labeled_batch_size
        self.seed, self.epoch = seed, 0

    @property
    def sampler(self) -> "SemiSupervisedSampler":
        return self  # Lightning calls set_epoch on ``loader.batch_sampler.sampler``

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // (2 * self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.n, generator=generator)[: len(self) * 2 * self.batch_size]
        if self.labeled == 0:  # no labeled subset (an unsupervised run): empty labeled batches
            picks = torch.zeros(len(self), 0, dtype=torch.int64)
        else:
            picks = torch.randint(self.labeled, (len(self), self.labeled_batch_size), generator=generator)
        yield from zip(order.view(len(self), 2 * self.batch_size), picks, strict=True)


class SemiSupervisedData(GANDataModule):
    """A labeled source (digits, MNIST, Fashion-MNIST, CIFAR-10, a folder with class sub-folders) served for the
    semi-supervised GAN: ``data``'s splits, its training labels for the subset only, its held-out split as the
    test set. ``batch_size`` is data's: each step takes two unlabeled batches of it (D's and G's)."""

    def __init__(
        self, data: GANDataModule, labels_per_class: int | None, draw: int, labeled_batch_size: int,
        output_dir: str | None = None, validation_size: int | None = None, uses_labels: bool = True,
    ) -> None:  # fmt: skip
        if not data.has_labels or data.num_classes is None:
            raise ConfigError(
                f"the semi-supervised GAN needs class labels, and data={data.name} has none; use data=digits, mnist, "
                "fashion_mnist, cifar10, or data=folder data.class_subfolders=true (a sub-folder per class)."
            )
        super().__init__(
            batch_size=data.batch_size, holdout_fraction=data.holdout_fraction, split_seed=data.split_seed,
            shuffle_seed=data.shuffle_seed, metrics=data.metrics, preview=data.preview,
        )  # fmt: skip
        self.data, self.labels_per_class, self.draw = data, labels_per_class, draw
        self.labeled_batch_size = labeled_batch_size
        self.validation_size = validation_size
        self.uses_labels = uses_labels  # False: an unsupervised GAN of these networks; no training label is read
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.name, self.kind, self.has_labels = data.name, data.kind, data.has_labels
        self.labeled_index: Tensor | None = None
        self._labels: tuple[Tensor, Tensor] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def num_classes(self) -> int | None:
        return self.data.num_classes

    def build_splits(self) -> tuple[Dataset, Dataset]:
        self.data.setup("fit")
        if not isinstance(self.data.train_set, TensorSamples):
            raise DataError(
                f"the semi-supervised GAN holds its training images in memory, and data={self.data.name} is decoded "
                "on the fly; raise data.cache_limit_mb so that the folder is cached."
            )
        if self.validation_size is None:
            return self.data.train_set, self.data.heldout_set
        train, validation = self.validation_split()
        samples = self.data.train_set.samples
        return TensorSamples(samples[train]), TensorSamples(samples[validation])

    def validation_split(self) -> tuple[Tensor, Tensor]:
        """(training, validation) positions in data's training split: a seeded ``validation_size`` of it is
        set aside and measured instead of the test split, which is then not read at all (for choosing settings)."""
        n = len(self.data.train_set)
        if not 0 < self.validation_size < n:
            raise ConfigError(f"data.labeled.validation_size={self.validation_size} must be between 1 and {n - 1} (the "
                              f"{n} training samples of {self.data.name}), or null.")  # fmt: skip
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.split_seed + 1))
        return order[self.validation_size :], order[: self.validation_size]

    def labels(self) -> tuple[Tensor, Tensor]:
        """(training labels, test labels: or validation labels with ``validation_size``); the training labels
        serve the labeled subset only."""
        if self._labels is None:
            train_labels, test_labels = self.data.labels()
            if self.validation_size is not None:
                train, validation = self.validation_split()
                train_labels, test_labels = train_labels[train], train_labels[validation]
            self._labels = train_labels, test_labels
        return self._labels

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if self.labeled_index is None and not self.uses_labels:
            self.labeled_index = torch.zeros(0, dtype=torch.int64)
            log.info("unsupervised: %d training images, no label read (module.supervised_weight=0)",
                     len(self.train_set))  # fmt: skip
        if self.labeled_index is None:
            self.labeled_index = balanced_subset(self.labels()[0], self.labels_per_class, self.draw)
            self.write_labeled()
        if 2 * self.batch_size > len(self.train_set):
            raise DataError(
                f"data.batch_size={self.batch_size}: each step takes two unlabeled batches, and {self.name} has "
                f"{len(self.train_set)} training samples; set data.batch_size to at most {len(self.train_set) // 2}."
            )

    def write_labeled(self) -> None:
        """``labeled.json`` in the run dir: the subset's indices into the training split and their labels."""
        if self.output_dir is None:
            return
        labels = self.labels()[0][self.labeled_index]
        record = {"labels_per_class": self.labels_per_class, "draw": self.draw,
                  "indices": self.labeled_index.tolist(), "labels": labels.tolist()}  # fmt: skip
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "labeled.json").write_text(json.dumps(record) + "\n")
        log.info("semi-supervised: %d labeled training images (%s per class, draw %d) of %d; the rest unlabeled",
                 len(self.labeled_index), self.labels_per_class or "all", self.draw, len(self.train_set))  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"labeled_index": None if self.labeled_index is None else self.labeled_index.tolist()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        stored = state_dict.get("labeled_index")
        if stored is not None and self.labeled_index is not None and stored != self.labeled_index.tolist():
            raise DataError(
                "the checkpoint was trained on another labeled subset than data.labeled.per_class/data.labeled.draw "
                "give now; resume with the run's own settings."
            )

    def train_dataloader(self) -> DataLoader:
        images = self.train_set.samples
        sampler = SemiSupervisedSampler(len(images), self.batch_size, len(self.labeled_index),
                                        self.labeled_batch_size, self.shuffle_seed)  # fmt: skip
        labels = self.labels()[0] if self.uses_labels else torch.zeros(len(images), dtype=torch.int64)
        dataset = SemiSupervisedBatches(images, self.labeled_index, labels)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=_already_batched)

    def test_set(self) -> tuple[Tensor, Tensor]:
        """(images in [-1, 1], labels) of the held-out split: the test set."""
        return to_unit_range(self.heldout_set.samples), self.labels()[1]
