"""Every data source, loaded through the code users run from real files in the real formats (no network)."""

import logging
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    FolderDataModule,
    GaussianMixtureDataModule,
    MNISTDataModule,
    grid_centers,
    ring_centers,
)
from ganforge.data.base import TensorSamples
from ganforge.data.folder import ImageFiles
from ganforge.errors import ConfigError, DataError
from tests.datafiles import write_cifar10, write_image_folder, write_mnist


def to_pixels(samples: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats back to the uint8 values they were made from."""
    return ((samples + 1) * 127.5).round().to(torch.uint8)


# --- digits -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> DigitsDataModule:
    datamodule = DigitsDataModule(image_size=28, batch_size=128, holdout_fraction=0.1)
    datamodule.setup("fit")
    return datamodule


def test_digits_fill_minus_one_to_one_and_hold_out_a_tenth(digits: DigitsDataModule) -> None:
    train, heldout = digits.train_set.samples, digits.heldout_set.samples
    assert train.shape == (1617, 1, 28, 28) and heldout.shape == (180, 1, 28, 28)
    assert train.min().item() == -1.0 and train.max().item() == pytest.approx(1.0, abs=0.05)
    # held out means disjoint: no held-out image appears among the training images
    matches = (heldout.flatten(1)[:, None, :] == train.flatten(1)[None, :, :]).all(dim=2)
    assert not matches.any()


def test_batches_are_sample_tensors_without_labels(digits: DigitsDataModule) -> None:
    batch = next(iter(digits.train_dataloader()))
    assert isinstance(batch, torch.Tensor) and batch.shape == (128, 1, 28, 28)


def test_every_batch_is_full_and_epochs_are_reshuffled(digits: DigitsDataModule) -> None:
    loader = digits.train_dataloader()
    torch.manual_seed(0)
    first, second = list(loader), list(loader)
    assert len(first) == 1617 // 128 and all(len(b) == 128 for b in first)
    assert not torch.equal(first[0], second[0])
    flat = digits.train_set.samples.flatten(1)
    rows = [(flat == image.flatten()).all(dim=1).nonzero()[0].item() for image in first[0][:16]]
    assert len(set(rows)) == 16  # a batch gathers distinct training images


def test_heldout_split_is_fixed_by_the_seed() -> None:
    a, b, c = (DigitsDataModule(image_size=8, split_seed=s) for s in (0, 0, 1))
    for datamodule in (a, b, c):
        datamodule.setup()
    assert torch.equal(a.heldout_set.samples, b.heldout_set.samples)
    assert not torch.equal(a.heldout_set.samples, c.heldout_set.samples)
    assert len(next(iter(a.heldout_dataloader(batch_size=500)))) == 180


def test_batch_larger_than_dataset_names_the_limit() -> None:
    with pytest.raises(
        DataError, match=r"data\.batch_size=5000 is larger than the 1617 training samples.*at most 1617"
    ):
        DigitsDataModule(batch_size=5000).setup()


def test_image_size_below_native_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"data\.image_size=4"):
        DigitsDataModule(image_size=4)


# --- MNIST and Fashion-MNIST (IDX) ----------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["idx-gz", "idx-extracted"])
@pytest.mark.parametrize(("cls", "folder"), [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")])
def test_mnist_family_reads_idx_files_exactly(tmp_path: Path, cls: type, folder: str, gz: bool) -> None:
    train = write_mnist(tmp_path, folder=folder, gz=gz)
    datamodule = cls(root=str(tmp_path), download=False, batch_size=8)
    datamodule.setup()
    assert len(datamodule.train_set) == 40 and len(datamodule.heldout_set) == 10  # the test split is held out
    assert torch.equal(to_pixels(datamodule.train_set[:][:, 0]), torch.from_numpy(train))
    assert not list((tmp_path / folder / "raw").glob("*-ubyte")) or not gz  # nothing extracted beside the data


def test_mnist_channels_and_size_are_converted(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    datamodule = MNISTDataModule(root=str(tmp_path), download=False, image_size=32, channels=3, batch_size=8)
    datamodule.setup()
    batch = next(iter(datamodule.train_dataloader()))
    assert batch.shape == (8, 3, 32, 32) and batch.min() >= -1 and batch.max() <= 1
    assert torch.equal(batch[:, 0], batch[:, 1]) and torch.equal(batch[:, 1], batch[:, 2])


def test_missing_files_name_the_root_the_files_and_both_ways_out(tmp_path: Path) -> None:
    datamodule = MNISTDataModule(root=str(tmp_path / "nowhere"), download=False)
    with pytest.raises(DataError) as error:
        datamodule.setup()
    message = str(error.value)
    assert f"mnist is not under data.root={tmp_path / 'nowhere'}" in message
    assert str(tmp_path / "nowhere" / "MNIST" / "raw" / "train-images-idx3-ubyte") in message
    assert "Either put the files there" in message and "with data.download=true" in message


class _Unreachable:
    """Stands in for torchvision's downloader on a machine without internet (never touches the network)."""

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")


def test_failed_download_is_reported_with_the_ways_out(tmp_path: Path) -> None:
    class OfflineMNIST(MNISTDataModule):
        torchvision_class = _Unreachable

    with pytest.raises(DataError, match=r"The download failed: RuntimeError: .*Name or service not known") as error:
        OfflineMNIST(root=str(tmp_path), download=True).setup()
    assert "run where the internet is reachable" in str(error.value)


def test_truncated_idx_file_is_named(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=rf"{path} is truncated or padded: its header promises 40 x 28 x 28 values"):
        MNISTDataModule(root=str(tmp_path), download=False).setup()


def test_non_idx_file_is_named(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=False)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(b"<html>a captive portal page</html>")
    with pytest.raises(DataError, match=rf"{path} is not an IDX file of 3-D uint8 data"):
        MNISTDataModule(root=str(tmp_path), download=False).setup()


# --- CIFAR-10 (python pickles) -------------------------------------------------------------------------


def test_cifar10_reads_the_python_batches_exactly(tmp_path: Path) -> None:
    rows = write_cifar10(tmp_path)
    datamodule = CIFAR10DataModule(root=str(tmp_path), download=False, image_size=32, channels=3, batch_size=4)
    datamodule.setup()
    assert len(datamodule.train_set) == 30 and len(datamodule.heldout_set) == 6
    images = to_pixels(datamodule.train_set[:])
    assert torch.equal(images.flatten(1), torch.from_numpy(rows))  # R, G, B planes in the file's order


def test_cifar10_to_grey_and_smaller(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    datamodule = CIFAR10DataModule(root=str(tmp_path), download=False, image_size=16, channels=1, batch_size=4)
    datamodule.setup()
    assert datamodule.train_set[:].shape == (30, 1, 16, 16)


class _Payload:
    def __reduce__(self):
        return (Path.touch, (Path(_Payload.target),))

    target = ""


def test_cifar_pickle_with_code_is_refused_without_running_it(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    _Payload.target = str(tmp_path / "pwned")
    evil = {"data": np.zeros((6, 3072), dtype=np.uint8), "labels": [0] * 6, "extra": _Payload()}
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3 is not a readable CIFAR batch .*refusing to load"):
        CIFAR10DataModule(root=str(tmp_path), download=False, image_size=32, channels=3).setup()
    assert not (tmp_path / "pwned").exists()


# --- image folders ----------------------------------------------------------------------------------------


def test_folder_with_a_corrupt_file_names_it(tmp_path: Path) -> None:
    paths = write_image_folder(tmp_path / "images")
    datamodule = FolderDataModule(path=str(tmp_path / "images"), image_size=16, channels=3, batch_size=2)
    with pytest.raises(DataError, match=rf"{paths['corrupt']} is not a readable image .*data\.skip_corrupt=true"):
        datamodule.setup()


@pytest.mark.parametrize("cache_limit_mb", [2048, 0], ids=["cached", "streamed"])
def test_folder_skips_corrupt_files_when_asked_and_converts_modes(tmp_path: Path, cache_limit_mb: float) -> None:
    paths = write_image_folder(tmp_path / "images")
    datamodule = FolderDataModule(
        path=str(tmp_path / "images"), image_size=16, channels=3, batch_size=2, skip_corrupt=True,
        cache_limit_mb=cache_limit_mb, holdout_fraction=0.0,
    )  # fmt: skip
    datamodule.setup()
    assert datamodule.skipped == [paths["corrupt"]]
    assert len(datamodule.train_set) == 8  # 6 RGB + 1 grey + 1 GIF; the .txt file is not an image
    expected_type = TensorSamples if cache_limit_mb else ImageFiles
    assert isinstance(datamodule.train_set, expected_type)
    samples = torch.stack([datamodule.train_set[i] for i in range(len(datamodule.train_set))])
    assert samples.shape == (8, 3, 16, 16) and samples.min() >= -1 and samples.max() <= 1
    grey_like = [bool(torch.equal(s[0], s[1]) and torch.equal(s[1], s[2])) for s in samples]
    assert sum(grey_like) == 2  # the grayscale PNG and the grey GIF became RGB with equal channels
    batch = next(iter(datamodule.train_dataloader()))
    assert isinstance(batch, torch.Tensor) and batch.shape == (2, 3, 16, 16)


def test_folder_logs_the_skipped_count(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ganforge")
    write_image_folder(tmp_path / "images")
    FolderDataModule(path=str(tmp_path / "images"), image_size=16, skip_corrupt=True, batch_size=2).setup()
    assert "skipped 1 unreadable files (data.skip_corrupt=true)" in caplog.text
    assert "cached in memory" in caplog.text


def test_gif_gives_its_first_frame_and_grey_stays_grey(tmp_path: Path) -> None:
    paths = write_image_folder(tmp_path / "images")
    paths["corrupt"].unlink()
    datamodule = FolderDataModule(
        path=str(tmp_path / "images"), image_size=8, channels=1, batch_size=2, holdout_fraction=0.0
    )
    datamodule.setup()
    pixels = datamodule.train_set.samples  # held as decoded uint8
    assert pixels.dtype == torch.uint8 and pixels.shape[1] == 1
    assert any(bool((image == 10).all()) for image in pixels)  # the GIF's first frame is uniformly 10
    assert not any(bool((image == 200).all()) for image in pixels)


def test_folder_holds_out_a_seeded_fraction(tmp_path: Path) -> None:
    paths = write_image_folder(tmp_path / "images", n_rgb=18)
    paths["corrupt"].unlink()
    datamodule = FolderDataModule(path=str(tmp_path / "images"), image_size=8, batch_size=2, holdout_fraction=0.25)
    datamodule.setup()
    assert (len(datamodule.train_set), len(datamodule.heldout_set)) == (15, 5)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda p: p / "missing", "does not exist; point data.path at a folder of images", id="missing"),
        pytest.param(lambda p: p, "holds no image files", id="empty"),
        pytest.param(lambda p: (p / "a.png").write_bytes(b"x") and p / "a.png", "is a file, not a folder", id="file"),
    ],
)
def test_folder_path_problems_are_named(tmp_path: Path, make, message: str) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    path = make(tmp_path)
    with pytest.raises(DataError, match=rf"data\.path={path} {message}"):
        FolderDataModule(path=str(path)).setup()


def test_folder_of_only_unreadable_files_says_so(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"none of its 1 image files could be read"):
        FolderDataModule(path=str(tmp_path), skip_corrupt=True, batch_size=1).setup()


# --- toy 2-D mixtures -------------------------------------------------------------------------------------


def test_ring8_has_eight_distinct_modes_at_the_published_angles() -> None:
    centers = ring_centers(8, 1.0)
    angles = torch.atan2(centers[:, 1], centers[:, 0]).remainder(2 * math.pi)
    assert torch.allclose(angles, torch.arange(8) * 2 * math.pi / 8, atol=1e-6)
    assert torch.allclose(centers.norm(dim=1), torch.ones(8))
    assert torch.cdist(centers, centers).add(torch.eye(8) * 9).min() == pytest.approx(2 * math.sin(math.pi / 8))
    # the classic bug: linspace over [0, 2*pi] puts the last mode on top of the first
    buggy = torch.linspace(0, 2 * math.pi, 8)
    assert torch.stack([buggy.cos(), buggy.sin()], 1).unique(dim=0).round(decimals=5).unique(dim=0).shape[0] == 7


def test_grid25_means_are_the_published_grid() -> None:
    centers = grid_centers()
    assert centers.shape == (25, 2)
    assert {tuple(c) for c in centers.tolist()} == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}


@pytest.mark.parametrize(("centers", "std"), [(ring_centers(), 0.01), (grid_centers(), 0.05)], ids=["ring8", "grid25"])
def test_mixture_samples_sit_on_their_modes(centers: torch.Tensor, std: float) -> None:
    datamodule = GaussianMixtureDataModule(centers, std, num_samples=20_000, holdout_fraction=0.1, batch_size=64)
    datamodule.setup()
    train, heldout = datamodule.train_set.samples, datamodule.heldout_set.samples
    assert train.shape == (20_000, 2) and heldout.shape == (2_000, 2)
    distance, nearest = torch.cdist(train, centers).min(dim=1)
    assert distance.max() < 6 * std  # every point lies within 6 std of a mode
    assert distance.pow(2).mean().div(2).sqrt().item() == pytest.approx(std, rel=0.03)  # per-axis std
    counts = torch.bincount(nearest, minlength=len(centers)).float()
    assert counts.min() > 0.8 * counts.mean()  # all modes, near-equal weights
    assert not torch.equal(train[:100], heldout[:100])


def test_mixture_centers_must_be_2d() -> None:
    with pytest.raises(ValueError, match=r"centers must have shape \(K, 2\)"):
        GaussianMixtureDataModule(torch.zeros(3, 3), 0.1)
