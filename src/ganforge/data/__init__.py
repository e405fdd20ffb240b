"""Unlabeled data sources. Each is a LightningDataModule whose batches are sample tensors and nothing else."""

from ganforge.data.base import GANDataModule, TensorSamples
from ganforge.data.digits import DigitsDataModule
from ganforge.data.folder import FolderDataModule
from ganforge.data.standard import CIFAR10DataModule, FashionMNISTDataModule, MNISTDataModule
from ganforge.data.synthetic import SyntheticDataModule
from ganforge.data.toy import GaussianMixtureDataModule, grid_centers, ring_centers

__all__ = [
    "CIFAR10DataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "FolderDataModule",
    "GANDataModule",
    "GaussianMixtureDataModule",
    "MNISTDataModule",
    "SyntheticDataModule",
    "TensorSamples",
    "grid_centers",
    "ring_centers",
]
