"""One validation layer for user-set config values, run before any data is read or any weight is built.

Hydra already rejects unknown keys (the configs are in struct mode); this checks the values of known keys.
Every rule names its key, what is allowed and an example override, so a message says how to fix the run.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from ganforge.errors import ConfigError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda value: _is_int(value) and value >= low


def _positive_number(value: Any) -> bool:
    return _is_number(value) and value > 0


def _non_negative_number(value: Any) -> bool:
    return _is_number(value) and value >= 0


def _adam_betas(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple, ListConfig))
        and len(value) == 2
        and all(_is_number(b) and 0 <= b < 1 for b in value)
    )


def _epochs(value: Any) -> bool:
    return _is_int(value) and (value >= 1 or value == -1)


@dataclass(frozen=True)
class Rule:
    key: str
    allowed: str
    example: str
    check: Callable[[Any], bool]


RULES: tuple[Rule, ...] = (
    Rule("seed", "an integer", "0", _is_int),
    Rule("optim.lr_g", "a finite number > 0", "2e-4", _positive_number),
    Rule("optim.lr_d", "a finite number > 0", "2e-4", _positive_number),
    Rule("optim.betas", "two numbers in [0, 1)", "[0.5,0.999]", _adam_betas),
    Rule("data.batch_size", "an integer >= 1", "128", _int_at_least(1)),
    Rule("data.image_size", "an integer >= 8", "28", _int_at_least(8)),
    Rule("data.num_workers", "an integer >= 0", "0", _int_at_least(0)),
    Rule("model.latent_dim", "an integer >= 1", "100", _int_at_least(1)),
    Rule("model.hidden_dim", "an integer >= 1", "128", _int_at_least(1)),
    Rule("model.num_layers", "an integer >= 1", "2", _int_at_least(1)),
    Rule("model.negative_slope", "a finite number >= 0", "0.2", _non_negative_number),
    Rule("trainer.max_epochs", "an integer >= 1, or -1 for no limit", "25", _epochs),
    Rule("trainer.log_every_n_steps", "an integer >= 1", "10", _int_at_least(1)),
    Rule("callbacks.sample_grid.num_samples", "an integer >= 1", "64", _int_at_least(1)),
    Rule("callbacks.sample_grid.every_n_epochs", "an integer >= 1", "1", _int_at_least(1)),
    Rule(
        "callbacks.periodic_checkpoint.every_n_epochs",
        "an integer >= 2 (last.ckpt is already written every epoch)",
        "10",
        _int_at_least(2),
    ),
)

_ABSENT = object()


def validate(cfg: DictConfig, rules: tuple[Rule, ...] = RULES) -> None:
    """Raise ConfigError listing every rule the config breaks; keys a config does not have are skipped."""
    problems = []
    for rule in rules:
        value = OmegaConf.select(cfg, rule.key, default=_ABSENT)
        if value is not _ABSENT and not rule.check(value):
            problems.append(
                f"{rule.key}={value!r} is invalid: it must be {rule.allowed} (for example {rule.key}={rule.example})."
            )
    if problems:
        raise ConfigError("Invalid configuration, nothing was run:\n  " + "\n  ".join(problems))
