"""The evaluator network: a small CNN classifier whose features replace Inception's where its weights cannot be
downloaded (this machine has no internet).

It is trained on the dataset's *labels* — evaluation is the only place ganforge reads labels; the GAN never
does. Its penultimate layer (``features``) feeds the distance metrics (FID, KID, precision/recall,
density/coverage), its logits the class metrics. It is trained once per dataset and settings and cached on disk
under a hash of both, so every run and every evaluation of that dataset measures with the same network.

The default run's evaluator (the digits at 28x28 with the default settings) ships with the package
(``metrics/evaluators/``) and is used before any cache: a fresh machine's first run trains none, and every machine
measures the default data with the same network. ``main`` regenerates it.
"""

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.checkpoints import atomic_save
from ganforge.rules import Rule, integer, positive

log = logging.getLogger(__name__)

# Bump when the architecture or the training recipe changes: old cached evaluators are then not reused.
EVALUATOR_VERSION = 2
# Evaluators shipped with the package: evaluator-<data name>-<settings_key>.pt (package data, see pyproject.toml).
SHIPPED_DIR = Path(__file__).with_name("evaluators")
# A shipped evaluator is used for data whose images' projections (below) are within this of the recorded ones: the
# images' last bits depend on the CPU's vector instructions (the digits' bilinear upsampling), their labels do not.
SHIPPED_DATA_TOLERANCE = 1e-6
# Each image is recorded by its mean pixel and by this many fixed random projections (seed 0), so that a flip, a
# shift or a contrast change of the data is a different signature, not only a change of the images' means.
SIGNATURE_PROJECTIONS = 8


@dataclass(frozen=True)
class EvaluatorSettings:
    feature_dim: int = 64
    steps: int = 600
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    rules: ClassVar[tuple[Rule, ...]] = (
        integer("feature_dim", 1, "64"), integer("steps", 1, "600"), integer("batch_size", 1, "128"),
        positive("lr", "1e-3"), integer("seed", 0, "0"),
    )  # fmt: skip


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


def settings_key(settings: EvaluatorSettings) -> str:
    """A hash of the settings and the recipe version alone: a shipped evaluator's key (its data are checked apart)."""
    text = json.dumps({**asdict(settings), "version": EVALUATOR_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def shipped_path(name: str, settings: EvaluatorSettings, directory: Path = SHIPPED_DIR) -> Path:
    return Path(directory) / f"evaluator-{name}-{settings_key(settings)}.pt"


def data_signature(images: Tensor, labels: Tensor) -> dict[str, Any]:
    """What a shipped evaluator records of its training data: the images' shape, the labels' hash and every
    image's mean pixel and ``SIGNATURE_PROJECTIONS`` fixed random projections (float64, compared within
    ``SHIPPED_DATA_TOLERANCE``)."""
    pixels = images.double().flatten(1)
    directions = torch.randn(pixels.shape[1], SIGNATURE_PROJECTIONS, generator=torch.Generator().manual_seed(0))
    return {
        "shape": list(images.shape),
        "labels": hashlib.sha256(labels.contiguous().numpy().tobytes()).hexdigest(),
        "image_means": pixels.mean(dim=1),
        "projections": pixels @ directions.double() / pixels.shape[1] ** 0.5,
    }


def same_data(recorded: dict[str, Any], images: Tensor, labels: Tensor) -> bool:
    mine = data_signature(images, labels)
    if recorded["shape"] != mine["shape"] or recorded["labels"] != mine["labels"] or "projections" not in recorded:
        return False
    close = [(recorded[k] - mine[k]).abs().max() <= SHIPPED_DATA_TOLERANCE for k in ("image_means", "projections")]
    return all(map(bool, close))


def _load(path: Path, in_shape: tuple[int, ...], settings: EvaluatorSettings) -> tuple[EvaluatorCNN, dict]:
    state = torch.load(path, map_location="cpu", weights_only=True)  # data only: never code a file carries
    model = new_evaluator(in_shape, state["num_classes"], settings)
    model.load_state_dict(state["state_dict"])
    return model.eval(), state


def load_or_train(
    name: str,
    train: tuple[Tensor, Tensor],
    heldout: tuple[Tensor, Tensor],
    settings: EvaluatorSettings,
    cache_dir: Path,
    shipped_dir: Path | None = SHIPPED_DIR,
) -> tuple[EvaluatorCNN, float]:
    """The evaluator for this data and settings: the one shipped with the package when it was trained on these
    data with these settings, else from ``cache_dir``, else trained now (and cached); with its accuracy on the
    held-out labels."""
    images, labels = train
    shipped = None if shipped_dir is None else shipped_path(name, settings, shipped_dir)
    if shipped is not None and shipped.is_file():
        model, state = _load(shipped, tuple(images.shape[1:]), settings)
        if same_data(state["data"], images, labels):
            log.info("evaluator for %s: the one shipped with ganforge, %s (held-out accuracy %.4f)", name, shipped,
                     state["accuracy"])  # fmt: skip
            return model, state["accuracy"]
        log.info("the evaluator shipped for %s was trained on other data; not used", name)
    key = fingerprint(images, labels, settings)
    path = Path(cache_dir).expanduser() / f"evaluator-{name}-{key}.pt"
    if path.is_file():
        model, state = _load(path, tuple(images.shape[1:]), settings)
        log.info("evaluator for %s loaded from %s (held-out accuracy %.4f)", name, path, state["accuracy"])
        return model, state["accuracy"]
    log.info(
        "training the evaluator network for %s on its labels (labels are used by evaluation only, never by the "
        "GAN): %d images, %d steps", name, len(images), settings.steps,
    )  # fmt: skip
    start = time.perf_counter()
    model, state = trained(train, heldout, settings, path)
    log.info(
        "evaluator for %s: held-out accuracy %.4f, trained in %.1f s, cached at %s",
        name, state["accuracy"], time.perf_counter() - start, path,
    )  # fmt: skip
    return model, state["accuracy"]


def trained(
    train: tuple[Tensor, Tensor],
    heldout: tuple[Tensor, Tensor],
    settings: EvaluatorSettings,
    path: Path,
    **extra: Any,
) -> tuple[EvaluatorCNN, dict[str, Any]]:
    """An evaluator trained now and written to ``path`` (atomically) with its held-out accuracy and ``extra``."""
    model = train_evaluator(*train, settings)
    state = {"state_dict": model.state_dict(), "num_classes": model.classifier.out_features,
             "accuracy": accuracy(model, *heldout), **extra}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(state, path)
    return model, state


def made_with() -> dict[str, Any]:
    """What a training run's exact result depends on besides the data and settings."""
    return {
        "torch": str(torch.__version__),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }


def ship(
    name: str,
    train: tuple[Tensor, Tensor],
    heldout: tuple[Tensor, Tensor],
    settings: EvaluatorSettings,
    directory: Path = SHIPPED_DIR,
) -> Path:
    """Train the evaluator of these data and settings and write it, with a signature of its data, where
    ``load_or_train`` looks first."""
    path = shipped_path(name, settings, directory)
    # training repeats bit for bit only on the same kernels and threads (elsewhere features differ by ~3%)
    trained(train, heldout, settings, path, settings=asdict(settings), version=EVALUATOR_VERSION,
            data=data_signature(*train), made_with=made_with())  # fmt: skip
    return path


def default_run_inputs() -> tuple[str, tuple[Tensor, Tensor], tuple[Tensor, Tensor], EvaluatorSettings]:
    """The evaluator's name, training and held-out data and settings of a default ``ganforge-train`` (the configs'
    defaults, composed as the run composes them)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from ganforge.metrics.suite import evaluator_inputs
    from ganforge.train import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train")
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    return (*evaluator_inputs(datamodule), EvaluatorSettings(**cfg.metrics.evaluator))


def main() -> None:
    """Regenerate the evaluator shipped for the default run (after a change of ``EVALUATOR_VERSION``, the default
    evaluator settings or the default data's preprocessing), replacing the old one::

        OMP_NUM_THREADS=1 .venv/bin/python -c "from ganforge.metrics.evaluator import main; main()"

    One thread, as the tests that compare it with a fresh training run. It takes about 20 s.
    """
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(1)
    name, train, heldout, settings = default_run_inputs()
    for old in SHIPPED_DIR.glob(f"evaluator-{name}-*.pt"):
        old.unlink()
    path = ship(name, train, heldout, settings)
    log.info("shipped evaluator for %s written to %s (%.0f KB)", name, path, path.stat().st_size / 1024)
