"""Benchmark sets in the layout torchvision downloads them to: MNIST, Fashion-MNIST, CIFAR-10. Labels dropped.

Files are read by our own small readers rather than torchvision's dataset classes: MNIST's IDX files are
read as distributed (``.gz`` or extracted) without writing a copy beside the user's data, and CIFAR-10's
pickles are unpickled with an allow-list of numpy types, because a pickle can otherwise run any code it
carries. torchvision is still what downloads the files when ``data.download=true``.
"""

import gzip
import io
import logging
import math
import pickle
from abc import abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets

from ganforge.data.base import CHANNELS, IMAGE_SIZE, GANDataModule, TensorSamples, match_channels_and_size
from ganforge.errors import DataError
from ganforge.rules import boolean, folder

log = logging.getLogger(__name__)

_IDX_UINT8 = 0x08  # IDX type code for unsigned bytes; MNIST images are 3-D (count, rows, cols), labels 1-D


class StandardDataModule(GANDataModule):
    """A benchmark set with a train and a test split under ``root``; the test split is the held-out set."""

    torchvision_class: type[datasets.VisionDataset]
    has_labels = True
    num_classes = 10  # MNIST's digits, Fashion-MNIST's garments, CIFAR-10's classes
    rules = (
        *(rule for rule in GANDataModule.rules if rule.key != "holdout_fraction"),  # the test split is held out
        folder("root", "data", "a folder for the dataset files"), boolean("download"), IMAGE_SIZE, CHANNELS,
    )  # fmt: skip

    def __init__(self, root: str, download: bool = True, image_size: int = 28, channels: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.root = Path(root).expanduser()
        self.download = download
        self.image_size = image_size
        self.channels = channels

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, self.image_size, self.image_size)

    @abstractmethod
    def expected_files(self) -> list[Path]:
        """The files this set is read from (``present`` says whether one is there)."""

    @abstractmethod
    def read(self, train: bool) -> Tensor:
        """The images of one split as uint8 (N, C, H, W)."""

    @abstractmethod
    def read_labels(self, train: bool) -> Tensor:
        """The class labels of one split, int64 (N,); read by evaluation only."""

    def labels(self) -> tuple[Tensor, Tensor]:
        return self.read_labels(True), self.read_labels(False)

    def present(self, file: Path) -> bool:
        return file.is_file()

    def missing_files(self) -> list[Path]:
        return [file for file in self.expected_files() if not self.present(file)]

    def ensure_files(self) -> None:
        """Download the set if allowed and needed; otherwise say where its files must be and how to get them."""
        if not self.missing_files():
            return
        failure = ""
        if self.download:
            log.info("%s: downloading to %s", self.name, self.root)
            try:
                self.torchvision_class(str(self.root), train=True, download=True)
                self.torchvision_class(str(self.root), train=False, download=True)
            except Exception as error:  # offline machines fail in many ways (URLError, RuntimeError, ...)
                failure = f" The download failed: {type(error).__name__}: {error}."
        missing = self.missing_files()
        if missing:
            expected = ", ".join(str(f) for f in missing)
            way_out = "run where the internet is reachable" + ("" if self.download else " with data.download=true")
            raise DataError(
                f"{self.name} is not under data.root={self.root}: missing {expected}.{failure} Either put the "
                f"files there (the layout torchvision downloads), or {way_out}; data.root=/path/to/datasets "
                "points at another copy."
            )

    def build_splits(self) -> tuple[Dataset, Dataset]:
        self.ensure_files()
        splits = [match_channels_and_size(self.read(train), self.channels, self.image_size) for train in (True, False)]
        return TensorSamples(splits[0]), TensorSamples(splits[1])


def read_idx(path: Path, dims: int) -> Tensor:
    """An IDX file of uint8 values with ``dims`` dimensions (MNIST's format), plain or ``.gz``, as uint8."""
    source = path if path.exists() else path.with_name(path.name + ".gz")
    try:
        raw = gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
    except (OSError, EOFError) as error:
        raise DataError(f"{source} cannot be read ({error}); replace it with an intact copy.") from error
    header = 4 + 4 * dims
    if len(raw) < header or raw[:2] != b"\0\0" or raw[2] != _IDX_UINT8 or raw[3] != dims:
        raise DataError(
            f"{source} is not an IDX file of {dims}-D uint8 data (bad header); replace it with an intact copy."
        )
    sizes = [int.from_bytes(raw[i : i + 4], "big") for i in range(4, header, 4)]
    if len(raw) != header + math.prod(sizes):
        raise DataError(
            f"{source} is truncated or padded: its header promises {' x '.join(map(str, sizes))} values "
            f"({header + math.prod(sizes)} bytes) but it holds {len(raw)} bytes; replace it with an intact copy."
        )
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(sizes).copy())


def read_idx_images(path: Path) -> Tensor:
    """An IDX file of uint8 images (count, rows, cols), plain or ``.gz``, as uint8 (N, 1, rows, cols)."""
    return read_idx(path, dims=3).unsqueeze(1)


class MNISTDataModule(StandardDataModule):
    """MNIST: 60,000 training and 10,000 test digits, 1x28x28."""

    name = "mnist"
    torchvision_class = datasets.MNIST

    def _file(self, train: bool, kind: str = "images-idx3") -> Path:
        stem = f"{'train' if train else 't10k'}-{kind}-ubyte"
        return self.root / self.torchvision_class.__name__ / "raw" / stem

    def expected_files(self) -> list[Path]:
        return [self._file(True), self._file(False)]

    def present(self, file: Path) -> bool:
        return file.is_file() or file.with_name(file.name + ".gz").is_file()

    def read(self, train: bool) -> Tensor:
        return read_idx_images(self._file(train))  # labels are read by `read_labels`, for evaluation only

    def read_labels(self, train: bool) -> Tensor:
        path = self._file(train, "labels-idx1")
        if not self.present(path):
            raise DataError(f"{path}(.gz) is missing; evaluation needs the label files beside the images.")
        return read_idx(path, dims=1).long()


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: MNIST's format and sizes, clothing instead of digits."""

    name = "fashion_mnist"
    torchvision_class = datasets.FashionMNIST


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings, bytes and numpy arrays; refuses every other class a pickle names."""

    ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("_codecs", "encode"),  # protocol-2 pickles store an array's bytes as a latin-1 string
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are expected")
        return super().find_class(module, name)


def read_cifar_batch(path: Path, key: str = "data") -> Tensor:
    """One CIFAR python batch file (a pickled dict) as uint8 (N, 3, 32, 32) images (``data``: N x 3072 uint8),
    or as int64 (N,) class labels (``key="labels"``)."""
    try:
        entry = _NumpyOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
        if key == "labels":
            return torch.as_tensor(np.asarray(entry["labels"], dtype=np.int64))
        data = np.asarray(entry["data"], dtype=np.uint8)
        return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    except (OSError, EOFError, KeyError, TypeError, ValueError, pickle.UnpicklingError) as error:
        raise DataError(
            f"{path} is not a readable CIFAR batch ({type(error).__name__}: {error}); replace it with an intact "
            "copy (the python version of the dataset, as torchvision downloads it)."
        ) from error


class CIFAR10DataModule(StandardDataModule):
    """CIFAR-10: 50,000 training and 10,000 test colour images, 3x32x32."""

    name = "cifar10"
    torchvision_class = datasets.CIFAR10

    def _folder(self) -> Path:
        return self.root / self.torchvision_class.base_folder

    def expected_files(self) -> list[Path]:
        names = [name for name, _ in self.torchvision_class.train_list + self.torchvision_class.test_list]
        return [self._folder() / name for name in names]

    def read(self, train: bool, key: str = "data") -> Tensor:
        batches = self.torchvision_class.train_list if train else self.torchvision_class.test_list
        return torch.cat([read_cifar_batch(self._folder() / name, key) for name, _ in batches])

    def read_labels(self, train: bool) -> Tensor:
        return self.read(train, key="labels")
