"""One validation layer: user-set config values (before anything is built) and the combinations of the
built networks with the data and the other settings (before any data is read).

Hydra already rejects unknown keys (the configs are in struct mode); this checks the values of known keys.
Every rule names its key, what is allowed and an example override, so a message says how to fix the run.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

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


def _one_of(*allowed: Any) -> Callable[[Any], bool]:
    return lambda value: any(value == a and type(value) is type(a) for a in allowed)


def _fraction(value: Any) -> bool:
    return _is_number(value) and 0 <= value < 1


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


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
    Rule("optim.d_steps", "an integer >= 1", "1", _int_at_least(1)),
    Rule("optim.fused", "true or false", "false", _one_of(True, False)),
    Rule(
        "trainer.precision",
        "32-true, bf16-mixed, 16-mixed, bf16-true or 64-true",
        "bf16-mixed",
        _one_of("32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true"),
    ),
    Rule("ema.decay", "null (off) or a number in [0, 1)", "0.999", lambda v: v is None or _fraction(v)),
    Rule("ema.warmup", "true or false", "true", _one_of(True, False)),
    Rule("regularizer.gamma", "a finite number >= 0", "10", _non_negative_number),
    Rule("regularizer.every", "an integer >= 1", "16", _int_at_least(1)),
    Rule("regularizer.weight", "a finite number >= 0", "10", _non_negative_number),
    Rule("model.width", "an integer >= 1", "64", _int_at_least(1)),
    Rule("model.discriminator.pack", "an integer >= 1", "2", _int_at_least(1)),
    Rule("model.discriminator.spectral_norm", "true or false", "true", _one_of(True, False)),
    Rule("model.discriminator.minibatch_std", "true or false", "true", _one_of(True, False)),
    Rule("data.batch_size", "an integer >= 1", "128", _int_at_least(1)),
    Rule("data.image_size", "an integer >= 8", "28", _int_at_least(8)),
    Rule("data.channels", "1 (grey) or 3 (RGB)", "3", _one_of(1, 3)),
    Rule("data.num_workers", "an integer >= 0", "0", _int_at_least(0)),
    Rule("data.holdout_fraction", "a number in [0, 1)", "0.1", _fraction),
    Rule(
        "data.output_activation", "tanh (samples in [-1, 1]) or linear (unbounded)", "tanh", _one_of("tanh", "linear")
    ),
    Rule("data.preview_samples", "an integer >= 1", "64", _int_at_least(1)),
    Rule("data.path", "a folder of images", "/data/my_images", _non_empty_string),
    Rule("data.root", "a folder for the dataset files", "data", _non_empty_string),
    Rule("data.download", "true or false", "false", _one_of(True, False)),
    Rule("data.skip_corrupt", "true or false", "true", _one_of(True, False)),
    Rule("data.cache_limit_mb", "a finite number >= 0 (0: never cache)", "2048", _non_negative_number),
    Rule("data.num_samples", "an integer >= 1", "100000", _int_at_least(1)),
    Rule("data.std", "a finite number > 0", "0.01", _positive_number),
    Rule("model.latent_dim", "an integer >= 1", "100", _int_at_least(1)),
    Rule("model.hidden_dim", "an integer >= 1", "128", _int_at_least(1)),
    Rule("model.num_layers", "an integer >= 1", "2", _int_at_least(1)),
    Rule("model.negative_slope", "a finite number >= 0", "0.2", _non_negative_number),
    Rule("trainer.max_epochs", "an integer >= 1, or -1 for no limit", "25", _epochs),
    Rule("trainer.max_steps", "an integer >= 1, or -1 for no limit (optimizer steps)", "-1", _epochs),
    Rule("trainer.log_every_n_steps", "an integer >= 1", "10", _int_at_least(1)),
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
        parent, _, name = rule.key.rpartition(".")
        node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
        # `name in node` is False for a required ("???") value; its keys() still list it
        if isinstance(node, DictConfig) and name in node.keys() and OmegaConf.is_missing(node, name):  # noqa: SIM118
            problems.append(
                f"{rule.key} is required: set it to {rule.allowed} (for example {rule.key}={rule.example})."
            )
            continue
        value = OmegaConf.select(cfg, rule.key, default=_ABSENT)
        if value is not _ABSENT and not rule.check(value):
            problems.append(
                f"{rule.key}={value!r} is invalid: it must be {rule.allowed} (for example {rule.key}={rule.example})."
            )
    accelerator = OmegaConf.select(cfg, "trainer.accelerator", default=None)
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        problems.append(
            f"trainer.accelerator={accelerator} but no CUDA GPU is visible on this machine; use trainer=cpu "
            "(or trainer.accelerator=auto)."
        )
    if problems:
        raise ConfigError("Invalid configuration, nothing was run:\n  " + "\n  ".join(problems))


def check_shapes(generator: nn.Module, discriminator: nn.Module, data_shape: tuple[int, ...], names: str) -> None:
    """Fail before training if G cannot produce the data's samples or D cannot judge them."""
    if tuple(generator.out_shape) != data_shape or tuple(discriminator.in_shape) != data_shape:
        raise ConfigError(
            f"{names}: the data's samples have shape {data_shape}, but the generator makes "
            f"{tuple(generator.out_shape)} and the discriminator takes {tuple(discriminator.in_shape)}. "
            "Choose a model that supports this sample shape, or change data.image_size / data.channels."
        )


def check_combinations(cfg: DictConfig, discriminator: nn.Module, data_shape: tuple[int, ...]) -> None:
    """Values that are valid alone but not together (checked once the networks exist, before any data)."""
    pack = getattr(discriminator, "pack", 1)
    if cfg.data.batch_size % pack:
        raise ConfigError(
            f"data.batch_size={cfg.data.batch_size} is not a multiple of model.discriminator.pack={pack}: D judges "
            f"groups of {pack} samples. Choose a batch size divisible by {pack}."
        )
    regularizer = OmegaConf.select(cfg, "regularizer.name", default="none")
    lipschitz = regularizer == "gradient_penalty" or bool(getattr(discriminator, "spectral_norm_applied", False))
    if str(OmegaConf.select(cfg, "loss.discriminator._target_")).endswith("d_wasserstein_loss") and not lipschitz:
        raise ConfigError(
            "loss=wasserstein needs a Lipschitz constraint on D, or its critic values grow without bound: add "
            "regularizer=gradient_penalty (WGAN-GP) or model.discriminator.spectral_norm=true."
        )
    augment = OmegaConf.select(cfg, "augment", default=None)
    if augment is not None and "_target_" in augment and len(data_shape) != 3:
        raise ConfigError(
            f"augment={augment.name} works on images, but data={cfg.data.name} gives samples of shape "
            f"{data_shape}; use augment=none."
        )
