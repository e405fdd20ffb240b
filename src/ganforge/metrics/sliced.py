"""Sliced Wasserstein distance between generated and real points (Rabin et al. 2011; Deshpande et al. 2018).

The Wasserstein-1 distance of two 1-D sets of equal size is the mean absolute difference of their sorted values;
averaged over random unit directions it is a distance between the full distributions that sees both missing modes
(mass in the wrong place) and spread (samples off the modes), in the units of the data. For low-dimensional data
(the 2-D mixtures), where points are compared directly rather than through a feature network.
"""

import torch
from torch import Tensor

from ganforge.metrics.registry import register

DIRECTIONS = 128


def sliced_wasserstein(a: Tensor, b: Tensor, directions: int = DIRECTIONS, seed: int = 0) -> float:
    """Mean over ``directions`` random unit vectors of the 1-D Wasserstein-1 distance of the projections.

    ``a`` and ``b`` are (N, d) and (M, d); the larger set is subsampled (seeded) to the smaller one's size.
    """
    generator = torch.Generator().manual_seed(seed)
    a, b = a.double().flatten(1), b.double().flatten(1)
    n = min(len(a), len(b))
    a = a[torch.randperm(len(a), generator=generator)[:n]]
    b = b[torch.randperm(len(b), generator=generator)[:n]]
    theta = torch.randn(a.shape[1], directions, generator=generator, dtype=torch.float64)
    theta /= theta.norm(dim=0, keepdim=True)
    projected_a, projected_b = (a @ theta).sort(dim=0).values, (b @ theta).sort(dim=0).values
    return float((projected_a - projected_b).abs().mean())


@register("swd", {"swd": False}, needs=("points",))
def swd_metric(evaluation, samples) -> dict[str, float]:
    """Sliced Wasserstein-1 distance of the samples to the training points (lower is better)."""
    return {"swd": sliced_wasserstein(samples.points, evaluation.train_points, seed=evaluation.seed)}
