"""How far an imputation is from the truth on the cells that were hidden, in GAIN's units.

GAIN's ``rmse_loss(ori_data, imputed_data, data_m)`` min-max scales both tables with the ground truth's per-column
minimum and maximum, then pools every hidden cell of every column:
``sqrt(sum(((1 - M) * (x - x_hat)) ** 2) / sum(1 - M))`` with M = 1 where observed. ``rmse`` is that figure (with an
exact range, see ``ganforge.data.scaling``), ``mae`` the same cells' mean absolute error. A hidden cell whose true
value is unknown (NaN in ``truth``) is not scored: a table with holes of its own is measured on the cells a mask hid.
"""

import numpy as np

from ganforge.data.scaling import fit_observed
from ganforge.errors import DataError


def scaled_errors(truth: np.ndarray, imputed: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """(k,) errors ``imputed - truth`` of the k scored cells: hidden (``missing``) and known in ``truth``, both tables
    (rows, columns) min-max scaled by the truth's observed cells, so each error lies in [-1, 1] when the imputed value
    lies within the truth's column range."""
    if not truth.shape == imputed.shape == missing.shape:
        raise ValueError(f"truth {truth.shape}, imputed {imputed.shape} and missing {missing.shape} must be one shape")
    scored = missing & ~np.isnan(truth)
    if not scored.any():
        raise DataError("no hidden cell has a known true value to score; hide some observed cells (a mask) first.")
    if np.isnan(imputed[scored]).any():
        raise DataError(
            f"the imputation left {int(np.isnan(imputed[scored]).sum())} hidden cells empty; fill every hidden cell."
        )
    scaling = fit_observed(truth)
    return (scaling.scale(imputed) - scaling.scale(truth))[scored]


def rmse(truth: np.ndarray, imputed: np.ndarray, missing: np.ndarray) -> float:
    """Root mean squared error over the hidden cells, pooled across columns, on min-max scaled data (GAIN's RMSE)."""
    return float(np.sqrt(np.mean(scaled_errors(truth, imputed, missing) ** 2)))


def mae(truth: np.ndarray, imputed: np.ndarray, missing: np.ndarray) -> float:
    """Mean absolute error over the hidden cells, pooled across columns, on min-max scaled data."""
    return float(np.mean(np.abs(scaled_errors(truth, imputed, missing))))
