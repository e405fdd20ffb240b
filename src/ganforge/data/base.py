"""What every data source shares: train and held-out splits, and batches that are image tensors only."""

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms.v2 import functional as tv_functional

from ganforge.errors import DataError
from ganforge.rules import Rule, fraction, integer, names, one_of, seed

log = logging.getLogger(__name__)


def _registered_metric(name: Any) -> bool:
    from ganforge.metrics.registry import registered  # the registry's modules import this one

    return registered(name)


# Arguments of several data modules, each declared once.
IMAGE_SIZE = integer("image_size", 8, "28")
CHANNELS = Rule("channels", "1 (grey) or 3 (RGB)", "3", one_of(1, 3), ("abc", "2"))
NUM_SAMPLES = integer("num_samples", 1, "100000")


def to_unit_range(samples: Tensor) -> Tensor:
    """uint8 pixels 0..255 -> float in [-1, 1]; float samples pass through unchanged."""
    if samples.dtype == torch.uint8:
        return samples.float().div_(127.5).sub_(1.0)
    return samples


class TensorSamples(Dataset):
    """Samples held as one tensor (N, *shape), uint8 pixels or float values; served as float in [-1, 1].

    A batch is one indexed gather, never N collated samples.
    """

    def __init__(self, samples: Tensor) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Tensor:
        return to_unit_range(self.samples[index])

    def __getitems__(self, indices: Sequence[int] | Tensor) -> Tensor:
        # The DataLoader hands the whole batch of sampled indices here (PyTorch >= 2.0), so a batch costs one
        # gather instead of `batch_size` __getitem__ calls plus a stack in the collate function.
        # index_select, not samples[indices]: the same rows at ~5x the speed (advanced indexing goes through
        # aten::index; batch 1024 of 784 floats: 0.48 -> 0.10 ms).
        return to_unit_range(torch.index_select(self.samples, 0, torch.as_tensor(indices)))


class ShuffledBatches(Sampler[Tensor]):
    """Full batches of indices as slices of one ``randperm`` per epoch: no Python list of ints per batch (what
    RandomSampler + BatchSampler build), ~0.1 ms less per step at batch 128 (ganforge-bench).

    Epoch e's order depends only on (seed, e) (Lightning calls ``set_epoch``; without it each pass counts as the
    next epoch), so a run resumed at an epoch boundary sees exactly the batches the uninterrupted run saw.
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.epoch, self.seed = n, batch_size, 0, seed
        self.counts_itself = True  # until someone (Lightning) says which epoch it is

    @property
    def sampler(self) -> "ShuffledBatches":
        # Lightning calls set_epoch on `loader.sampler` and `loader.batch_sampler.sampler`, not on the batch sampler
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.counts_itself = epoch, False

    def __len__(self) -> int:
        return self.n // self.batch_size

    def __iter__(self) -> Iterator[Tensor]:
        epoch = self.epoch
        if self.counts_itself:  # a plain loop over the loader: each pass is the next epoch
            self.epoch += 1
        generator = torch.Generator().manual_seed(self.seed + epoch)
        order = torch.randperm(self.n, generator=generator)
        yield from order[: len(self) * self.batch_size].view(len(self), self.batch_size)


def _already_batched(batch: Tensor) -> Tensor:
    return batch


def heldout_split(n: int, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train indices, held-out indices) of n samples: a fixed, seeded random ``fraction`` is held out."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_heldout = round(fraction * n)
    return order[n_heldout:], order[:n_heldout]


def split_off(samples: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train, held-out) samples, split by ``heldout_split``."""
    train, heldout = heldout_split(len(samples), fraction, seed)
    return samples[train], samples[heldout]


class GANDataModule(L.LightningDataModule, ABC):
    """Serves shuffled, full batches of unlabeled samples, float in [-1, 1] (images) or unbounded (points).

    Subclasses give the sample ``shape`` (known from the settings alone, before any file is read) and
    ``build_splits``: the training set and a held-out set that the GAN never trains on (a test split where the
    source has one, else a seeded ``holdout_fraction``), used only by evaluation.

    What fits the data is declared here rather than guessed elsewhere: ``kind`` ("images" or "points": which
    feature networks and augmentations apply, and the generator's output range), ``metrics`` (the registered
    metrics that evaluation runs, ``ganforge.metrics.registry``), ``preview`` (how samples are drawn: an image
    grid or a scatter plot), ``has_labels`` and ``modes`` (class labels or mixture centres, for evaluation only).
    """

    name = "data"
    kind = "images"
    has_labels = False  # whether `labels` can serve evaluation
    tuples: int | None = None  # PacGAN's m-tuples of samples per D input (toy.TupleSamples); None: plain samples
    num_classes: int | None = None  # classes of `labels`, known without reading the data (None: no labels)
    rules: ClassVar[tuple[Rule, ...]] = (
        integer("batch_size", 1, "128"),
        integer("num_workers", 0, "0"),
        fraction("holdout_fraction", "0.1"),
        integer("split_seed", 0, "0"),
        seed("shuffle_seed"),
        names("metrics", "registered metric names (src/ganforge/metrics/registry.py)", "[fid,kid]", _registered_metric),
    )

    def __init__(
        self,
        batch_size: int = 128,
        num_workers: int = 0,
        holdout_fraction: float = 0.1,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        metrics: Sequence[str] = (),
        preview: Any = None,
    ):
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.holdout_fraction = holdout_fraction
        self.split_seed = split_seed  # fixes the held-out split across runs, so every seed is measured alike
        self.shuffle_seed = shuffle_seed  # the order of training batches (the run's seed)
        self.metrics = list(metrics)
        self.preview = preview
        self.train_set: Dataset | None = None
        self.heldout_set: Dataset | None = None

    @property
    def samples_per_batch(self) -> int:
        """Samples in one training batch: ``batch_size``, or ``batch_size`` tuples of ``tuples`` samples."""
        return self.batch_size * (self.tuples or 1)

    @property
    def output_activation(self) -> str:
        """The generator output that covers the samples' range: tanh for images in [-1, 1], linear for points."""
        return "tanh" if self.kind == "images" else "linear"

    def modes(self) -> tuple[Tensor, float] | None:
        """(centres (K, d), std) of a known mixture, for the mode metrics; None for data without known modes."""
        return None

    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample."""

    @abstractmethod
    def build_splits(self) -> tuple[Dataset, Dataset]:
        """(training set, held-out set) of unlabeled samples: the GAN never sees a label."""

    def labels(self) -> tuple[Tensor, Tensor]:
        """Class labels (int64) of the training and held-out samples, in the order of the two sets.

        For evaluation only (the evaluator network and the linear probe); training never calls this.
        """
        raise DataError(
            f"{self.name} has no class labels, which the evaluator network and the linear probe need; measure it "
            "with metrics.features=labelfree (or inception), or switch evaluation off (callbacks.evaluation=null)."
        )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train_set, heldout_set = self.build_splits()
        if len(train_set) == 0:
            raise DataError(f"{self.name} has no training samples; check the data settings (data.*).")
        if self.batch_size > len(train_set):
            raise DataError(
                f"data.batch_size={self.batch_size} is larger than the {len(train_set)} training samples "
                f"of {self.name}; set data.batch_size to at most {len(train_set)}."
            )
        self.train_set, self.heldout_set = train_set, heldout_set
        log.info("%s: %d training samples, %d held out for evaluation", self.name, len(train_set), len(heldout_set))

    def _loader(self, dataset: Dataset | None, batch_size: int, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        in_memory = isinstance(dataset, TensorSamples)
        single_process = self.trainer is None or self.trainer.world_size == 1  # DDP shards with its own sampler
        if in_memory and train and self.num_workers == 0 and single_process:
            batches = ShuffledBatches(len(dataset), batch_size, self.shuffle_seed)
            return DataLoader(dataset, batch_sampler=batches, collate_fn=_already_batched)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            # Full batches only when training: a last batch of a few samples gives D a noisy, rescaled update.
            drop_last=train,
            collate_fn=_already_batched if in_memory else None,
            num_workers=self.num_workers,
            persistent_workers=train and self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Full, shuffled batches of ``batch_size`` samples; each feeds one D update."""
        return self._loader(self.train_set, self.batch_size, train=True)

    def heldout_dataloader(self, batch_size: int | None = None) -> DataLoader:
        """The held-out samples in a fixed order, for evaluation only (not a Lightning val loop)."""
        return self._loader(self.heldout_set, batch_size or self.batch_size, train=False)

    def real_samples(self, n: int) -> Tensor:
        """The first ``n`` training samples (a fixed set), e.g. to draw beside generated ones."""
        return next(iter(self._loader(self.train_set, min(n, len(self.train_set)), train=False)))


def match_channels_and_size(images: Tensor, channels: int, image_size: int) -> Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, channels, image_size, image_size): grey <-> RGB, antialiased resize.

    Non-square images are resized on their shorter side, then center-cropped.
    """
    if images.shape[1] != channels:
        images = images.expand(-1, 3, -1, -1) if channels == 3 else tv_functional.rgb_to_grayscale(images)
    if tuple(images.shape[-2:]) != (image_size, image_size):
        images = tv_functional.resize(images, image_size, antialias=True)
        images = tv_functional.center_crop(images, [image_size, image_size])
    return images.contiguous()
