"""Inception features (metrics.features=inception): the standard FID Inception-v3 of torch-fidelity, through
torchmetrics' ``NoTrainInceptionV3``.

Where the weights come from, in order: ``metrics.weights_path`` (a local file, read as tensors only); else the
library's own download and cache (torch hub's cache, ``~/.cache/torch/hub/checkpoints``, so a machine downloads
them once). Only when neither works does the run stop, with a message naming both ways and the offline
alternatives.
"""

import logging
import pickle
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from ganforge.errors import ConfigError

log = logging.getLogger(__name__)


def weights_url() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return URL_INCEPTION_V3


def weights_help() -> str:
    url = weights_url()
    return (
        f"Either set metrics.weights_path=<file> to a local copy of {url.rsplit('/', 1)[-1]} (the FID Inception "
        f"weights torchmetrics and torch-fidelity use: {url}), or run where that address is reachable so that "
        "torchmetrics downloads and caches them itself; offline, measure with metrics.features=labelfree (no "
        "labels needed) or metrics.features=evaluator (trained on the dataset's labels)."
    )


class InceptionFeatures(nn.Module):
    """images in [-1, 1] (grey or RGB) -> Inception pool features (N, 2048)."""

    num_features = 2048

    def __init__(self, weights_path: str | None) -> None:
        super().__init__()
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.inception = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=weights_path
        )

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return self.inception(pixels)


def check_weights_file(weights_path: str) -> Path:
    """The file, checked to exist and to hold tensors only (torch-fidelity loads it with weights_only=False)."""
    path = Path(weights_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"metrics.weights_path={weights_path} does not exist. {weights_help()}")
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise ConfigError(
            f"metrics.weights_path={weights_path} is not a readable weights file of tensors "
            f"({type(error).__name__}: {str(error).splitlines()[0]}). {weights_help()}"
        ) from error
    return path


def inception_features(weights_path: str | None) -> nn.Module:
    """The FID Inception from ``weights_path``, else from torchmetrics' own download/cache; a ConfigError naming
    both ways when neither works."""
    if weights_path:
        path = check_weights_file(weights_path)
        log.info("Inception weights from %s", path)
        return InceptionFeatures(str(path))
    try:
        return InceptionFeatures(None)
    except OSError as error:  # urllib's URLError and socket errors are OSErrors
        raise ConfigError(
            f"metrics.features=inception: the Inception weights could not be downloaded ({type(error).__name__}: "
            f"{error}). {weights_help()}"
        ) from error
