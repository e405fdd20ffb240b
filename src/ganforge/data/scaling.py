"""Per-column min-max scaling to [0, 1], fitted on the observed cells only: how GAIN normalises a table.

GAIN's ``normalization`` divides by ``max - min + 1e-6``; here the range is exact (a constant column gets range 1),
which moves a scaled value by a relative 1e-6 / range: below 1e-4 for every column of breast, spam and letter.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import MinMaxScaler

from ganforge.errors import DataError


@dataclass(frozen=True, eq=False)
class Scaling:
    """Per-column ``minimum`` and ``range`` (columns,): ``scale`` maps the fitted cells into [0, 1]. Plain arrays, so
    a run can store them beside its outputs."""

    minimum: np.ndarray
    range: np.ndarray

    def scale(self, values: np.ndarray) -> np.ndarray:
        """(rows, columns) original units -> (rows, columns) in [0, 1] on the fitted cells; NaN stays NaN."""
        return (np.asarray(values, dtype=np.float64) - self.minimum) / self.range

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        """(rows, columns) scaled -> original units: ``unscale(scale(x)) == x`` up to float rounding; NaN stays NaN."""
        return np.asarray(scaled, dtype=np.float64) * self.range + self.minimum


def fit_observed(values: np.ndarray) -> Scaling:
    """The min-max ``Scaling`` of (rows, columns) ``values``, each column's minimum and maximum over its non-NaN
    cells only; a constant column gets range 1 (it scales to 0)."""
    values = np.asarray(values, dtype=np.float64)
    empty = np.flatnonzero(np.isnan(values).all(axis=0))
    if empty.size:  # MinMaxScaler would warn and leave a NaN range that turns the whole column into NaN
        raise DataError(
            f"column {', '.join(map(str, empty))} (counting from 0) has no observed cell to fit the scaling on; "
            "drop the column, or give it at least one value."
        )
    # scikit-learn's MinMaxScaler ignores NaN when fitting (nanmin / nanmax) and gives a zero range 1, which is the
    # rule here; its minimum and range are kept as arrays rather than the scaler, so a run can store them as JSON.
    scaler = MinMaxScaler().fit(values)
    return Scaling(minimum=scaler.data_min_, range=np.where(scaler.data_range_ > 0, scaler.data_range_, 1.0))
