"""One evaluation of a GAN against its data: everything ``val/*``, ``floor/*`` and ``probe/*`` report.

Image data: features from the evaluator network (data with labels), the label-free network (data without: an
image folder) or Inception (metrics.features=inception) of generated
samples, the training set (the reference, cached) and the held-out set; FID, KID, precision/recall,
density/coverage and class metrics. The *real-data floor* is the held-out set measured like a generator
against the same reference: the best score a generator of these data can expect at this sample budget.

Toy 2-D mixtures: the VEEGAN/PacGAN mode metrics on 2,500 samples.

By default the budget (generated samples per evaluation) is the size of the held-out set, so a generator and
the floor are measured with the same number of samples (FID is biased by the sample count). Every name
carries its budget (``fid180``, ``modes2.5k``).
"""

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ganforge.data.base import GANDataModule, TensorSamples, to_unit_range
from ganforge.errors import ConfigError
from ganforge.metrics.classes import class_metrics
from ganforge.metrics.distances import density_coverage, fid, kid, precision_recall
from ganforge.metrics.evaluator import EvaluatorSettings, load_or_train
from ganforge.metrics.inception import inception_features
from ganforge.metrics.labelfree import LabelFreeSettings
from ganforge.metrics.labelfree import load_or_build as load_or_build_labelfree
from ganforge.metrics.modes import DEFAULT_BUDGET, mode_metrics
from ganforge.metrics.names import budget_tag
from ganforge.metrics.probe import probe_accuracy, usable_label_counts

log = logging.getLogger(__name__)

# auto: the evaluator network where the data have labels, else the label-free features (labelfree.py)
FEATURES = ("auto", "evaluator", "labelfree", "inception")


class Evaluation:
    """Measures generators (and discriminators) of one dataset; ``prepare`` once, then ``measure`` often."""

    def __init__(
        self,
        features: str = "auto",
        num_samples: int | None = None,
        precision_k: int = 3,
        density_k: int = 5,
        kid_subsets: int = 100,
        probe_labels: Sequence[int] = (1, 10, 100),
        probe_draws: int = 5,
        batch_size: int = 500,
        seed: int = 0,
        cache_dir: str = "~/.cache/ganforge",
        weights_path: str | None = None,
        evaluator: dict | None = None,
        labelfree: dict | None = None,
    ) -> None:
        self.features_name = features  # checked by prepare: Hydra's instantiate would bury a ConfigError here
        self.num_samples = num_samples
        self.precision_k, self.density_k, self.kid_subsets = precision_k, density_k, kid_subsets
        self.probe_labels, self.probe_draws = tuple(probe_labels), probe_draws
        self.batch_size, self.seed = batch_size, seed
        self.cache_dir = Path(cache_dir).expanduser()
        self.weights_path = weights_path
        self.evaluator_settings = EvaluatorSettings(**(evaluator or {}))
        self.labelfree = dict(labelfree or {})
        self.datamodule: GANDataModule | None = None
        self.network: nn.Module | None = None
        self.classifier: nn.Module | None = None
        self.evaluator_accuracy: float | None = None
        self.ready = False  # prepared, with a feature network (or mode centres) to measure with

    # --- setup ---------------------------------------------------------------------------------------------

    @property
    def labeled(self) -> bool:
        """Whether the data have class labels (class metrics and the linear probe need them)."""
        return bool(self.datamodule is not None and self.datamodule.has_labels)

    @property
    def toy(self) -> bool:
        return hasattr(self.datamodule, "centers")

    def prepare(self, datamodule: GANDataModule) -> "Evaluation":
        """Read the data, get the feature network (cached or trained now) and the real features."""
        if self.features_name not in FEATURES:
            raise ConfigError(
                f"metrics.features={self.features_name} is not one of {', '.join(FEATURES)} "
                "(e.g. metrics.features=auto)."
            )
        self.labelfree_settings = LabelFreeSettings(**self.labelfree)
        datamodule.setup("fit")
        self.datamodule = datamodule
        if self.features_name == "auto":
            self.features_name = "evaluator" if datamodule.has_labels else "labelfree"
        if not datamodule.has_labels:
            log.info("%s has no class labels: class metrics and the linear probe are skipped", datamodule.name)
        if self.features_name == "evaluator" and not datamodule.has_labels:
            raise ConfigError(
                f"metrics.features=evaluator needs class labels, and data={datamodule.name} has none; use "
                "metrics.features=labelfree (or auto), which needs no labels."
            )
        self.train_images = _all_samples(datamodule.train_set)
        self.heldout_images = _all_samples(datamodule.heldout_set)
        self.ready = True
        if self.toy:
            self.budget = self.num_samples or DEFAULT_BUDGET
            return self
        start = time.perf_counter()
        self.network = self._feature_network()
        self.feature_scale = 1.0
        self.train_features = self.features(self.train_images)
        # One fixed scale per feature network, so that E|f|^2 / d = 1 on the training set: the raw activations
        # of a small classifier have an arbitrary scale that would make FID and KID (a cubic kernel) huge.
        self.feature_scale = float(self.train_features.pow(2).mean().sqrt())
        self.train_features /= self.feature_scale
        self.heldout_features = self.features(self.heldout_images)
        self.budget = self.num_samples or len(self.heldout_images)
        log.info("evaluation prepared in %.1f s (budget: %d samples)", time.perf_counter() - start, self.budget)
        return self

    def _feature_network(self) -> nn.Module:
        if self.features_name == "inception":
            return inception_features(self.weights_path)
        name = f"{self.datamodule.name}-{'x'.join(map(str, self.datamodule.shape))}"
        if self.features_name == "labelfree":
            return load_or_build_labelfree(name, self.train_images, self.labelfree_settings, self.cache_dir)
        train_labels, heldout_labels = self.datamodule.labels()
        train = (to_unit_range(self.train_images).float(), train_labels)
        heldout = (to_unit_range(self.heldout_images).float(), heldout_labels)
        model, self.evaluator_accuracy = load_or_train(name, train, heldout, self.evaluator_settings, self.cache_dir)
        self.classifier = model
        return _FeaturesOf(model)

    # --- features ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def features(self, samples: Tensor) -> Tensor:
        """(N, *shape) samples (uint8 pixels or floats in [-1, 1]) -> (N, d) features, in batches."""
        batches = samples.split(self.batch_size)
        features = torch.cat([self.network(to_unit_range(batch).float()) for batch in batches])
        return features.double() / self.feature_scale

    @torch.no_grad()
    def generate(self, gan: nn.Module, n: int) -> Tensor:
        """n samples of the GAN's sampler (the EMA generator when on), eval mode, from a fixed noise seed.

        Under DDP each rank makes every world-th sample and the ranks gather them: every rank ends with the same
        n samples a single process would make.
        """
        z = gan.sample_noise(n, torch.Generator().manual_seed(self.seed))
        rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        sampler = gan.sampler
        was_training = sampler.training
        sampler.eval()
        mine = torch.cat([sampler(batch).float() for batch in z[rank::world].split(self.batch_size)])
        sampler.train(was_training)
        if world == 1:
            return mine.cpu()
        padded = torch.zeros(-(-n // world), *mine.shape[1:], dtype=mine.dtype, device=mine.device)
        padded[: len(mine)] = mine
        gathered = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(gathered, padded)
        # rank r made samples r, r + world, ...: interleave them back into the order of z
        return torch.stack(gathered, dim=1).flatten(0, 1)[:n].cpu()

    # --- metrics -------------------------------------------------------------------------------------------

    def _distances(self, features: Tensor, logits: Tensor | None) -> dict[str, float]:
        tag = budget_tag(len(features))
        picks = torch.randperm(len(self.train_features), generator=torch.Generator().manual_seed(self.seed))
        reference = self.train_features[picks[: len(features)]]  # equal-sized sets, as the P/R papers use
        precision, recall = precision_recall(reference, features, self.precision_k)
        density, coverage = density_coverage(reference, features, self.density_k)
        values = {
            "fid": fid(self.train_features, features),
            "kid": kid(self.train_features, features, self.kid_subsets, self.seed),
            "precision": precision,
            "recall": recall,
            "density": density,
            "coverage": coverage,
        }
        if logits is not None:
            values.update(class_metrics(logits, self.seed))
        return {f"{name}{tag}": value for name, value in values.items()}

    def _logits(self, samples: Tensor) -> Tensor | None:
        if self.classifier is None:
            return None
        with torch.no_grad():
            return torch.cat([self.classifier(batch) for batch in samples.split(self.batch_size)])

    def measure(self, gan: nn.Module) -> dict[str, float]:
        """The ``val/*`` metrics of the GAN's sampler at the evaluation budget."""
        samples = self.generate(gan, self.budget)
        if self.toy:
            report = mode_metrics(samples, self.datamodule.centers, self.datamodule.std)
            return {f"val/{k}": v for k, v in report.as_dict(self.budget).items()}
        values = self._distances(self.features(samples), self._logits(samples))
        return {f"val/{name}": value for name, value in values.items()}

    def floor(self) -> dict[str, float]:
        """The held-out real samples measured like a generator: the ``floor/*`` metrics."""
        heldout = self.heldout_images
        if self.toy:
            report = mode_metrics(heldout[: self.budget], self.datamodule.centers, self.datamodule.std)
            return {f"floor/{k}": v for k, v in report.as_dict(min(self.budget, len(heldout))).items()}
        logits = self._logits(to_unit_range(heldout).float())
        return {f"floor/{name}": value for name, value in self._distances(self.heldout_features, logits).items()}

    def names(self) -> list[str]:
        """The names ``measure`` reports, ``val/...`` (for TensorBoard's HParams tab); none when not ready."""
        if not self.ready:
            return []
        tag = budget_tag(self.budget)
        if self.toy:
            base = [f"modes{tag}", f"hq{tag}", f"rkl{tag}"]
        else:
            base = [f"{name}{tag}" for name in ("fid", "kid", "precision", "recall", "density", "coverage")]
            if self.classifier is not None:
                base += [f"{name}{tag}" for name in ("classes", "class_kl", "score")]
        return [f"val/{name}" for name in base]

    # --- linear probe --------------------------------------------------------------------------------------

    @torch.no_grad()
    def probe(self, discriminators: dict[str, nn.Module]) -> dict[str, float]:
        """Linear-probe accuracy on the held-out labels with n labels per class, for raw pixels and for each
        named (frozen) discriminator's features: ``probe/<name>_<n>labels`` (mean) and ``..._std``."""
        if self.toy:
            return {}
        if not self.datamodule.has_labels:  # said once, by prepare
            return {}
        train_labels, test_labels = self.datamodule.labels()
        counts = usable_label_counts(train_labels, self.probe_labels)
        sources = {"pixels": lambda x: x.flatten(1)} | {
            name: _embedding(discriminator) for name, discriminator in discriminators.items()
        }
        results = {}
        for name, embed in sources.items():
            train = (self._embed_all(embed, self.train_images), train_labels)
            test = (self._embed_all(embed, self.heldout_images), test_labels)
            for n in counts:
                mean, std = probe_accuracy(train, test, n, self.probe_draws, self.seed)
                results[f"probe/{name}_{n}labels"] = mean
                results[f"probe/{name}_{n}labels_std"] = std
        return results

    def _embed_all(self, embed: Callable[[Tensor], Tensor], samples: Tensor) -> Tensor:
        return torch.cat([embed(to_unit_range(batch).float()) for batch in samples.split(self.batch_size)])


def _all_samples(dataset: Dataset) -> Tensor:
    """Every sample of a dataset as one tensor (in-memory sets as they are stored: no copy)."""
    if isinstance(dataset, TensorSamples):
        return dataset.samples
    return torch.cat(list(DataLoader(dataset, batch_size=256)))


def _embedding(discriminator: nn.Module) -> Callable[[Tensor], Tensor]:
    device = next(discriminator.parameters()).device

    def embed(x: Tensor) -> Tensor:
        was_training = discriminator.training
        discriminator.eval()
        features = discriminator.embed(x.to(device)).float().cpu()
        discriminator.train(was_training)
        return features

    return embed


class _FeaturesOf(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model.features(images)


def is_better(name: str, value: float, best: float | None) -> bool:
    """Whether ``value`` of metric ``name`` beats ``best`` (distances and KL: lower; the rest: higher)."""
    if best is None or math.isnan(best):
        return not math.isnan(value)
    lower = any(key in name for key in ("fid", "kid", "kl"))
    return value < best if lower else value > best
