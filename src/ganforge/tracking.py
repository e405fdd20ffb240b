"""Hyperparameters in TensorBoard's HParams tab, so runs compare side by side."""

from collections.abc import Iterable, Mapping
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.tensorboard.summary import hparams as hparams_summaries


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """{"model": {"hidden_dim": 128}} -> {"model/hidden_dim": 128}; lists and None become strings."""
    flat: dict[str, bool | int | float | str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}/"))
        else:
            flat[name] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return flat


@rank_zero_only
def log_hyperparameters(loggers: Iterable[Logger], params: Mapping[str, Any], metric_names: Iterable[str]) -> None:
    """Record ``params`` with every logger; in TensorBoard, pair them with ``metric_names``.

    Lightning's TensorBoardLogger writes the HParams session only together with metric *values*, which would
    put a made-up point on each curve. The HParams tab only needs the metric *names*: it reads their values
    from the run's own scalars, so we write the session summaries ourselves with names alone.
    """
    flat = flatten(params)
    for logger in loggers:
        logger.log_hyperparams(params)
        if isinstance(logger, TensorBoardLogger):
            writer = logger.experiment._get_file_writer()
            for summary in hparams_summaries(flat, dict.fromkeys(metric_names, 0.0)):
                writer.add_summary(summary)
