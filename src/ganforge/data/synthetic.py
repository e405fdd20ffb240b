"""Random images for speed measurements: any shape and sample count, no files."""

import torch
from torch.utils.data import Dataset

from ganforge.data.base import CHANNELS, IMAGE_SIZE, NUM_SAMPLES, GANDataModule, TensorSamples, split_off


class SyntheticDataModule(GANDataModule):
    """``num_samples`` uniform random (channels, image_size, image_size) images in [-1, 1], seeded; nothing to learn
    from."""

    name = "synthetic"
    rules = (*GANDataModule.rules, IMAGE_SIZE, CHANNELS, NUM_SAMPLES)

    def __init__(self, image_size: int = 28, channels: int = 1, num_samples: int = 16384, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shape = (channels, image_size, image_size)
        self.num_samples = num_samples

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    def build_splits(self) -> tuple[Dataset, Dataset]:
        generator = torch.Generator().manual_seed(self.split_seed)
        samples = torch.rand(self.num_samples, *self._shape, generator=generator).mul_(2).sub_(1)
        train, heldout = split_off(samples, self.holdout_fraction, self.split_seed)
        return TensorSamples(train), TensorSamples(heldout)
