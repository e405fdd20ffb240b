"""Seeded missingness to measure imputers with: which cells of a table to hide, by Rubin's three mechanisms.

Each function returns ``missing``, a boolean array of the data's shape, True where a cell is hidden. The mechanisms
are those the imputation benchmarks generate (Muzellec et al. 2020's ``produce_NA`` code, reused by hyperimpute and
by Jäger et al. 2021): MCAR (``mcar``), MAR by a logistic model of columns that are never hidden (``mar``), and MNAR
by self-masking, each cell's chance of being hidden a logistic function of its own value (``mnar_self_masking``).

Cells already missing in the data (NaN) stay missing and are never hidden by a mask: the mask is False there, so a
metric that scores the hidden cells never scores a cell whose true value is unknown, and the rate counts only cells
that hold a value. ``mcar`` sees no values: pass ``known=~np.isnan(values)`` for data with holes of its own.

Every random ingredient (which columns stay observed, the weights, the uniform draws) has its own stream of the
seed, so the same seed gives the same mask whatever else changed, and the draws never shift with the weights.
"""

import math

import numpy as np

from ganforge.errors import DataError
from ganforge.rules import Rule, is_number

RATE = Rule("rate", "a number in (0, 1)", "0.2", lambda value: is_number(value) and 0 < value < 1, ("abc", "1.0"))
OBSERVED_FRACTION = Rule(
    "observed_fraction", "a number in (0, 1)", "0.3", lambda value: is_number(value) and 0 < value < 1, ("abc", "0")
)
BISECTION_STEPS = 60  # the bracket shrinks to 2^-60 of its width: below float precision of the intercept
_COLUMNS, _WEIGHTS, _DRAWS = range(3)  # the seed's independent streams


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # the logistic function, without exp's overflow for large |x|


def _stream(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, purpose])


def mcar(shape: tuple[int, ...], rate: float, seed: int, known: np.ndarray | None = None) -> np.ndarray:
    """Missing completely at random: bool ``shape``, each cell hidden independently with probability ``rate``.

    ``known`` (bool ``shape``, True where the data holds a value): cells outside it are never hidden.
    """
    RATE.require(rate)
    missing = _stream(seed, _DRAWS).random(shape) < rate
    return missing if known is None else missing & known


def always_observed(columns: int, observed_fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of the columns ``mar`` never hides: ``int(observed_fraction * columns)`` of them, at least 1 and
    at most ``columns - 1``, chosen by the seed."""
    count = min(max(1, int(observed_fraction * columns)), columns - 1)
    return np.sort(_stream(seed, _COLUMNS).choice(columns, count, replace=False))


def mar(values: np.ndarray, rate: float, seed: int, observed_fraction: float = 0.3) -> np.ndarray:
    """Missing at random: (rows, columns) values -> bool (rows, columns), hidden only in the maskable columns.

    The ``always_observed`` columns are never hidden. In every other column a cell is hidden with probability
    ``sigmoid(z @ w + b)``: ``z`` the row's always-observed values, standardized (a missing one counts as its column's
    mean), ``w`` seeded normal weights rescaled so each column's logit has unit spread, ``b`` that column's intercept,
    solved by bisection so the column's expected rate is ``rate`` (Muzellec et al.'s ``MAR_mask``). The expected rate
    among the maskable cells is therefore ``rate``; over the whole table it is ``rate`` times the maskable fraction.
    Nothing but the always-observed columns' values (and which cells are already missing) moves the mask.
    """
    RATE.require(rate)
    OBSERVED_FRACTION.require(observed_fraction)
    rows, columns = _matrix(values).shape
    if columns < 2:
        raise DataError(f"MAR needs at least 2 columns (one to explain the other), not {columns}; use mcar instead.")
    observed = always_observed(columns, observed_fraction, seed)
    maskable = np.setdiff1d(np.arange(columns), observed)
    weights = _stream(seed, _WEIGHTS).standard_normal((len(observed), len(maskable)))
    logits = _unit_spread(_standardized(values[:, observed]) @ weights)
    missing = np.zeros(values.shape, dtype=bool)
    missing[:, maskable] = _stream(seed, _DRAWS).random((rows, len(maskable))) < _calibrated(logits, rate)
    return missing & ~np.isnan(values)


def self_masking_signs(columns: int, seed: int) -> np.ndarray:
    """(columns,) of +1.0 or -1.0, chosen by the seed: whether the high (+1) or the low (-1) values of each column
    are the likelier to be hidden by ``mnar_self_masking``."""
    return _stream(seed, _WEIGHTS).choice([-1.0, 1.0], columns)


def mnar_self_masking(values: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Missing not at random, by self-masking: (rows, columns) values -> bool (rows, columns).

    A cell is hidden with probability ``sigmoid(s * z + b)``: ``z`` its own value standardized within its column,
    ``s`` the column's ``self_masking_signs``, ``b`` the column's intercept, solved by bisection so the expected rate
    among the column's known cells is ``rate``. Muzellec et al.'s ``MNAR_self_mask_logistic`` draws a normal weight
    per column and divides it by the spread of weight x value, which leaves exactly this: a random sign over the
    column's standard deviation.
    """
    RATE.require(rate)
    known = ~np.isnan(_matrix(values))
    logits = _standardized(values) * self_masking_signs(values.shape[1], seed)
    return (_stream(seed, _DRAWS).random(values.shape) < _calibrated(logits, rate, known)) & known


def apply_mask(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """A float64 copy of ``values`` with NaN where ``missing`` (bool, same shape) is True."""
    if missing.shape != values.shape or missing.dtype != bool:
        raise ValueError(
            f"the mask must be bool of the values' shape {values.shape}, not {missing.dtype} {missing.shape}"
        )
    hidden = np.array(values, dtype=np.float64)
    hidden[missing] = np.nan
    return hidden


def _matrix(values: np.ndarray) -> np.ndarray:
    if values.ndim != 2:
        raise ValueError(f"values must be a (rows, columns) table, not of shape {values.shape}")
    return values


def _standardized(values: np.ndarray) -> np.ndarray:
    """(rows, k) -> each column minus its observed mean, over its observed std (1 where constant); NaN -> 0."""
    known = ~np.isnan(values)
    count = np.maximum(known.sum(axis=0), 1)  # counted by hand: nanmean warns on a column without values
    mean = np.where(known, values, 0.0).sum(axis=0) / count
    centred = np.where(known, values - mean, 0.0)
    std = np.sqrt((centred**2).sum(axis=0) / count)
    return centred / np.where(std > 0, std, 1.0)


def _unit_spread(logits: np.ndarray) -> np.ndarray:
    std = logits.std(axis=0)
    return logits / np.where(std > 0, std, 1.0)


def _calibrated(logits: np.ndarray, rate: float, counted: np.ndarray | None = None) -> np.ndarray:
    """(rows, k) logits -> probabilities ``sigmoid(logits + b)``, one intercept ``b`` per column such that the mean
    probability over the column's ``counted`` cells (default: all) is ``rate``.

    The mean is increasing in ``b``, and ``logit(rate) -/+ max|logits|`` puts every probability below/above ``rate``,
    so that bracket holds the solution and bisection finds it.
    """
    counted = np.ones(logits.shape, dtype=bool) if counted is None else counted
    count = np.maximum(counted.sum(axis=0), 1)
    centre, reach = math.log(rate / (1 - rate)), np.abs(logits).max() + 1.0
    low = np.full(logits.shape[1], centre - reach)
    high = np.full(logits.shape[1], centre + reach)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        too_many = (_sigmoid(logits + middle) * counted).sum(axis=0) / count > rate
        high, low = np.where(too_many, middle, high), np.where(too_many, low, middle)
    return _sigmoid(logits + (low + high) / 2)
