"""Numeric tables with holes: read from and written to CSV, NaN marking a missing cell.

A CSV here has one header row of column names, then one row per sample, every cell a number or missing. Missing
cells may be written as empty, ``NaN``, ``NA``, ``N/A`` or ``?`` (any case, surrounding spaces ignored): the
spellings of R, pandas, spreadsheets and the UCI files GAIN uses. Blank lines are skipped. Anything else that is not
a finite number is refused with the column, the line and the text, rather than read as a hole: a typo must not
become a cell the imputer silently fills.

pandas is not a dependency of ganforge, so the reader is the csv module plus numpy.
"""

import csv
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from ganforge.errors import DataError

MISSING_SPELLINGS = ("", "nan", "na", "n/a", "?")  # compared after strip() and lower()
SPELLINGS_SHOWN = "empty, NaN, NA, N/A, ?"


@dataclass(frozen=True, eq=False)
class Table:
    """Named numeric columns: ``values`` (rows, len(columns)) float64, NaN where a cell is missing; read-only.

    ``source`` says where the table came from (a path, or the loader that built it), for messages.
    """

    columns: tuple[str, ...]
    values: np.ndarray
    source: str

    def __post_init__(self) -> None:
        values = np.array(self.values, dtype=np.float64)  # a copy: the caller's array stays theirs
        if values.ndim != 2 or values.shape[1] != len(self.columns):
            raise ValueError(f"values of shape {values.shape} do not fit {len(self.columns)} columns")
        values.flags.writeable = False
        object.__setattr__(self, "values", values)


def read_table(path: str | Path) -> Table:
    """A CSV with a header row and numeric columns -> Table (rows, columns), NaN where a cell is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist (or is not a file); check the path, e.g. data.path=<file.csv>.")
    # utf-8-sig: spreadsheets write a byte-order mark that would otherwise stick to the first column's name
    with path.open(newline="", encoding="utf-8-sig") as file:
        try:
            lines = _numbered_rows(file)
            header = next(lines, None)
            if header is None:
                raise DataError(f"{path} is empty; give a CSV whose first line names the columns, one row per sample.")
            columns = _column_names(path, header[1])
            rows = [_parse_row(path, columns, line, cells) for line, cells in lines]
        except (csv.Error, UnicodeDecodeError) as error:
            raise DataError(f"{path} is not a readable UTF-8 CSV ({error}); save it as CSV text and retry.") from None
    if not rows:
        raise DataError(f"{path} has a header but no rows; give a CSV with at least one row of values.")
    values = np.array(rows, dtype=np.float64)
    _refuse_empty_columns(path, columns, values)
    return Table(columns, values, str(path))


def _numbered_rows(file: TextIO) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each row that is not blank; a quoted cell may span lines: the row's last line."""
    reader = csv.reader(file)
    for cells in reader:
        if cells:
            yield reader.line_num, cells


def _column_names(path: Path, header: list[str]) -> tuple[str, ...]:
    columns = tuple(name.strip() for name in header)
    if "" in columns:
        raise DataError(
            f"{path}: column {columns.index('') + 1} of the header has no name; name every column in the first line."
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: the header names {_quoted(repeated)} more than once; give each column its own name.")
    return columns


def _parse_row(path: Path, columns: tuple[str, ...], line: int, cells: list[str]) -> list[float]:
    if len(cells) != len(columns):
        raise DataError(
            f"{path}: line {line} has {len(cells)} cells but the header names {len(columns)} columns; "
            "give every row one cell per column (an empty cell for a missing value)."
        )
    return [_parse_cell(path, column, line, cell) for column, cell in zip(columns, cells, strict=True)]


def _parse_cell(path: Path, column: str, line: int, cell: str) -> float:
    text = cell.strip()
    if text.lower() in MISSING_SPELLINGS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # float() also accepts 'inf' and 'infinity', which no scaling survives
        raise DataError(
            f"{path}: column {column!r} on line {line} holds {text!r}, not a finite number or a missing-value "
            f"spelling ({SPELLINGS_SHOWN}); correct the cell, or drop the column if it is not numeric."
        )
    return value


def _refuse_empty_columns(path: Path, columns: tuple[str, ...], values: np.ndarray) -> None:
    empty = [name for name, missing in zip(columns, np.isnan(values).all(axis=0), strict=True) if missing]
    if empty:
        raise DataError(
            f"{path}: column {_quoted(empty)} is missing in every row, so nothing can be learned to fill it; "
            f"drop {'that column' if len(empty) == 1 else 'those columns'} from the file."
        )


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def check_same_columns(expected: Sequence[str], table: Table) -> None:
    """Refuse ``table`` unless its columns are ``expected``, in that order (a CSV to fill with a trained run)."""
    expected = tuple(expected)
    if table.columns == expected:
        return
    missing = [name for name in expected if name not in table.columns]
    extra = [name for name in table.columns if name not in expected]
    if missing or extra:
        problem = "; ".join(
            f"{what} {_quoted(names)}" for what, names in (("missing", missing), ("extra", extra)) if names
        )
    else:
        at = next(i for i, (have, want) in enumerate(zip(table.columns, expected, strict=True)) if have != want)
        problem = f"same columns, another order: column {at + 1} is {table.columns[at]!r}, not {expected[at]!r}"
    raise DataError(
        f"{table.source} does not hold the {len(expected)} columns the run was trained on ({problem}); "
        "give a CSV with exactly the run's columns, in the run's order."
    )


def breast_table() -> Table:
    """scikit-learn's Wisconsin breast cancer features: 569 rows x 30 columns, complete (the label is left out)."""
    from sklearn.datasets import load_breast_cancer  # bundled with scikit-learn: no download

    data = load_breast_cancer()
    return Table(tuple(str(name) for name in data.feature_names), data.data, "sklearn.datasets.load_breast_cancer")


def write_table(
    data: Table | np.ndarray, columns: Sequence[str] | None, path: str | Path, overwrite: bool = False
) -> Path:
    """Write (rows, columns) values as CSV, a missing cell as empty; ``columns`` None: the Table's own.

    Refuses an existing file unless ``overwrite``. The file appears complete or not at all (a temporary file in the
    same folder, renamed into place), so an interrupted write never leaves half a table behind.
    """
    values = data.values if isinstance(data, Table) else np.asarray(data, dtype=np.float64)
    if columns is None:
        if not isinstance(data, Table):
            raise ValueError("write_table needs the column names to write a bare array")
        columns = data.columns
    if values.ndim != 2 or values.shape[1] != len(columns):
        raise ValueError(f"values of shape {values.shape} do not fit {len(columns)} columns")
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(f"{path} already exists; choose another output path, or pass overwrite=true to replace it.")
    if not path.parent.is_dir():
        raise DataError(f"the folder {path.parent} does not exist; create it, or choose an output path in a folder.")
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(columns)
            writer.writerows(_cells(values))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _cells(values: np.ndarray) -> Iterator[list[str]]:
    # repr of a Python float is the shortest text that reads back to the same float: exact and short
    for row in values.tolist():
        yield ["" if math.isnan(value) else repr(value) for value in row]
