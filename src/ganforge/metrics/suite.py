"""One evaluation of a GAN against its data: the registered metrics a data config selects (``data.metrics``), run
on generated samples (``val/*``), on the held-out real samples (the *real-data floor*, ``floor/*``: the best a
generator of these data can expect at this sample budget) and, when training ends, on the discriminator
(``probe/*``).

What the metrics read is prepared once: the feature network (the evaluator trained on the data's labels where the
data have them, else label-free features built from the training images alone, or the FID Inception) and the
training set's features, the mode centres of a known mixture, the
labels. A selected metric whose needs the data cannot meet is skipped with one log line at the start, never
failing a run at its end.

By default the budget (generated samples per evaluation) is the size of the held-out set (2,500 for point data),
so a generator and the floor are measured with the same number of samples (FID is biased by the sample count).
Every name carries its budget (``fid180``, ``modes2.5k``).
"""

import logging
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ganforge.data.base import GANDataModule, TensorSamples, to_unit_range
from ganforge.errors import ConfigError
from ganforge.metrics.evaluator import EvaluatorSettings, load_or_train
from ganforge.metrics.inception import inception_features
from ganforge.metrics.labelfree import LabelFreeSettings
from ganforge.metrics.labelfree import load_or_build as load_or_build_labelfree
from ganforge.metrics.modes import ModeReport, mode_metrics
from ganforge.metrics.names import MetricName
from ganforge.metrics.probe import usable_label_counts
from ganforge.metrics.registry import Metric, lookup
from ganforge.rules import Rule, at_least, enum, folder, integer, list_of, optional_integer, optional_text

log = logging.getLogger(__name__)

# auto: the evaluator network where the data have labels, else the label-free features (labelfree.py)
FEATURES = ("auto", "evaluator", "labelfree", "inception")
FEATURES_RULE = enum("features", FEATURES, "auto", "vgg")
POINTS_BUDGET = 2500  # VEEGAN's and PacGAN's sample count for the 2-D mixtures


class SampleSet:
    """Samples to measure (generated, or the held-out reals) and what metrics read of them, each computed once."""

    def __init__(self, evaluation: "Evaluation", samples: Tensor) -> None:
        self.evaluation, self.samples = evaluation, samples

    def __len__(self) -> int:
        return len(self.samples)

    @cached_property
    def features(self) -> Tensor:
        return self.evaluation.features(self.samples)

    @cached_property
    def logits(self) -> Tensor:
        return self.evaluation.logits(self.samples)

    @property
    def points(self) -> Tensor:
        return self.samples.double()

    @cached_property
    def modes(self) -> ModeReport:
        """The 2-D mixtures' mode report (modes.py), shared by the metrics that read it."""
        centers, std = self.evaluation.modes
        return mode_metrics(self.points, centers, std)


class Evaluation:
    """Measures generators (and discriminators) of one dataset; ``prepare`` once, then ``measure`` often."""

    rules = (
        FEATURES_RULE,
        optional_text("weights_path", "null or the path of a weights file", "/data/pt_inception.pth"),
        optional_integer("num_samples", 2, "1000", "the held-out set's size"),
        integer("precision_k", 1, "3"), integer("density_k", 1, "5"), integer("kid_subsets", 1, "100"),
        Rule("probe_labels", "a list of integers >= 1", "[1,10,100]", list_of(at_least(1)), ("10", "[0]")),
        integer("probe_draws", 1, "5"), integer("seed", 0, "0"), folder("cache_dir", "~/.cache/ganforge"),
        *(rule.at("evaluator") for rule in EvaluatorSettings.rules),
        *(rule.at("labelfree") for rule in LabelFreeSettings.rules),
    )  # fmt: skip

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
        self.metrics: list[Metric] = []
        self.network: nn.Module | None = None
        self.classifier: nn.Module | None = None
        self.evaluator_accuracy: float | None = None
        self.probe_counts: tuple[int, ...] = ()
        self.budget = 0

    @property
    def ready(self) -> bool:
        """Prepared, with at least one metric to report."""
        return bool(self.metrics)

    # --- setup ---------------------------------------------------------------------------------------------

    def prepare(self, datamodule: GANDataModule) -> "Evaluation":
        """Read the data, keep the selected metrics whose needs it meets, and prepare what they read."""
        selected = lookup(datamodule.metrics)
        FEATURES_RULE.require(self.features_name, "metrics.features", ConfigError)
        self.labelfree_settings = LabelFreeSettings(**self.labelfree)
        datamodule.setup("fit")
        self.datamodule = datamodule
        has = self._capabilities(datamodule, selected)
        self.metrics = [metric for metric in selected if metric.needs <= has]
        for metric in selected:
            if not metric.needs <= has:
                missing = ", ".join(sorted(metric.needs - has))
                log.info("metric %s skipped: %s has no %s", metric.name, datamodule.name, missing)
        if not self.metrics:
            log.warning("evaluation is off: none of data.metrics=%s can be measured on %s", datamodule.metrics,
                        datamodule.name)  # fmt: skip
            return self
        start = time.perf_counter()
        self.train_images = _all_samples(datamodule.train_set)
        self.heldout_images = _all_samples(datamodule.heldout_set)
        if "labels" in has:
            self.labels = datamodule.labels()
            self.probe_counts = usable_label_counts(self.labels[0], self.probe_labels)
        if "features" in has:
            self._prepare_features()
        self.budget = self.num_samples or (len(self.heldout_images) if "features" in has else POINTS_BUDGET)
        self.heldout = SampleSet(self, self.heldout_images[: self.budget])
        log.info("evaluation prepared in %.1f s (budget: %d samples)", time.perf_counter() - start, self.budget)
        return self

    def _capabilities(self, datamodule: GANDataModule, selected: list[Metric]) -> set[str]:
        """What this data and these settings can give the metrics (see ``registry.NEEDS``)."""
        has = {"labels"} if datamodule.has_labels else set()
        self.modes = datamodule.modes()
        if self.modes is not None:
            has.add("modes")
        if datamodule.kind == "points":
            has.add("points")
            return has
        if self.features_name == "auto":
            self.features_name = "evaluator" if datamodule.has_labels else "labelfree"
        if self.features_name == "evaluator" and not datamodule.has_labels:
            raise ConfigError(
                f"metrics.features=evaluator needs class labels, and data={datamodule.name} has none; use "
                "metrics.features=labelfree (or auto), which needs no labels."
            )
        has.add("features")
        if self.features_name == "evaluator":
            has.add("classifier")  # the evaluator is a classifier of the data's labels
        return has

    def _prepare_features(self) -> None:
        self.network = self._feature_network()
        self.feature_scale = 1.0
        train_features = self.features(self.train_images)
        # One fixed scale per feature network, so that E|f|^2 / d = 1 on the training set: the raw activations
        # of a small classifier have an arbitrary scale that would make FID and KID (a cubic kernel) huge.
        self.feature_scale = float(train_features.pow(2).mean().sqrt())
        self.train_features = train_features / self.feature_scale

    def _feature_network(self) -> nn.Module:
        if self.features_name == "inception":
            return inception_features(self.weights_path)
        if self.features_name == "labelfree":
            name = network_name(self.datamodule)
            return load_or_build_labelfree(name, self.train_images, self.labelfree_settings, self.cache_dir)
        train, heldout = evaluator_data(self.train_images, self.heldout_images, self.labels)
        name = network_name(self.datamodule)
        model, self.evaluator_accuracy = load_or_train(name, train, heldout, self.evaluator_settings, self.cache_dir)
        self.classifier = model
        return _FeaturesOf(model)

    # --- what metrics read ---------------------------------------------------------------------------------

    @torch.no_grad()
    def features(self, samples: Tensor) -> Tensor:
        """(N, *shape) samples (uint8 pixels or floats in [-1, 1]) -> (N, d) features, in batches."""
        batches = samples.split(self.batch_size)
        features = torch.cat([self.network(to_unit_range(batch).float()) for batch in batches])
        return features.double() / self.feature_scale

    @torch.no_grad()
    def logits(self, samples: Tensor) -> Tensor:
        """The evaluator's class logits of (N, *shape) samples."""
        return torch.cat([self.classifier(to_unit_range(b).float()) for b in samples.split(self.batch_size)])

    @cached_property
    def train_points(self) -> Tensor:
        return self.train_images.double()

    def reference(self, n: int) -> Tensor:
        """A fixed random subset of ``n`` training features (equal-sized sets, as precision/recall papers use)."""
        picks = torch.randperm(len(self.train_features), generator=torch.Generator().manual_seed(self.seed))
        return self.train_features[picks[:n]]

    def embed_all(self, embed: Callable[[Tensor], Tensor], samples: Tensor) -> Tensor:
        return torch.cat([embed(to_unit_range(batch).float()) for batch in samples.split(self.batch_size)])

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

    # --- measuring -----------------------------------------------------------------------------------------

    def report(self, split: str, samples: SampleSet) -> dict[str, float]:
        """Every per-evaluation metric of ``samples``, named ``<split>/<value><budget>`` (``MetricName``)."""
        values = {}
        for metric in self.metrics:
            if not metric.at_end:
                values |= {
                    str(MetricName(split, name, len(samples))): value
                    for name, value in metric.compute(self, samples).items()
                }
        return values

    def measure(self, gan: nn.Module) -> dict[str, float]:
        """The ``val/*`` metrics of the GAN's sampler at the evaluation budget."""
        return self.report("val", SampleSet(self, self.generate(gan, self.budget)))

    def floor(self) -> dict[str, float]:
        """The held-out real samples measured like a generator: the ``floor/*`` metrics."""
        return self.report("floor", self.heldout)

    def at_end(
        self, discriminators: dict[str, nn.Module], fixed: dict[str, nn.Module] | None = None
    ) -> dict[str, float]:
        """The metrics measured once when training ends (the linear probe): ``probe/*``. ``fixed`` networks (a
        randomly initialised baseline) are the same in every run of these data, so their results may be cached."""
        values = {}
        for metric in self.metrics:
            if metric.at_end:
                results = metric.compute(self, discriminators, fixed)
                values |= {str(MetricName(metric.name, name)): value for name, value in results.items()}
        return values

    def names(self) -> dict[MetricName, bool]:
        """Every name this evaluation reports, with whether higher is better (as the registry declares): ``val/*``,
        ``floor/*`` and the at-end metrics' (``probe/*``: the 10-label means; the rest are logged but not
        compared); empty when not ready."""
        if not self.ready:
            return {}
        names = {}
        for metric in self.metrics:
            if metric.at_end:
                names |= {MetricName(metric.name, name): higher for name, higher in metric.outputs.items()}
                continue
            names |= {MetricName("val", name, self.budget): higher for name, higher in metric.outputs.items()}
            names |= {MetricName("floor", name, len(self.heldout)): higher for name, higher in metric.outputs.items()}
        return names

    def directions(self) -> dict[str, bool]:
        """``names()`` as the tags they are logged under (``val/fid180``: higher is better)."""
        return {str(name): higher for name, higher in self.names().items()}


def network_name(datamodule: GANDataModule) -> str:
    """The data's name and sample shape (``digits-1x28x28``): the name feature networks are cached under."""
    return f"{datamodule.name}-{'x'.join(map(str, datamodule.shape))}"


def evaluator_data(
    train_images: Tensor, heldout_images: Tensor, labels: tuple[Tensor, Tensor]
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The (images in [-1, 1], labels) the evaluator network is trained on and checked on (the held-out split),
    from the data's samples as stored and its (training, held-out) labels."""
    return (to_unit_range(train_images).float(), labels[0]), (to_unit_range(heldout_images).float(), labels[1])


def evaluator_inputs(datamodule: GANDataModule) -> tuple[str, tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The evaluator network's name and data (``evaluator_data``) of a set-up datamodule with labels, read from it."""
    samples = _all_samples(datamodule.train_set), _all_samples(datamodule.heldout_set)
    return network_name(datamodule), *evaluator_data(*samples, datamodule.labels())


def _all_samples(dataset: Dataset) -> Tensor:
    """Every sample of a dataset as one tensor (in-memory sets as they are stored: no copy)."""
    if isinstance(dataset, TensorSamples):
        return dataset.samples
    return torch.cat(list(DataLoader(dataset, batch_size=256)))


class _FeaturesOf(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model.features(images)
