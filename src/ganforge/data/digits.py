"""scikit-learn's handwritten digits: 1,797 grey 8x8 images that ship with the package (no download)."""

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor
from torch.utils.data import Dataset

from ganforge.data.base import IMAGE_SIZE, GANDataModule, TensorSamples, heldout_split, split_off
from ganforge.errors import ConfigError

_MAX_PIXEL = 16.0  # load_digits stores ink counts 0..16 per pixel


class DigitsDataModule(GANDataModule):
    """Digits as (N, 1, image_size, image_size) in [-1, 1], upsampled bilinearly from 8x8; labels dropped.

    The digits have no test split: a seeded ``holdout_fraction`` is held out for evaluation.
    """

    name = "digits"
    has_labels = True
    num_classes = 10
    rules = (*GANDataModule.rules, IMAGE_SIZE)

    def __init__(self, image_size: int = 28, **kwargs) -> None:
        super().__init__(**kwargs)
        IMAGE_SIZE.require(image_size, "data.image_size", ConfigError)
        self.image_size = image_size

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, self.image_size, self.image_size)

    def build_splits(self) -> tuple[Dataset, Dataset]:
        pixels = load_digits().images  # the labels (`.target`) are read by `labels` only, for evaluation
        images = torch.from_numpy(pixels).float().unsqueeze(1) / _MAX_PIXEL * 2 - 1
        if self.image_size != images.shape[-1]:
            images = F.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False)
        train, heldout = split_off(images.clamp_(-1, 1).contiguous(), self.holdout_fraction, self.split_seed)
        return TensorSamples(train), TensorSamples(heldout)

    def labels(self) -> tuple[Tensor, Tensor]:
        target = torch.from_numpy(load_digits().target).long()
        train, heldout = heldout_split(len(target), self.holdout_fraction, self.split_seed)
        return target[train], target[heldout]
