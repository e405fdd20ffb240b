"""Mode metrics on constructed samples give exactly the hand-computed numbers."""

import math

import pytest
import torch

from ganforge.data import grid_centers, ring_centers
from ganforge.metrics import mode_metrics

STD = 0.01


def on_modes(centers: torch.Tensor, per_mode: list[int], offset: float = 0.0) -> torch.Tensor:
    """``per_mode[k]`` samples at centre k, shifted by ``offset`` along x (in units of STD)."""
    points = [centers[k].expand(n, 2) for k, n in enumerate(per_mode)]
    return torch.cat(points) + torch.tensor([offset * STD, 0.0])


def test_all_eight_modes_evenly() -> None:
    report = mode_metrics(on_modes(ring_centers(), [100] * 8, offset=1.0), ring_centers(), STD)
    assert (report.modes, report.hq_fraction, report.reverse_kl) == (8, 1.0, pytest.approx(0.0, abs=1e-12))


def test_four_of_eight_modes() -> None:
    report = mode_metrics(on_modes(ring_centers(), [200, 0, 200, 0, 200, 0, 200, 0]), ring_centers(), STD)
    assert report.modes == 4 and report.hq_fraction == 1.0
    assert report.reverse_kl == pytest.approx(math.log(2))  # 4 equal modes of 8: sum 1/4 log(8/4)


def test_samples_off_mode_are_not_high_quality() -> None:
    samples = torch.cat([on_modes(ring_centers(), [50] * 8), on_modes(ring_centers(), [50] * 8, offset=3.5)])
    report = mode_metrics(samples, ring_centers(), STD)
    assert report.hq_fraction == 0.5 and report.modes == 8  # 50 HQ per mode >= 0.2 * 800 / 8 = 20
    nothing = mode_metrics(torch.full((10, 2), 9.0), ring_centers(), STD)
    assert (nothing.modes, nothing.hq_fraction, nothing.reverse_kl) == (0, 0.0, math.inf)


def test_a_mode_needs_a_fifth_of_its_share_to_count() -> None:
    centers = grid_centers()
    per_mode = [100] * 24 + [19]  # 2,419 samples: the threshold is 0.2 * 2419 / 25 = 19.35
    report = mode_metrics(on_modes(centers, per_mode), centers, 0.05)
    assert report.modes == 24 and report.counts[-1] == 19
    assert report.as_dict() == {"modes": 24.0, "hq": 1.0, "rkl": pytest.approx(report.reverse_kl)}
