"""Distances between a real and a generated feature set: FID and KID (torchmetrics), improved precision and
recall (Kynkäänniemi et al. 2019, k=3), density and coverage (Naeem et al. 2020, k=5).

Features are computed once per evaluation and handed to torchmetrics through an identity ``feature=`` module,
so one pass of the evaluator network serves every metric.
"""

import warnings

import torch
from torch import Tensor, nn
from torchmetrics.image import FrechetInceptionDistance, KernelInceptionDistance

from ganforge.metrics.registry import register

KID_SUBSET_SIZE = 1000  # torchmetrics' and the KID paper's default; smaller sets use all their samples


class Precomputed(nn.Identity):
    """A torchmetrics ``feature=`` module for features that are already computed: (N, d) -> (N, d)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


def fid(real: Tensor, fake: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to (N, d) ``real`` and (M, d) ``fake`` features."""
    metric = FrechetInceptionDistance(feature=Precomputed(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: Tensor, fake: Tensor, subsets: int = 100, seed: int = 0) -> float:
    """Kernel Inception Distance (unbiased MMD^2, cubic kernel), mean over random subsets (seeded)."""
    size = min(KID_SUBSET_SIZE, len(real), len(fake))
    with warnings.catch_warnings():  # "will save all extracted features": these features are small
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=Precomputed(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng():  # torchmetrics draws the subsets from the global generator
        torch.manual_seed(seed)
        mean, _ = metric.compute()
    return float(mean)


def _knn_radius(features: Tensor, k: int) -> Tensor:
    """Distance from each sample to its k-th nearest other sample of the same set."""
    return torch.cdist(features, features).kthvalue(k + 1, dim=1).values  # +1: a sample is its own nearest


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside the real manifold (the union of k-NN balls around reals); recall: share
    of reals inside the fake manifold."""
    real, fake = real.double(), fake.double()
    distances = torch.cdist(fake, real)  # (M, N)
    precision = (distances <= _knn_radius(real, k)[None, :]).any(dim=1).double().mean()
    recall = (distances <= _knn_radius(fake, k)[:, None]).any(dim=0).double().mean()
    return float(precision), float(recall)


def density_coverage(real: Tensor, fake: Tensor, k: int = 5) -> tuple[float, float]:
    """Density: how many real k-NN balls contain each fake, over k (1 when fakes are distributed like reals);
    coverage: share of reals whose k-NN ball contains at least one fake."""
    real, fake = real.double(), fake.double()
    inside = torch.cdist(fake, real) <= _knn_radius(real, k)[None, :]  # (M, N)
    density = inside.double().sum() / (k * len(fake))
    coverage = inside.any(dim=0).double().mean()
    return float(density), float(coverage)


# --- registered: each compares a sample set's features with the training set's ------------------------------


@register("fid", {"fid": False}, needs=("features",))
def fid_metric(evaluation, samples) -> dict[str, float]:
    """Fréchet distance of the samples' features to the whole training set's (lower is better)."""
    return {"fid": fid(evaluation.train_features, samples.features)}


@register("kid", {"kid": False}, needs=("features",))
def kid_metric(evaluation, samples) -> dict[str, float]:
    """Kernel Inception Distance to the training set's features (lower is better)."""
    return {"kid": kid(evaluation.train_features, samples.features, evaluation.kid_subsets, evaluation.seed)}


@register("precision_recall", {"precision": True, "recall": True}, needs=("features",))
def precision_recall_metric(evaluation, samples) -> dict[str, float]:
    """Improved precision and recall against an equal-sized training subset, as the paper uses."""
    precision, recall = precision_recall(evaluation.reference(len(samples)), samples.features, evaluation.precision_k)
    return {"precision": precision, "recall": recall}


@register("density_coverage", {"density": True, "coverage": True}, needs=("features",))
def density_coverage_metric(evaluation, samples) -> dict[str, float]:
    """Density and coverage against an equal-sized training subset."""
    density, coverage = density_coverage(evaluation.reference(len(samples)), samples.features, evaluation.density_k)
    return {"density": density, "coverage": coverage}
