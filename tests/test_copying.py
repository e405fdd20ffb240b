"""The data-copying test (Meehan et al. 2020): calibrated on fresh real data, far below 0 for copies and far above
for under-fitting, the U statistic against a brute-force pair count, the exclusion of thin cells, the registry."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu, norm

from ganforge.data import DigitsDataModule, GaussianMixtureDataModule, ring_centers
from ganforge.metrics import REGISTRY, Evaluation
from ganforge.metrics.copying import copying_statistic, default_cells, mann_whitney
from ganforge.metrics.suite import SampleSet

MODE_STD = 0.3


def mixture(n: int, rng: np.random.Generator, std: float = MODE_STD) -> np.ndarray:
    """n draws of 8 Gaussians on a circle of radius 2."""
    angles = 2 * np.pi * rng.integers(8, size=n) / 8
    return 2 * np.stack([np.cos(angles), np.sin(angles)], axis=1) + std * rng.standard_normal((n, 2))


def draws(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training (2,000), held-out (1,000) and a fresh draw of 1,000 from the same mixture."""
    rng = np.random.default_rng(seed)
    return mixture(2000, rng), mixture(1000, rng), mixture(1000, rng)


@pytest.mark.parametrize("seed", range(5))
def test_fresh_draws_of_the_data_score_near_zero(seed: int) -> None:
    train, heldout, fresh = draws(seed)
    report = copying_statistic(train, heldout, fresh, seed=seed)
    assert len(report.cell_z) == default_cells(1000, 1000) == 5  # the authors' k for 1,000 samples
    assert -1.65 < report.statistic < 1.65 and report.excluded_share == 0


def test_training_samples_with_tiny_noise_are_copies_far_below_zero() -> None:
    train, heldout, _ = draws(0)
    rng = np.random.default_rng(10)
    copies = train[rng.choice(len(train), 1000, replace=False)]
    copies = copies + 1e-3 * train.std(axis=0) * rng.standard_normal(copies.shape)
    assert copying_statistic(train, heldout, copies).statistic < -3


def test_a_wider_distribution_under_fits_far_above_zero() -> None:
    train, heldout, _ = draws(0)
    wider = mixture(1000, np.random.default_rng(10), std=2 * MODE_STD)
    assert copying_statistic(train, heldout, wider).statistic > 3


def test_u_by_hand_by_pair_count_and_against_scipy() -> None:
    # x > y in no pair, x = y in two (the 3s against y's 3): U = 1; 3 is tied three times among the six values
    u, z = mann_whitney([1, 2, 3, 3], [3, 4])
    assert u == 1.0
    assert z == pytest.approx((1 - 4 * 2 / 2) / math.sqrt(4 * 2 / 12 * (7 - (3**3 - 3) / (6 * 5))))
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 6, size=40), rng.integers(1, 7, size=25)  # many ties
    u, z = mann_whitney(x, y)
    assert u == float((x[:, None] > y[None, :]).sum() + 0.5 * (x[:, None] == y[None, :]).sum())
    reference = mannwhitneyu(x, y, use_continuity=False, method="asymptotic")  # tie-corrected normal approximation
    assert u == reference.statistic and 2 * norm.sf(abs(z)) == pytest.approx(reference.pvalue)
    assert z < 0  # x is drawn lower
    assert mann_whitney([0.0] * 5, [0.0] * 3) == (7.5, 0.0)  # all tied (exact copies of both): no evidence


def test_cells_with_too_few_generated_samples_are_left_out_and_their_training_share_reported() -> None:
    rng = np.random.default_rng(0)

    def blobs(left: int, right: int) -> np.ndarray:  # two far-apart cells k-means cannot miss
        return np.concatenate([rng.normal(-10, 1, (left, 2)), rng.normal(10, 1, (right, 2))])

    train, heldout, generated = blobs(300, 100), blobs(40, 40), blobs(50, 19)
    report = copying_statistic(train, heldout, generated, cells=2, min_generated=20)
    right = int(np.argmax(report.train_share == 0.25))  # 100 of the 400 training samples
    assert report.excluded_share == 0.25 and np.isnan(report.cell_z[right])
    distance = np.linalg.norm(train[None, :300] - generated[:50, None], axis=2).min(axis=1)
    heldout_distance = np.linalg.norm(train[None, :300] - heldout[:40, None], axis=2).min(axis=1)
    assert report.statistic == pytest.approx(mann_whitney(distance, heldout_distance)[1])  # the left cell's z alone
    both = copying_statistic(train, heldout, generated, cells=2, min_generated=19)
    assert both.excluded_share == 0 and not np.isnan(both.cell_z).any()
    # weighted by the training share (3:1), not the held-out share (1:1)
    assert both.statistic == pytest.approx(0.25 * both.cell_z[right] + 0.75 * both.cell_z[1 - right])
    none = copying_statistic(train, heldout, generated, cells=2, min_generated=51)
    assert math.isnan(none.statistic) and none.excluded_share == 1
    with pytest.raises(ValueError, match=r"heldout must be a non-empty \(N, D\) array .* got shape \(80,\)"):
        copying_statistic(train, heldout[:, 0], generated)


def test_registered_copying_reads_points_of_point_data() -> None:
    data = GaussianMixtureDataModule(ring_centers(), 0.05, num_samples=2000, metrics=["copying"])
    evaluation = Evaluation().prepare(data)
    assert REGISTRY["copying"].needs == frozenset() and evaluation.directions()["val/copying2.5k"] is True
    assert evaluation.floor() == {"floor/copying200": 0.0}  # the held-out set against itself: equal by construction
    copies = evaluation.train_points[:1000] + 1e-4 * torch.randn(1000, 2, dtype=torch.float64)
    assert evaluation.report("val", SampleSet(evaluation, copies))["val/copying1k"] < -3


def test_registered_copying_reads_the_features_of_images(evaluator_cache) -> None:
    evaluation = Evaluation(cache_dir=str(evaluator_cache), evaluator={"steps": 20})
    evaluation.prepare(DigitsDataModule(metrics=["copying"]))
    assert evaluation.floor() == {"floor/copying180": 0.0}
    copies = SampleSet(evaluation, evaluation.train_images[:180])  # the same images: features at distance 0
    assert evaluation.report("val", copies)["val/copying180"] < -3
