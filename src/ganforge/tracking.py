"""Hyperparameters in TensorBoard's HParams tab, so runs compare side by side.

The tab shows what a person sets, not the plumbing that builds it: the option chosen for each config group
(``model=mlp``, ``loss=hinge``) and the values of the groups that define the GAN and its data, leaving out
``_target_``/``_convert_``/``_partial_`` keys, values that only repeat another one (interpolations), paths, and the
groups that say how a run is logged, checkpointed or evaluated.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from ganforge.rules import Rule, folder, is_text, list_of

RULES = (
    Rule("compare_metrics", "a list of metric names", "[train/d_loss]", list_of(is_text, 0), ("train/d_loss", "['']")),
)

# The groups whose values define a run's GAN and data; the top-level keys outside groups that do too.
DEFINING_GROUPS = ("module", "model", "loss", "regularizer", "augment", "optim", "data", "ema")
DEFINING_KEYS = ("seed", "speedups", "steps")
# Of the trainer's settings, those that change what is trained (the rest say how it is run or logged).
TRAINER_KEYS = ("max_epochs", "precision", "accelerator", "devices", "num_nodes")
# Keys that are not hyperparameters even inside a defining group: where files are, how samples are drawn.
PLUMBING = frozenset({"name", "root", "path", "download", "num_workers", "metrics", "preview", "cache_limit_mb"})
# Hydra's record of the chosen options, of the groups a person picks.
CHOICE_GROUPS = (*(g for g in DEFINING_GROUPS if g != "ema"), "trainer", "metrics", "experiment", "hparams_search")


def hyperparameters(cfg: DictConfig, choices: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The HParams tab's columns for a composed config: ``choice/<group>`` and the user-facing values."""
    if choices is None:
        choices = _hydra_choices()
    params: dict[str, Any] = {f"choice/{g}": choices[g] for g in CHOICE_GROUPS if choices.get(g) is not None}
    for key in DEFINING_KEYS:
        if key in cfg:
            params[key] = cfg[key]
    for group in DEFINING_GROUPS:
        if isinstance(cfg.get(group), DictConfig):
            params |= _values(cfg[group], group)
    trainer = cfg.get("trainer") or {}
    params |= {f"trainer/{key}": trainer[key] for key in TRAINER_KEYS if key in trainer}
    return params


def _values(node: DictConfig, prefix: str) -> dict[str, Any]:
    """The leaves of ``node`` a person sets: no ``_*_`` keys, no interpolations, no plumbing."""
    found: dict[str, Any] = {}
    for key in node.keys():  # noqa: SIM118 (iterating a DictConfig resolves values; keys() does not)
        if str(key).startswith("_") or key in PLUMBING or OmegaConf.is_interpolation(node, key):
            continue
        value = node._get_node(key)._value() if OmegaConf.is_missing(node, key) else node[key]
        if isinstance(value, DictConfig):
            found |= _values(value, f"{prefix}/{key}")
        else:
            found[f"{prefix}/{key}"] = list(value) if isinstance(value, ListConfig) else value
    return found


def _hydra_choices() -> Mapping[str, Any]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.choices
    except ValueError:  # composed outside a Hydra app (tests, notebooks): no record of the choices
        return {}


def tensorboard_logger(save_dir: str) -> TensorBoardLogger:
    """Events in ``<save_dir>/tensorboard/`` (no version sub-folder: a run dir holds one run); no ``hp_metric``
    placeholder (``log_hyperparameters`` pairs the HParams tab with the real metrics)."""
    return TensorBoardLogger(save_dir=save_dir, name="tensorboard", version="", default_hp_metric=False)


tensorboard_logger.rules = (folder("save_dir"),)  # type: ignore[attr-defined]


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
