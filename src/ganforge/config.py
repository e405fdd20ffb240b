"""One validation layer: user-set config values (before anything is built) and the combinations of the
built networks with the data and the other settings (before any data is read).

Hydra already rejects unknown keys (the configs are in struct mode); this checks the values of known keys. The
rules live beside what they constrain (``ganforge.rules``): each class a config builds declares the rules of its
own arguments (``rules``, keys relative to its node); the modules in ``OWNERS`` declare those of the keys outside
a class of ours (``RULES``, full keys) and of other libraries' classes (``TARGET_RULES``, by target). This module
gathers them for a composed config, reports every problem at once, and checks what spans groups.
"""

from collections.abc import Sequence
from functools import cache
from importlib import import_module
from typing import Any

import torch
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from ganforge.errors import ConfigError
from ganforge.rules import Rule
from ganforge.tasks.base import task_problems

OWNERS = (
    "ganforge.train_rules", "ganforge.networks", "ganforge.regularizers", "ganforge.augment", "ganforge.ema",
    "ganforge.perf", "ganforge.tracking", "ganforge.callbacks", "ganforge.gan", "ganforge.data.semisupervised",
)  # fmt: skip


@cache
def _owned() -> tuple[tuple[Rule, ...], dict[str, tuple[Rule, ...]]]:
    """The owners' rules by full key, and their rules of other libraries' classes by target."""
    modules = [import_module(name) for name in OWNERS]
    by_key = tuple(rule for module in modules for rule in getattr(module, "RULES", ()))
    return by_key, {t: r for m in modules for t, r in getattr(m, "TARGET_RULES", {}).items()}


def declared_rules(target: str) -> tuple[Rule, ...]:
    """The rules of a ``_target_``'s arguments (keys relative to its node): its owner's for another library's
    class, else what the class (or function) declares; none for a target that does not import (building says so)."""
    foreign = _owned()[1]
    if target in foreign:
        return foreign[target]
    try:
        return tuple(getattr(get_object(target), "rules", ()))
    except Exception:  # hydra raises a bare Exception for a name it cannot import
        return ()


def rules_for(cfg: DictConfig) -> list[Rule]:
    """Every rule that applies to ``cfg``, by full key: the owners', then those of each node's ``_target_``
    (interpolated nodes, such as ``evaluation: ${metrics}``, are checked where they are defined)."""
    found = list(_owned()[0])

    def visit(node: DictConfig, path: str) -> None:
        if "_target_" in node and isinstance(node["_target_"], str):
            found.extend(rule.at(path) for rule in declared_rules(node["_target_"]))
        for key in node.keys():  # noqa: SIM118 (keys() lists required "???" values too)
            if OmegaConf.is_interpolation(node, key) or OmegaConf.is_missing(node, key) or path + str(key) == "hydra":
                continue
            if isinstance(child := node[key], DictConfig):
                visit(child, f"{path}.{key}" if path else str(key))

    visit(cfg, "")
    return found


_ABSENT = object()


def validate(cfg: DictConfig, rules: Sequence[Rule] | None = None, one_line: bool = False) -> None:
    """Raise ConfigError listing every rule the config breaks (``rules``: those of ``rules_for``); keys a config
    does not have are skipped. ``one_line``: the problems in one line (the other commands log one line per error)."""
    problems = []
    for rule in rules_for(cfg) if rules is None else rules:
        parent, _, name = rule.key.rpartition(".")
        node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
        # `name in node` is False for a required ("???") value; its keys() still list it
        if isinstance(node, DictConfig) and name in node.keys() and OmegaConf.is_missing(node, name):  # noqa: SIM118
            problems.append(
                f"{rule.key} is required: set it to {rule.allowed} (for example {rule.key}={rule.example})."
            )
            continue
        value = OmegaConf.select(cfg, rule.key, default=_ABSENT)
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value)
        if value is not _ABSENT and (problem := rule.problem(value)) is not None:
            problems.append(problem)
    if OmegaConf.select(cfg, "module._target_", default=None) is not None:
        problems += task_problems(cfg)
    accelerator = OmegaConf.select(cfg, "trainer.accelerator", default=None)
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        problems.append(
            f"trainer.accelerator={accelerator} but no CUDA GPU is visible on this machine; use trainer=cpu "
            "(or trainer.accelerator=auto)."
        )
    if problems:
        raise ConfigError(
            " ".join(problems) if one_line else "Invalid configuration, nothing was run:\n  " + "\n  ".join(problems)
        )


def check_shapes(generator: nn.Module, discriminator: nn.Module, data_shape: tuple[int, ...], names: str) -> None:
    """Fail before training if G cannot produce the data's samples or D cannot judge them."""
    if tuple(generator.out_shape) != data_shape or tuple(discriminator.in_shape) != data_shape:
        raise ConfigError(
            f"{names}: the data's samples have shape {data_shape}, but the generator makes "
            f"{tuple(generator.out_shape)} and the discriminator takes {tuple(discriminator.in_shape)}. "
            "Choose a model that supports this sample shape, or change data.image_size / data.channels."
        )


def check_combinations(
    cfg: DictConfig, datamodule: Any, discriminator: nn.Module, loss: Any, regularizer: Any, augment: Any
) -> None:
    """Values that are valid alone but not together, read from what the built objects declare (checked once the
    networks exist, before any data is read)."""
    pack = getattr(discriminator, "pack", 1)
    if datamodule.tuples is not None and datamodule.tuples != pack:
        raise ConfigError(
            f"data.tuples={datamodule.tuples} but model.discriminator.pack={pack}: the real batches hold tuples of "
            f"{datamodule.tuples} samples for a D that packs {pack}. Set data.tuples=${{model.discriminator.pack}} "
            "(the PacGAN presets do), or data.tuples=null."
        )
    if datamodule.samples_per_batch % pack:
        raise ConfigError(
            f"data.batch_size={datamodule.batch_size} is not a multiple of model.discriminator.pack={pack}: D judges "
            f"groups of {pack} samples. Choose a batch size divisible by {pack}."
        )
    lipschitz = getattr(regularizer, "provides_lipschitz", False) or getattr(discriminator, "lipschitz", False)
    if loss.needs_lipschitz and not lipschitz:
        raise ConfigError(
            f"loss={_choice(cfg, 'loss')} needs a Lipschitz constraint on D, or its critic values grow without bound: "
            "add regularizer=gradient_penalty (WGAN-GP) or model.discriminator.spectral_norm=true."
        )
    if augment is not None and datamodule.kind not in augment.kinds:
        raise ConfigError(
            f"augment={cfg.augment.name} works on {', '.join(augment.kinds)}, but data={datamodule.name} gives "
            f"{datamodule.kind} of shape {datamodule.shape}; use augment=none."
        )


def _choice(cfg: DictConfig, group: str) -> str:
    """The option a group was given (``loss=wasserstein``), where Hydra recorded it; else its target's name."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.choices[group]
    except ValueError:  # composed outside a Hydra app (tests, notebooks)
        return str(OmegaConf.select(cfg, f"{group}._target_", default=group)).rpartition(".")[2]
