"""Datasets small enough to live in memory as one tensor."""

from abc import ABC, abstractmethod
from collections.abc import Sequence

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganforge.errors import DataError


class TensorImages(Dataset):
    """Images held as one tensor (N, C, H, W); a batch is one indexed gather, never N collated samples."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]

    def __getitems__(self, indices: Sequence[int]) -> Tensor:
        # The DataLoader hands the whole list of sampled indices here (PyTorch >= 2.0), so a batch costs one
        # gather instead of `batch_size` __getitem__ calls plus a stack in the collate function.
        return self.images[torch.as_tensor(indices)]


def _already_batched(batch: Tensor) -> Tensor:
    return batch


class InMemoryDataModule(L.LightningDataModule, ABC):
    """Loads all samples once into a tensor in [-1, 1] and serves shuffled, full batches of it.

    Subclasses implement ``load`` and ``shape``. Labels never leave ``load``: the GAN sees images only.
    """

    name = "in-memory data"

    def __init__(self, batch_size: int = 128, num_workers: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.images: Tensor | None = None

    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample, known from the settings alone (before any data is read)."""

    @abstractmethod
    def load(self) -> Tensor:
        """All training samples as a float tensor (N, *shape) in [-1, 1]."""

    def setup(self, stage: str | None = None) -> None:
        if self.images is not None:
            return
        images = self.load()
        if tuple(images.shape[1:]) != self.shape:
            raise RuntimeError(f"{self.name} produced samples of shape {tuple(images.shape[1:])}, not {self.shape}")
        if self.batch_size > len(images):
            raise DataError(
                f"data.batch_size={self.batch_size} is larger than the {len(images)} samples of {self.name}; "
                f"set data.batch_size to at most {len(images)}."
            )
        self.images = images

    def train_dataloader(self) -> DataLoader:
        if self.images is None:
            raise RuntimeError("call setup() before train_dataloader()")
        return DataLoader(
            TensorImages(self.images),
            batch_size=self.batch_size,
            shuffle=True,
            # Full batches only: a last batch of a few samples gives D a noisy, differently scaled update.
            drop_last=True,
            collate_fn=_already_batched,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
