"""Mode-collapse metrics for the 2-D Gaussian mixtures, reported on 2,500 generated samples.

PacGAN's protocol (Lin et al. 2018; its public code's ``MetricLogger``), registered as ``modes``:

- a sample is *high quality* if its distance to the nearest mode centre is strictly below 3 standard deviations;
- a mode is *captured* if at least one high-quality sample is nearest to it;
- *reverse KL* is KL(p || uniform) = ln K - H(p) of p, the mode histogram of the high-quality samples, with no
  smoothing; undefined (NaN) when no sample is high quality, as the paper notes.

A stricter count, registered as ``modes_fifth`` (ganforge's earlier definition): a mode counts only when at least
1/5 of its fair share of the samples are high-quality samples nearest to it (20 of 2,500 samples for 25 modes), so a
mode touched by a handful of stray samples is not "captured".

Neither sees how the samples spread *within* a mode: a generator that puts each mode's samples on a point scores
100% high quality, above the data's own 98.9% (a 2-D Gaussian keeps 1 - e^-4.5 of its mass within 3 std).
``mode_spread`` reports that, in two parts, both over the data's RMS radius sqrt(2) std:

- ``mode_spread``: the pooled within-mode RMS distance of the high-quality samples to *their own mode's sample mean*
  (sum of squares over N_hq - K degrees of freedom, K the modes with high-quality samples; a mode with a single
  sample adds nothing). The data's own samples score about 0.97 (the 3-std cut trims their tail); point masses 0,
  wherever they sit.
- ``mode_offset``: the RMS distance from each high-quality sample's mode mean to the true centre: how far the
  generated modes sit off the data's (the data's own: ~1/sqrt(samples per mode), 0.1 at 100 per mode).

Their squares add up to the mean squared distance to the centre (the first version of ``mode_spread`` reported that
sum, which scored a point mass 2 std off-centre as well spread).
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ganforge.metrics.registry import register

HQ_RADIUS_IN_STD = 3.0
CAPTURE_SHARE = 0.2
DEFAULT_BUDGET = 2500


@dataclass(frozen=True)
class ModeReport:
    modes: int  # modes with at least one high-quality sample (PacGAN)
    modes_fifth: int  # modes with at least CAPTURE_SHARE of their fair share of high-quality samples
    total_modes: int
    hq_fraction: float  # share of samples strictly within 3 std of their nearest mode
    reverse_kl: float  # KL(mode histogram of high-quality samples || uniform); NaN if none is high quality
    counts: tuple[int, ...]  # high-quality samples nearest to each mode
    # pooled within-mode RMS distance of HQ samples to their mode's mean / (sqrt(2) std); NaN unless some mode holds
    # two or more high-quality samples
    spread: float
    # RMS distance of the HQ samples' mode means to the true centres (each mode weighted by its HQ samples) /
    # (sqrt(2) std); NaN if no sample is high quality
    offset: float

    def as_dict(self) -> dict[str, float]:
        """PacGAN's values (``Evaluation`` adds the sample budget to the names: ``modes2.5k``)."""
        return {"modes": float(self.modes), "hq": self.hq_fraction, "rkl": self.reverse_kl}


def mode_metrics(samples: Tensor, centers: Tensor, std: float) -> ModeReport:
    """Modes captured, high-quality fraction and reverse KL of (N, 2) ``samples`` for a mixture."""
    samples, centers = samples.detach().double().cpu(), centers.detach().double().cpu()
    # exact differences, not the faster |x|^2 + |c|^2 - 2 x.c (a point at exactly 3 std must not count)
    distance, nearest = torch.cdist(samples, centers, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1)
    high_quality = distance < HQ_RADIUS_IN_STD * std
    counts = torch.bincount(nearest[high_quality], minlength=len(centers))
    n_hq = int(high_quality.sum())
    spread, offset = within_and_offset(samples[high_quality], nearest[high_quality], centers, counts, std)
    return ModeReport(
        modes=int((counts > 0).sum()),
        modes_fifth=int((counts >= CAPTURE_SHARE * len(samples) / len(centers)).sum()),
        total_modes=len(centers),
        hq_fraction=n_hq / len(samples),
        reverse_kl=reverse_kl(counts),
        counts=tuple(int(c) for c in counts),
        spread=spread,
        offset=offset,
    )


def within_and_offset(x: Tensor, mode: Tensor, centers: Tensor, counts: Tensor, std: float) -> tuple[float, float]:
    """(pooled within-mode RMS distance to each mode's sample mean, RMS offset of those means from the centres), of
    the high-quality samples ``x`` nearest to modes ``mode``, both / (sqrt(2) std); NaN where undefined."""
    scale = math.sqrt(2) * std
    if len(x) == 0:
        return math.nan, math.nan
    means = torch.zeros_like(centers).index_add_(0, mode, x) / counts.clamp(min=1).unsqueeze(1)
    offset = float((means[mode] - centers[mode]).square().sum(dim=1).mean().sqrt() / scale)
    dof = len(x) - int((counts > 0).sum())  # each mode's mean uses one sample's worth (Bessel)
    within = float(((x - means[mode]).square().sum() / dof).sqrt() / scale) if dof > 0 else math.nan
    return within, offset


def reverse_kl(counts: Tensor) -> float:
    """KL(p || uniform over the K modes) = ln K - H(p) for the histogram ``counts``; NaN for an empty one."""
    total = int(counts.sum())
    if total == 0:
        return math.nan
    p = counts[counts > 0].double() / total
    return float(math.log(len(counts)) + (p * p.log()).sum())


@register("modes", {"modes": True, "hq": True, "rkl": False}, needs=("modes",))
def modes_metric(evaluation, samples) -> dict[str, float]:
    """PacGAN's protocol: modes with a high-quality sample (< 3 std), high-quality share, reverse KL."""
    return samples.modes.as_dict()


@register("modes_fifth", {"modes_fifth": True}, needs=("modes",))
def modes_fifth_metric(evaluation, samples) -> dict[str, float]:
    """Modes holding at least a fifth of their fair share of the high-quality samples (a stricter count)."""
    return {"modes_fifth": float(samples.modes.modes_fifth)}


# The spread: higher is better below the data's ~0.97, the under-spread a precise generator shows; above it the
# samples are wider than the data's, which the high-quality share already penalises (the registry has no "closest
# to a target" kind). The offset: lower is better.
@register("mode_spread", {"mode_spread": True, "mode_offset": False}, needs=("modes",))
def mode_spread_metric(evaluation, samples) -> dict[str, float]:
    """How widely the high-quality samples spread within their modes (the data's ~0.97) and how far the generated
    modes sit off the true centres, both as shares of the data's RMS radius."""
    return {"mode_spread": samples.modes.spread, "mode_offset": samples.modes.offset}
