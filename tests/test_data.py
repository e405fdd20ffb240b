"""The digits datamodule: range, shape, no labels, shuffled full batches, clear errors."""

import pytest
import torch

from ganforge.data import DigitsDataModule
from ganforge.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def digits() -> DigitsDataModule:
    datamodule = DigitsDataModule(image_size=28, batch_size=128)
    datamodule.setup("fit")
    return datamodule


def test_images_fill_minus_one_to_one(digits: DigitsDataModule) -> None:
    images = digits.images
    assert images.shape == (1797, 1, 28, 28) and images.dtype == torch.float32
    assert images.min().item() == -1.0 and images.max().item() == pytest.approx(1.0, abs=0.05)


def test_batches_are_image_tensors_without_labels(digits: DigitsDataModule) -> None:
    batch = next(iter(digits.train_dataloader()))
    assert isinstance(batch, torch.Tensor) and batch.shape == (128, 1, 28, 28)


def test_every_batch_is_full_and_epochs_are_reshuffled(digits: DigitsDataModule) -> None:
    loader = digits.train_dataloader()
    torch.manual_seed(0)
    first = [b for b in loader]
    second = [b for b in loader]
    assert len(first) == 1797 // 128 and all(len(b) == 128 for b in first)
    assert not torch.equal(first[0], second[0])
    # a batch is a gather of distinct training images
    flat = digits.images.flatten(1)
    rows = [(flat == image.flatten()).all(dim=1).nonzero()[0].item() for image in first[0][:16]]
    assert len(set(rows)) == 16


def test_native_resolution_is_kept_when_asked() -> None:
    datamodule = DigitsDataModule(image_size=8)
    datamodule.setup()
    assert datamodule.images.shape == (1797, 1, 8, 8)


def test_batch_larger_than_dataset_names_the_limit() -> None:
    datamodule = DigitsDataModule(batch_size=5000)
    with pytest.raises(DataError, match=r"data.batch_size=5000 is larger than the 1797 samples.*at most 1797"):
        datamodule.setup()


def test_image_size_below_native_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"data\.image_size=4"):
        DigitsDataModule(image_size=4)
