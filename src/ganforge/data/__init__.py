"""Unlabeled data sources. Each is a LightningDataModule whose batches are image tensors and nothing else."""

from ganforge.data.digits import DigitsDataModule
from ganforge.data.memory import InMemoryDataModule, TensorImages

__all__ = ["DigitsDataModule", "InMemoryDataModule", "TensorImages"]
