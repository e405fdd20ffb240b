"""The imputation benchmark's non-GAN arms, all from scikit-learn: mean, kNN, MICE-like and MissForest-like.

Each arm is a function ``(seed, **settings) -> imputer`` in ``IMPUTERS``; ``impute`` runs one on a table with holes.
The arms see the table as given: pass it min-max scaled (``ganforge.data.scaling``), as GAIN sees it, so kNN's
distances weigh every column alike.
"""

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401 (makes IterativeImputer importable)
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import BayesianRidge

from ganforge.errors import DataError

ROUNDS = 10  # chained-equation rounds of MICE and MissForest (missForest's maxiter default)
MISSFOREST_TREES = 100  # missForest's ntree default


def mean(seed: int) -> SimpleImputer:
    """Each hole gets its column's observed mean (the seed is unused: nothing is random)."""
    return SimpleImputer(strategy="mean")


def knn(seed: int, neighbours: int = 5) -> KNNImputer:
    """Each hole gets the mean of that column over the row's ``neighbours`` nearest rows (Euclidean distance over
    the columns both rows hold, scaled up for the ones missing; the seed is unused)."""
    return KNNImputer(n_neighbors=neighbours)


def mice(seed: int) -> IterativeImputer:
    """MICE-like: each column in turn regressed on the others by Bayesian ridge, ``ROUNDS`` rounds from the column
    means; the posterior mean, not a draw (one imputation, not multiple)."""
    return IterativeImputer(estimator=BayesianRidge(), max_iter=ROUNDS, sample_posterior=False, random_state=seed)


def missforest(seed: int, trees: int = MISSFOREST_TREES, n_jobs: int = 1) -> IterativeImputer:
    """MissForest-like (Stekhoven & Bühlmann 2012): each column in turn, fewest holes first, predicted by a random
    forest of ``trees`` trees on the others, sqrt(columns) candidates per split, up to ``ROUNDS`` rounds from the
    column means, as R's ``missForest(ntree=100, mtry=floor(sqrt(p)), maxiter=10)``.

    An approximation: it stops when no imputed value moves by more than 1e-3 of the table's largest value
    (scikit-learn's rule) rather than when the imputation first changes more than the round before (missForest's),
    and its trees grow to one sample per leaf where R's randomForest stops at five for a regression. ``n_jobs=1``:
    one core, so the results suite's CPU-minutes per run are its wall-clock minutes; the forest's result is the same
    for any ``n_jobs`` (each tree's randomness comes from the seed).
    """
    forest = RandomForestRegressor(n_estimators=trees, max_features="sqrt", n_jobs=n_jobs, random_state=seed)
    return IterativeImputer(
        estimator=forest, max_iter=ROUNDS, initial_strategy="mean", imputation_order="ascending", random_state=seed
    )


IMPUTERS: dict[str, Callable[..., Any]] = {"mean": mean, "knn": knn, "mice": mice, "missforest": missforest}


def impute(name: str, values: np.ndarray, seed: int, **settings: Any) -> np.ndarray:
    """(rows, columns) with NaN holes -> (rows, columns) float64, every hole filled by the arm ``name`` of
    ``IMPUTERS`` and every observed cell unchanged; ``settings`` go to the arm (e.g. ``trees=10``)."""
    if name not in IMPUTERS:
        raise ValueError(f"unknown imputer {name!r}; choose one of {', '.join(IMPUTERS)}")
    values = np.asarray(values, dtype=np.float64)
    empty = np.flatnonzero(np.isnan(values).all(axis=0))
    if empty.size:  # scikit-learn's imputers would drop such a column and return a narrower table
        raise DataError(
            f"column {', '.join(map(str, empty))} (counting from 0) has no observed cell, so nothing can fill it; "
            "drop the column, or hide fewer of its cells."
        )
    with warnings.catch_warnings():
        # A fixed budget of rounds, as missForest's maxiter: stopping at it is the design, not a failure to report.
        warnings.filterwarnings("ignore", category=ConvergenceWarning, message=r"\[IterativeImputer\] Early stopping")
        filled = IMPUTERS[name](seed, **settings).fit_transform(values)
    holes = np.isnan(values)
    return np.where(holes, filled, values)
