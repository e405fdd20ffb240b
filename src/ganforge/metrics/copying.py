"""The data-copying test of Meehan, Chaudhuri & Dasgupta (AISTATS 2020): the C_T statistic.

A generator that copies its training set puts its samples closer to the training samples than fresh draws of the
data are. The test compares the distances to the nearest training sample of the generated samples (Q_m) and of
held-out real samples (P_n), cell by cell, because a generator may copy in one region and under-fit in another:

- cells: k-means fitted on the training set (seeded);
- in each cell, Mann-Whitney's U of the generated distances against the held-out ones, z-scored under the null
  (both from one distribution) with the tie correction: z < 0 where the generated samples sit closer;
- C_T: the mean of the cells' z weighted by each cell's share of the training set, over the cells holding at least
  ``min_generated`` generated samples (the paper's tau); the others are left out and their share reported.

C_T near 0 is the goal. Far below 0 (the paper reads below -3) means copying; far above 0 means under-fitting
(samples farther from the training data than real data are). C_T is a weighted mean of per-cell z-scores, so under
the null its spread is at most 1 (one cell) and shrinks as cells are added.

Where this differs from the authors' code (github.com/casey-meehan/data-copying, ``data_copying_tests.py``): it
weights cells by the training share rather than the held-out share (both estimate the data's mass in the cell; here
the held-out set may be a tenth of the training set), measures the distance to the nearest training sample anywhere
rather than within the cell, and z-scores U with the tie correction instead of a continuity correction (exact copies
tie at distance 0). The cell count follows the authors' experiments: 5 cells for 1,000 samples (2-D moons), 50 for
10,000 (MNIST), i.e. one cell per ``SAMPLES_PER_CELL``.
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from ganforge.metrics.registry import register

SAMPLES_PER_CELL = 200  # the authors' k: 5 cells for 1,000 held-out and generated samples, 50 for 10,000
MIN_GENERATED = 20  # the authors' tau (20 / m as a share): a cell's U needs enough generated samples


@dataclass(frozen=True)
class CopyingReport:
    statistic: float  # C_T; NaN when every cell is excluded
    cell_z: np.ndarray  # (cells,) each cell's z-scored U; NaN for the excluded cells
    train_share: np.ndarray  # (cells,) each cell's share of the training set (its weight)
    excluded_share: float  # the training share of the cells left out (too few generated or no held-out samples)


def mann_whitney(x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Mann-Whitney's U of ``x`` against ``y`` (pairs with x > y, ties counting half) and its z-score under the null
    of one distribution, with the tie-corrected variance; z is 0 when every value ties (no evidence either way)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n_x, n_y = len(x), len(y)
    n = n_x + n_y
    values = np.concatenate([x, y])
    u = float(rankdata(values)[:n_x].sum() - n_x * (n_x + 1) / 2)
    _, ties = np.unique(values, return_counts=True)
    variance = n_x * n_y / 12 * ((n + 1) - (ties**3 - ties).sum() / (n * (n - 1)))
    return u, 0.0 if variance <= 0 else (u - n_x * n_y / 2) / math.sqrt(variance)


def default_cells(n_heldout: int, n_generated: int) -> int:
    """One cell per ``SAMPLES_PER_CELL`` of the smaller sample set, at least one (one cell: the global test)."""
    return max(1, min(n_heldout, n_generated) // SAMPLES_PER_CELL)


def copying_statistic(
    train: ArrayLike,
    heldout: ArrayLike,
    generated: ArrayLike,
    cells: int | None = None,
    min_generated: int = MIN_GENERATED,
    seed: int = 0,
) -> CopyingReport:
    """C_T of (M, D) ``generated`` samples against (N, D) ``heldout`` real samples, both measured by their distance
    to the nearest of the (L, D) ``train`` samples; ``cells``: the k of k-means (None: ``default_cells``)."""
    train, heldout, generated = _matrix("train", train), _matrix("heldout", heldout), _matrix("generated", generated)
    if not train.shape[1] == heldout.shape[1] == generated.shape[1]:
        raise ValueError(f"train, heldout and generated must share one dimension; got {train.shape[1]}, "
                         f"{heldout.shape[1]} and {generated.shape[1]}")  # fmt: skip
    cells = default_cells(len(heldout), len(generated)) if cells is None else cells
    if cells < 1 or min_generated < 1:
        raise ValueError(f"cells={cells} and min_generated={min_generated} must be >= 1")
    kmeans = KMeans(n_clusters=min(cells, len(train)), n_init=1, random_state=seed).fit(train)
    nearest = NearestNeighbors(n_neighbors=1).fit(train)
    heldout_cell, generated_cell = kmeans.predict(heldout), kmeans.predict(generated)
    heldout_distance = nearest.kneighbors(heldout)[0][:, 0]
    generated_distance = nearest.kneighbors(generated)[0][:, 0]
    share = np.bincount(kmeans.labels_, minlength=kmeans.n_clusters) / len(train)
    cell_z = np.full(kmeans.n_clusters, np.nan)
    for cell in range(kmeans.n_clusters):
        mine, theirs = generated_distance[generated_cell == cell], heldout_distance[heldout_cell == cell]
        if len(mine) >= min_generated and len(theirs) > 0:
            cell_z[cell] = mann_whitney(mine, theirs)[1]
    kept = ~np.isnan(cell_z)
    statistic = float(share[kept] @ cell_z[kept] / share[kept].sum()) if kept.any() else math.nan
    return CopyingReport(statistic, cell_z, share, float(share[~kept].sum()))


def _matrix(name: str, value: ArrayLike) -> np.ndarray:
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.ndim != 2 or len(matrix) == 0:
        raise ValueError(f"{name} must be a non-empty (N, D) array of features or points; got shape {matrix.shape}")
    return matrix


# Registered once for images and points: needs nothing beyond what every evaluation has, and reads the space the
# data's other metrics compare in (the feature network's features for images, the points themselves for point data).
# Near 0 is the goal, and the registry's direction is a bool: "higher is better" reads as "further from copying",
# the failure this test exists to catch. It is reported, not optimised: never the monitored metric.
@register("copying", {"copying": True})
def copying_metric(evaluation, samples) -> dict[str, float]:
    """Meehan et al.'s C_T against the held-out reals: near 0 is the goal, below -3 copying, above 3 under-fitting."""
    if evaluation.datamodule.kind == "points":
        spaces = evaluation.train_points, evaluation.heldout.points, samples.points
    else:
        spaces = evaluation.train_features, evaluation.heldout.features, samples.features
    train, heldout, generated = (space.detach().cpu().numpy() for space in spaces)
    return {"copying": copying_statistic(train, heldout, generated, seed=evaluation.seed).statistic}
