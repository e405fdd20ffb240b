"""The evaluator network: a small CNN classifier whose features replace Inception's where its weights cannot be
downloaded (this machine has no internet).

It is trained on the dataset's *labels* — evaluation is the only place ganforge reads labels; the GAN never
does. Its penultimate layer (``features``) feeds the distance metrics (FID, KID, precision/recall,
density/coverage), its logits the class metrics. It is trained once per dataset and settings and cached on disk
under a hash of both, so every run and every evaluation of that dataset measures with the same network.
"""

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.checkpoints import atomic_save

log = logging.getLogger(__name__)

# Bump when the architecture or the training recipe changes: old cached evaluators are then not reused.
EVALUATOR_VERSION = 2


@dataclass(frozen=True)
class EvaluatorSettings:
    feature_dim: int = 64
    steps: int = 600
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0


class EvaluatorCNN(nn.Module):
    """images (N, C, S, S) in [-1, 1] -> class logits (N, num_classes); ``features``: (N, feature_dim) >= 0."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, feature_dim: int = 64) -> None:
        super().__init__()
        channels = in_shape[0]
        # Small on purpose: it is trained on CPU in about half a minute and evaluates thousands of images a second.
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),  # any image size from 8 pixels up gives the same 64x4x4 map
            nn.Flatten(),
            nn.Linear(64 * 16, feature_dim),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.num_features = feature_dim  # read by torchmetrics when this network is a metric's `feature=`

    def features(self, images: Tensor) -> Tensor:
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier(self.body(images))


def fingerprint(images: Tensor, labels: Tensor | None, settings: Any, version: int = EVALUATOR_VERSION) -> str:
    """A hash of the training data (labels: None for label-free networks), settings (a dataclass) and recipe
    version: a cached network's key."""
    digest = hashlib.sha256()
    for tensor in (images, labels):
        if tensor is None:
            continue
        digest.update(str((tuple(tensor.shape), tensor.dtype)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    digest.update(json.dumps({**asdict(settings), "version": version}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


@torch.no_grad()
def accuracy(model: EvaluatorCNN, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    model.eval()
    correct = sum(
        int((model(images[i : i + batch_size]).argmax(1) == labels[i : i + batch_size]).sum())
        for i in range(0, len(images), batch_size)
    )
    return correct / max(len(images), 1)


def new_evaluator(in_shape: tuple[int, ...], num_classes: int, settings: EvaluatorSettings) -> EvaluatorCNN:
    """A freshly initialised evaluator; torch's global random stream is left as it was (evaluation must never
    change what training draws next)."""
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        return EvaluatorCNN(in_shape, num_classes, settings.feature_dim)


def train_evaluator(images: Tensor, labels: Tensor, settings: EvaluatorSettings) -> EvaluatorCNN:
    """Fit the classifier on (images in [-1, 1], labels) with Adam; deterministic for a given seed."""
    generator = torch.Generator().manual_seed(settings.seed)
    model = new_evaluator(tuple(images.shape[1:]), int(labels.max()) + 1, settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    model.train()
    for _ in range(settings.steps):
        index = torch.randint(len(images), (settings.batch_size,), generator=generator)
        loss = F.cross_entropy(model(images[index]), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def load_or_train(
    name: str,
    train: tuple[Tensor, Tensor],
    heldout: tuple[Tensor, Tensor],
    settings: EvaluatorSettings,
    cache_dir: Path,
) -> tuple[EvaluatorCNN, float]:
    """The evaluator for this data and settings, from ``cache_dir`` or trained now (and cached); with its
    accuracy on the held-out labels."""
    images, labels = train
    key = fingerprint(images, labels, settings)
    path = Path(cache_dir).expanduser() / f"evaluator-{name}-{key}.pt"
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = new_evaluator(tuple(images.shape[1:]), state["num_classes"], settings)
        model.load_state_dict(state["state_dict"])
        log.info("evaluator for %s loaded from %s (held-out accuracy %.4f)", name, path, state["accuracy"])
        return model.eval(), state["accuracy"]
    log.info(
        "training the evaluator network for %s on its labels (labels are used by evaluation only, never by the "
        "GAN): %d images, %d steps", name, len(images), settings.steps,
    )  # fmt: skip
    start = time.perf_counter()
    model = train_evaluator(images, labels, settings)
    held_out_accuracy = accuracy(model, *heldout)
    num_classes = model.classifier.out_features
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save({"state_dict": model.state_dict(), "num_classes": num_classes, "accuracy": held_out_accuracy}, path)
    log.info(
        "evaluator for %s: held-out accuracy %.4f, trained in %.1f s, cached at %s",
        name, held_out_accuracy, time.perf_counter() - start, path,
    )  # fmt: skip
    return model, held_out_accuracy
