"""``ganforge-train``: compose the config with Hydra, build every object from it and fit the GAN.

ganforge-train model.hidden_dim=256 optim.lr_d=1e-4          # override any value
ganforge-train -m optim.lr_g=1e-4,2e-4                        # sweep; jobs go to outputs/multirun/
ganforge-train experiment=reference                          # a preset that reproduces a known setup
"""

import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ganforge.config import validate
from ganforge.data import GANDataModule
from ganforge.errors import ConfigError, GanforgeError
from ganforge.gan import GAN
from ganforge.tracking import log_hyperparameters

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
log = logging.getLogger(__name__)

# In-memory batches are one tensor gather; DataLoader workers would only add inter-process copies.
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
# Lightning 2.6 calls a pytree API that torch 2.14 deprecates; nothing a user can act on.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)


def check_shapes(generator: nn.Module, discriminator: nn.Module, data_shape: tuple[int, ...], names: str) -> None:
    """Fail before training if G cannot produce the data's samples or D cannot judge them."""
    if tuple(generator.out_shape) != data_shape or tuple(discriminator.in_shape) != data_shape:
        raise ConfigError(
            f"{names}: the data's samples have shape {data_shape}, but the generator makes "
            f"{tuple(generator.out_shape)} and the discriminator takes {tuple(discriminator.in_shape)}. "
            "Choose a model that supports this sample shape, or change data.image_size / data.channels."
        )


def build_networks(cfg: DictConfig, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """G and D for the data's sample shape; an architecture that cannot serve it is a config error."""
    names = f"model={cfg.model.name} data={cfg.data.name}"
    try:
        generator = instantiate(cfg.model.generator)
        discriminator = instantiate(cfg.model.discriminator)
    except InstantiationException as error:
        cause = error.__cause__ if isinstance(error.__cause__, ValueError) else None
        if cause is None:
            raise
        raise ConfigError(f"{names}: {cause}") from error
    check_shapes(generator, discriminator, data_shape, names)
    return generator, discriminator


def optional(node: DictConfig | None) -> Any:
    """Instantiate a group whose "none" option has no ``_target_``; its ``name`` labels the option only."""
    if node is None or "_target_" not in node:
        return None
    return instantiate(OmegaConf.masked_copy(node, [key for key in node if key != "name"]))


def check_combinations(cfg: DictConfig, discriminator: nn.Module, data_shape: tuple[int, ...]) -> None:
    pack = getattr(discriminator, "pack", 1)
    if cfg.data.batch_size % pack:
        raise ConfigError(
            f"data.batch_size={cfg.data.batch_size} is not a multiple of model.discriminator.pack={pack}: D judges "
            f"groups of {pack} samples. Choose a batch size divisible by {pack}."
        )
    if "_target_" in cfg.augment and len(data_shape) != 3:
        raise ConfigError(
            f"augment={cfg.augment.name} works on images, but data={cfg.data.name} gives samples of shape "
            f"{data_shape}; use augment=none."
        )


def instantiate_each(cfg: DictConfig, group: str) -> list[Any]:
    """One object per entry of a dict-of-objects group (callbacks, logger); null entries are switched off."""
    entries = cfg.get(group) or {}
    incomplete = [name for name, entry in entries.items() if entry is not None and "_target_" not in entry]
    if incomplete:
        raise ConfigError(
            f"{group}.{incomplete[0]} has settings but no _target_ (it is missing from the composed config); "
            f"keep the {group} group, or set {group}.{incomplete[0]}=null to switch that entry off."
        )
    return [instantiate(entry) for entry in entries.values() if entry is not None]


def build(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> tuple[GAN, GANDataModule, L.Trainer]:
    """Instantiate data, networks, module, callbacks, loggers and trainer from a composed config."""
    datamodule = instantiate(cfg.data.datamodule)
    generator, discriminator = build_networks(cfg, datamodule.shape)
    check_combinations(cfg, discriminator, datamodule.shape)
    gan = GAN(
        generator=generator,
        discriminator=discriminator,
        loss=instantiate(cfg.loss),
        optimizer_g=instantiate(cfg.optim.generator),
        optimizer_d=instantiate(cfg.optim.discriminator),
        regularizer=optional(cfg.get("regularizer")),
        augment=optional(cfg.get("augment")),
        d_steps=cfg.optim.d_steps,
        ema_decay=cfg.ema.decay,
        ema_warmup=cfg.ema.warmup,
    )
    callbacks = [*instantiate_each(cfg, "callbacks"), *extra_callbacks]
    loggers = instantiate_each(cfg, "logger")
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return gan, datamodule, trainer


def hyperparameters(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config (without Hydra's own settings), as shown in TensorBoard's HParams tab."""
    params = OmegaConf.to_container(cfg, resolve=True)
    params.pop("hydra", None)
    return params


def train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> dict[str, float]:
    """Validate, build and fit; returns the final logged metrics (the objective for sweeps)."""
    validate(cfg)
    L.seed_everything(cfg.seed, workers=True)
    gan, datamodule, trainer = build(cfg, extra_callbacks)
    log_hyperparameters(trainer.loggers, hyperparameters(cfg), cfg.compare_metrics)
    log.info("Run directory: %s", cfg.paths.output_dir)
    # weights_only: a checkpoint is data; never run code a file carries.
    trainer.fit(gan, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    return {name: float(value) for name, value in trainer.callback_metrics.items()}


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = train(cfg)
    except GanforgeError as error:
        log.error("%s", error)
        sys.exit(2)
    objective = cfg.get("objective")
    return metrics.get(objective) if objective else None


if __name__ == "__main__":
    main()
