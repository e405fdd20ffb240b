"""Every image file under a folder, at any depth, no class sub-folders needed: the user's own pile of images."""

import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as tv_functional

from ganforge.data.base import (
    CHANNELS,
    IMAGE_SIZE,
    GANDataModule,
    TensorSamples,
    heldout_split,
    match_channels_and_size,
    split_off,
    to_unit_range,
)
from ganforge.errors import DataError
from ganforge.rules import boolean, non_negative, text

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif"})
# What PIL raises for files that are not images, are truncated, or hold broken data.
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive, by suffix, case-insensitive), in a fixed order."""
    if not root.exists():
        raise DataError(f"data.path={root} does not exist; point data.path at a folder of images.")
    if not root.is_dir():
        raise DataError(f"data.path={root} is a file, not a folder; point data.path at the folder that holds it.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DataError(f"data.path={root} holds no image files ({kinds}, searched recursively); add images there.")
    return files


def decode(path: Path, channels: int, image_size: int) -> Tensor:
    """One image file -> uint8 (channels, image_size, image_size); the first frame of an animation."""
    with Image.open(path) as image:
        image = image.convert("L" if channels == 1 else "RGB")
    return match_channels_and_size(tv_functional.pil_to_tensor(image).unsqueeze(0), channels, image_size)[0]


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def unreadable(path: Path, reason: str) -> DataError:
    return DataError(
        f"{path} is not a readable image ({reason}). Remove or replace it, or set "
        "data.skip_corrupt=true to skip unreadable files."
    )


class ImageFiles(Dataset):
    """Decodes image files on demand (in DataLoader workers): for folders too large to hold in memory."""

    def __init__(self, files: list[Path], channels: int, image_size: int) -> None:
        self.files, self.channels, self.image_size = files, channels, image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Tensor:
        try:
            return to_unit_range(decode(self.files[index], self.channels, self.image_size))
        except DECODE_ERRORS as error:
            raise unreadable(self.files[index], describe(error)) from error


class _DecodeOrReport(ImageFiles):
    """(index, uint8 image or None, error text or None): lets the main process decide what a bad file means."""

    def __getitem__(self, index: int) -> tuple[int, Tensor | None, str | None]:
        try:
            return index, decode(self.files[index], self.channels, self.image_size), None
        except DECODE_ERRORS as error:
            return index, None, describe(error)


def _as_list(items: list) -> list:
    return items


class FolderDataModule(GANDataModule):
    """Images of any size and mode, converted to ``channels``, resized (shorter side) and center-cropped.

    Folders whose decoded pixels fit in ``cache_limit_mb`` are decoded once and held in memory; larger ones
    are decoded on the fly by DataLoader workers (``data.num_workers``). The log says which. A seeded
    ``holdout_fraction`` of the files is held out for evaluation.

    ``class_subfolders=true``: the folder is in ImageFolder's layout, one sub-folder per class (``path/cat/*.jpg``,
    ``path/dog/*.jpg``); the sub-folder of each image is its label, for evaluation (the evaluator network, the
    linear probe) and for the semi-supervised GAN's labeled subset. The GAN itself never sees it.
    """

    name = "folder"
    rules = (
        *GANDataModule.rules, text("path", "a folder of images", "/data/my_images"), IMAGE_SIZE, CHANNELS,
        boolean("skip_corrupt"), non_negative("cache_limit_mb", "2048", "a finite number >= 0 (0: never cache)"),
        boolean("class_subfolders"),
    )  # fmt: skip

    def __init__(
        self,
        path: str,
        image_size: int = 64,
        channels: int = 3,
        skip_corrupt: bool = False,
        cache_limit_mb: float = 2048,
        class_subfolders: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = Path(path).expanduser()
        self.image_size = image_size
        self.channels = channels
        self.skip_corrupt = skip_corrupt
        self.cache_limit_mb = cache_limit_mb
        self.class_subfolders = class_subfolders
        self.skipped: list[Path] = []
        self.files: list[Path] = []  # the readable images, in the order the splits are taken from

    @property
    def has_labels(self) -> bool:  # type: ignore[override]
        return self.class_subfolders

    @property
    def classes(self) -> list[str]:
        """The class sub-folders' names, sorted (label k is the k-th); listing them reads no image."""
        if not self.class_subfolders:
            return []
        return sorted(p.name for p in self.path.iterdir() if p.is_dir()) if self.path.is_dir() else []

    @property
    def num_classes(self) -> int | None:  # type: ignore[override]
        return len(self.classes) if self.class_subfolders else None

    def labels(self) -> tuple[Tensor, Tensor]:
        """The class sub-folder of every training and held-out image (``class_subfolders=true`` only)."""
        if not self.class_subfolders:
            return super().labels()
        self.setup()
        index = {name: k for k, name in enumerate(self.classes)}
        labels = []
        for file in self.files:
            parts = file.relative_to(self.path).parts
            if len(parts) < 2 or parts[0] not in index:
                raise DataError(
                    f"data.class_subfolders=true, but {file} is not inside a class sub-folder of data.path={self.path}"
                    "; move it into one, or set data.class_subfolders=false."
                )
            labels.append(index[parts[0]])
        train, heldout = heldout_split(len(labels), self.holdout_fraction, self.split_seed)
        every = torch.tensor(labels, dtype=torch.int64)
        return every[train], every[heldout]

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, self.image_size, self.image_size)

    def build_splits(self) -> tuple[Dataset, Dataset]:
        files = find_images(self.path)
        decoded_mb = len(files) * self.channels * self.image_size**2 / 2**20
        if decoded_mb <= self.cache_limit_mb:
            log.info("folder %s: %d image files, %.1f MB decoded: cached in memory", self.path, len(files), decoded_mb)
            self.files, images = self._decode_all(files)
            train, heldout = split_off(images, self.holdout_fraction, self.split_seed)
            return TensorSamples(train), TensorSamples(heldout)
        log.info(
            "folder %s: %d image files, %.1f MB decoded (over data.cache_limit_mb=%s): decoded on the fly by %d "
            "workers",
            self.path, len(files), decoded_mb, self.cache_limit_mb, self.num_workers,
        )  # fmt: skip
        files, _ = self._decode_all(files, keep=False)  # find unreadable files now, not hours into training
        self.files = files
        train_index, heldout_index = heldout_split(len(files), self.holdout_fraction, self.split_seed)
        train = [files[i] for i in train_index]
        heldout = [files[i] for i in heldout_index]
        return ImageFiles(train, self.channels, self.image_size), ImageFiles(heldout, self.channels, self.image_size)

    def _decode_all(self, files: list[Path], keep: bool = True) -> tuple[list[Path], Tensor | None]:
        """Decode every file once (in workers); returns the readable files and, if ``keep``, their pixels."""
        loader = DataLoader(
            _DecodeOrReport(files, self.channels, self.image_size),
            batch_size=64,
            num_workers=self.num_workers,
            collate_fn=_as_list,
        )
        good: list[Path] = []
        images: list[Tensor] = []
        for batch in loader:
            for index, image, error in batch:
                if error is None:
                    good.append(files[index])
                    if keep:
                        images.append(image)
                elif self.skip_corrupt:
                    self.skipped.append(files[index])
                else:
                    raise unreadable(files[index], error)
        if self.skipped:
            log.warning("folder %s: skipped %d unreadable files (data.skip_corrupt=true)", self.path, len(self.skipped))
        if not good:
            raise DataError(f"data.path={self.path}: none of its {len(files)} image files could be read.")
        return good, torch.stack(images) if keep else None
