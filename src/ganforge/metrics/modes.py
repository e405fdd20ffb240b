"""Mode-collapse metrics for the 2-D Gaussian mixtures, as defined by VEEGAN (Srivastava et al. 2017) and
PacGAN (Lin et al. 2018), reported on 2,500 generated samples.

- A sample is *high quality* if it lies within 3 standard deviations of its nearest mode centre.
- A mode is *captured* if at least 1/5 of its expected share of the samples are high-quality samples
  registered to it (PacGAN: 20 of 2,500 samples for 25 modes).
- *Reverse KL*: KL(generated mode histogram || uniform), the histogram over high-quality samples.
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
    modes: int  # modes captured
    total_modes: int
    hq_fraction: float  # share of samples within 3 std of their nearest mode
    reverse_kl: float  # KL(mode histogram of high-quality samples || uniform); inf if none is high quality
    counts: tuple[int, ...]  # high-quality samples registered to each mode

    def as_dict(self) -> dict[str, float]:
        """The reported values (``Evaluation`` adds the sample budget to the names: ``modes2.5k``)."""
        return {"modes": float(self.modes), "hq": self.hq_fraction, "rkl": self.reverse_kl}


def mode_metrics(samples: Tensor, centers: Tensor, std: float) -> ModeReport:
    """Modes captured, high-quality fraction and reverse KL of (N, 2) ``samples`` for a mixture."""
    samples, centers = samples.detach().double().cpu(), centers.detach().double().cpu()
    distance, nearest = torch.cdist(samples, centers).min(dim=1)
    high_quality = distance <= HQ_RADIUS_IN_STD * std
    counts = torch.bincount(nearest[high_quality], minlength=len(centers))
    threshold = CAPTURE_SHARE * len(samples) / len(centers)
    n_hq = int(high_quality.sum())
    if n_hq == 0:
        reverse_kl = math.inf
    else:
        p = counts[counts > 0].double() / n_hq
        reverse_kl = float((p * (p * len(centers)).log()).sum())
    return ModeReport(
        modes=int((counts >= threshold).sum()),
        total_modes=len(centers),
        hq_fraction=n_hq / len(samples),
        reverse_kl=reverse_kl,
        counts=tuple(int(c) for c in counts),
    )


@register("modes", {"modes": True, "hq": True, "rkl": False}, needs=("modes",))
def modes_metric(evaluation, samples) -> dict[str, float]:
    """Modes captured (1/5 of the fair share), high-quality share and reverse KL (VEEGAN/PacGAN, 2-D mixtures)."""
    centers, std = evaluation.modes
    return mode_metrics(samples.points, centers, std).as_dict()
