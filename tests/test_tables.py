"""Tables with holes: the CSV reader and writer, seeded masks, min-max scaling, GAIN's RMSE and the non-GAN arms."""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ganforge.data.masks import (
    always_observed,
    apply_mask,
    mar,
    mcar,
    mnar_self_masking,
    self_masking_signs,
)
from ganforge.data.scaling import fit_observed
from ganforge.data.table import Table, breast_table, check_same_columns, read_table, write_table
from ganforge.errors import DataError
from ganforge.lab.imputers import IMPUTERS, impute
from ganforge.metrics.imputation import mae, rmse


def csv_file(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(call: Callable[..., Any], *args: Any) -> str:
    """The message of the DataError that ``call(*args)`` raises, checked to be a single line."""
    with pytest.raises(DataError) as caught:
        call(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message


def four_sigma(rate: float, cells: int) -> float:
    return 4 * math.sqrt(rate * (1 - rate) / cells)


# --- reading and writing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["", "NaN", "nan", "NAN", "NA", "na", "N/A", "n/a", "?", "  ", " NA ", "\t?"])
def test_each_missing_value_spelling_reads_as_nan(tmp_path: Path, spelling: str) -> None:
    table = read_table(csv_file(tmp_path, f"a,b\n1.5,{spelling}\n-2,3e2\n"))
    assert table.columns == ("a", "b")
    np.testing.assert_array_equal(table.values, [[1.5, np.nan], [-2.0, 300.0]])


def test_the_reader_strips_names_and_skips_a_byte_order_mark_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffage , height\n\n1,2\n\n3,4\n".encode())
    table = read_table(path)
    assert table.columns == ("age", "height")
    np.testing.assert_array_equal(table.values, [[1, 2], [3, 4]])
    assert table.source == str(path)
    assert not table.values.flags.writeable


def test_a_written_table_reads_back_exactly_with_its_holes(tmp_path: Path) -> None:
    values = np.random.default_rng(0).normal(size=(6, 3)) * 1e3
    values[1, 2] = values[4, 0] = np.nan
    path = write_table(values, ("x", "y", "z"), tmp_path / "out.csv")
    assert path.read_text().splitlines()[2].endswith(",")  # a hole is an empty cell
    again = read_table(path)
    assert again.columns == ("x", "y", "z")
    np.testing.assert_array_equal(again.values, values)  # bitwise, NaN in the same places
    write_table(again, None, tmp_path / "copy.csv")
    np.testing.assert_array_equal(read_table(tmp_path / "copy.csv").values, values)


def test_writing_refuses_an_existing_file_and_leaves_it_untouched(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "keep me\n", "out.csv")
    message = one_line_error(write_table, np.zeros((2, 1)), ("a",), path)
    assert str(path) in message and "overwrite=true" in message
    assert path.read_text() == "keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary file left behind
    write_table(np.ones((1, 1)), ("a",), path, overwrite=True)
    np.testing.assert_array_equal(read_table(path).values, [[1.0]])


def test_a_non_numeric_cell_is_named_by_column_line_and_text(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "id,age\n1,30\n2,31\n3,abc\n")
    message = one_line_error(read_table, path)
    assert "column 'age' on line 4 holds 'abc'" in message
    assert "NA, N/A, ?" in message


def test_an_infinite_value_is_refused_not_read(tmp_path: Path) -> None:
    assert "holds 'inf'" in one_line_error(read_table, csv_file(tmp_path, "a\n1\ninf\n"))


def test_a_column_missing_in_every_row_is_named_with_the_fix(tmp_path: Path) -> None:
    message = one_line_error(read_table, csv_file(tmp_path, "a,gone,b\n1,,2\n3,NA,4\n"))
    assert "column 'gone' is missing in every row" in message and "drop that column" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("a,b\n", "no rows"),
        ("a,b,a\n1,2,3\n", "names 'a' more than once"),
        ("a,,b\n1,2,3\n", "column 2 of the header has no name"),
        ("a,b\n1,2\n3,4,5\n", "line 3 has 3 cells but the header names 2 columns"),
    ],
    ids=["empty", "header-only", "duplicate-names", "unnamed-column", "wrong-cell-count"],
)
def test_a_malformed_file_is_refused_in_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in one_line_error(read_table, csv_file(tmp_path, text))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    assert str(path) in one_line_error(read_table, path)


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (("a", "b"), "missing 'c'"),
        (("a", "b", "c", "d"), "extra 'd'"),
        (("a", "x", "c"), "missing 'b'; extra 'x'"),
        (("a", "c", "b"), "column 2 is 'c', not 'b'"),
    ],
    ids=["missing", "extra", "renamed", "reordered"],
)
def test_a_table_without_the_runs_columns_is_refused(columns: tuple[str, ...], expected: str) -> None:
    table = Table(columns, np.zeros((1, len(columns))), "input.csv")
    message = one_line_error(check_same_columns, ("a", "b", "c"), table)
    assert expected in message and message.startswith("input.csv")
    check_same_columns(columns, table)  # its own columns pass


def test_the_breast_preset_is_sklearns_569_by_30_features() -> None:
    table = breast_table()
    assert table.values.shape == (569, 30) and len(table.columns) == 30
    assert table.columns[0] == "mean radius" and not np.isnan(table.values).any()


# --- masks ----------------------------------------------------------------------------------------------------------


def correlated(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """(rows, columns) columns that share one latent factor, on different scales."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 1))
    return (latent + 0.3 * rng.normal(size=(rows, columns))) * np.arange(1, columns + 1) + 10


def test_mcar_hides_the_asked_rate_reproducibly_and_never_a_cell_already_missing() -> None:
    missing = mcar((200, 50), 0.2, seed=3)
    assert missing.shape == (200, 50) and missing.dtype == bool
    assert abs(missing.mean() - 0.2) < four_sigma(0.2, missing.size)
    np.testing.assert_array_equal(missing, mcar((200, 50), 0.2, seed=3))
    assert (missing != mcar((200, 50), 0.2, seed=4)).any()
    known = np.random.default_rng(0).random((200, 50)) > 0.5
    np.testing.assert_array_equal(mcar((200, 50), 0.2, seed=3, known=known), missing & known)


def test_mar_never_hides_the_always_observed_columns_and_hides_the_rate_among_the_others() -> None:
    values = correlated(200, 50)
    missing = mar(values, 0.3, seed=1)
    observed = always_observed(50, 0.3, seed=1)
    assert len(observed) == 15
    assert not missing[:, observed].any()
    maskable = np.delete(missing, observed, axis=1)
    assert maskable.any(axis=0).all()
    assert abs(maskable.mean() - 0.3) < four_sigma(0.3, maskable.size)


def test_mar_depends_only_on_the_always_observed_columns() -> None:
    values = correlated(200, 10)
    missing = mar(values, 0.3, seed=2)
    observed = always_observed(10, 0.3, seed=2)
    other = np.setdiff1d(np.arange(10), observed)
    changed = values.copy()
    changed[:, other] = np.random.default_rng(9).permutation(values[:, other]) * -5.0
    np.testing.assert_array_equal(mar(changed, 0.3, seed=2), missing)
    moved = values.copy()
    moved[:, observed] = np.random.default_rng(9).permutation(values[:, observed])
    assert (mar(moved, 0.3, seed=2) != missing).any()  # the observed columns do move it: this is not MCAR


def test_mar_leaves_cells_already_missing_out_of_the_mask() -> None:
    values = correlated(100, 6)
    values[::7, :] = np.nan
    missing = mar(values, 0.5, seed=0)
    assert not missing[::7, :].any() and missing.any()


def test_self_masking_hides_high_values_where_its_sign_is_positive_and_low_ones_where_negative() -> None:
    values = correlated(400, 20)
    values[::10, 0] = np.nan
    missing = mnar_self_masking(values, 0.2, seed=5)
    known = ~np.isnan(values)
    assert not (missing & ~known).any()
    assert abs(missing.sum() / known.sum() - 0.2) < four_sigma(0.2, int(known.sum()))
    signs = self_masking_signs(20, seed=5)
    assert {-1.0, 1.0} <= set(signs)  # both directions are exercised
    standardized = (values - np.nanmean(values, axis=0)) / np.nanstd(values, axis=0)
    for sign in (-1.0, 1.0):
        z = standardized[:, signs == sign]
        hidden, kept = z[missing[:, signs == sign]], z[~missing[:, signs == sign] & known[:, signs == sign]]
        assert sign * (hidden.mean() - kept.mean()) > 0.5


@pytest.mark.parametrize("mask", [mar, mnar_self_masking], ids=["mar", "mnar"])
def test_a_mask_refuses_a_rate_outside_0_1(mask: Callable[..., np.ndarray]) -> None:
    with pytest.raises(ValueError, match=r"rate=1\.0 is invalid"):
        mask(correlated(10, 3), 1.0, 0)


def test_apply_mask_hides_exactly_the_masked_cells_in_a_copy() -> None:
    values = np.arange(6.0).reshape(2, 3)
    hidden = apply_mask(values, np.array([[True, False, False], [False, False, True]]))
    np.testing.assert_array_equal(hidden, [[np.nan, 1, 2], [3, 4, np.nan]])
    assert not np.isnan(values).any()


# --- scaling and metrics ------------------------------------------------------------------------------------------


def test_scaling_is_fitted_on_observed_cells_only_and_round_trips() -> None:
    values = np.array([[1.0, np.nan, 7.0], [3.0, -2.0, 7.0], [np.nan, 6.0, 7.0], [2.0, 0.0, 7.0]])
    scaling = fit_observed(values)
    np.testing.assert_array_equal(scaling.minimum, [1.0, -2.0, 7.0])
    np.testing.assert_array_equal(scaling.range, [2.0, 8.0, 1.0])  # a constant column gets range 1
    scaled = scaling.scale(values)
    np.testing.assert_array_equal(np.isnan(scaled), np.isnan(values))
    np.testing.assert_allclose(scaled[:, :2], [[0, np.nan], [1, 0], [np.nan, 1], [0.5, 0.25]])
    np.testing.assert_array_equal(scaled[:, 2], 0.0)
    wide = correlated(50, 4) * 1e4
    wide[::3, 1] = np.nan
    np.testing.assert_allclose(fit_observed(wide).unscale(fit_observed(wide).scale(wide)), wide, rtol=1e-14)


def test_scaling_refuses_a_column_without_observed_cells() -> None:
    assert "column 1 (counting from 0)" in one_line_error(fit_observed, np.array([[1.0, np.nan], [2.0, np.nan]]))


def test_rmse_and_mae_on_a_hand_computed_table() -> None:
    truth = np.array([[0.0, 10.0], [2.0, 30.0]])  # scaled by the truth: [[0, 0], [1, 1]]
    imputed = np.array([[1.0, 999.0], [2.0, 10.0]])  # hidden cells scale to 0.5 and 0; 999 is an observed cell
    missing = np.array([[True, False], [False, True]])
    # errors 0.5 and 1: RMSE sqrt((0.25 + 1) / 2), MAE (0.5 + 1) / 2
    assert rmse(truth, imputed, missing) == pytest.approx(math.sqrt(0.625))
    assert mae(truth, imputed, missing) == pytest.approx(0.75)
    assert rmse(truth, truth, missing) == 0.0


def test_a_hidden_cell_with_unknown_truth_is_not_scored_and_an_unfilled_one_is_refused() -> None:
    truth = np.array([[0.0, 10.0], [2.0, 30.0], [np.nan, 20.0]])
    imputed = np.array([[1.0, 10.0], [2.0, 30.0], [1e6, 20.0]])
    missing = np.array([[True, False], [False, False], [True, False]])
    assert mae(truth, imputed, missing) == pytest.approx(0.5)  # the unknown cell's 1e6 counts for nothing
    imputed[0, 0] = np.nan
    assert "left 1 hidden cells empty" in one_line_error(rmse, truth, imputed, missing)


# --- the non-GAN arms ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(IMPUTERS))
def test_each_imputer_fills_every_hole_and_keeps_every_observed_cell(name: str) -> None:
    truth = correlated(40, 4)
    missing = mcar(truth.shape, 0.2, seed=0)
    holes = apply_mask(truth, missing)
    settings = {"trees": 5} if name == "missforest" else {}
    filled = impute(name, holes, seed=0, **settings)
    assert filled.shape == truth.shape and not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~missing], truth[~missing])
    np.testing.assert_array_equal(impute(name, holes, seed=0, **settings), filled)  # seeded: the same fill
    if name != "mean":  # the columns share a factor: every model that uses the other columns beats the column mean
        assert rmse(truth, filled, missing) < 0.7 * rmse(truth, impute("mean", holes, seed=0), missing)


def test_an_unknown_imputer_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match="choose one of mean, knn, mice, missforest"):
        impute("gain", np.zeros((2, 2)), seed=0)
