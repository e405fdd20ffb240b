"""Objects from a composed config: the data, the task (whatever ``module`` names) and the parts tasks share (G and D
sized by the data, the loss, regularizer and augmentation). Used by ``ganforge-train`` and to reopen runs."""

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ganforge.config import check_combinations, check_shapes
from ganforge.data import GANDataModule
from ganforge.errors import ConfigError
from ganforge.perf import speed_up
from ganforge.tasks import AdversarialTask


def data_source(cfg: DictConfig) -> GANDataModule:
    """The data group's own source (without the labeled subset that ``data.labeled`` adds)."""
    if "labeled" not in cfg.data:
        return instantiate(cfg.data)
    resolved = OmegaConf.to_container(cfg.data, resolve=True)
    resolved.pop("labeled")
    return instantiate(resolved)


def build_datamodule(cfg: DictConfig) -> GANDataModule:
    """The run's data: the source, served with a seeded few of its labels when ``data.labeled`` is set (the
    semi-supervised task's data; ``ganforge.data.semisupervised``)."""
    source = data_source(cfg)
    labeled = cfg.data.get("labeled")
    if labeled is None:
        return source
    from ganforge.data.semisupervised import SemiSupervisedData

    return SemiSupervisedData(
        source, labeled.per_class, labeled.draw, labeled.batch_size, output_dir=cfg.paths.output_dir,
        validation_size=labeled.validation_size,
    )  # fmt: skip


def task_class(cfg: DictConfig) -> type[AdversarialTask]:
    """The LightningModule that ``module._target_`` names."""
    return get_class(cfg.module._target_)


def build_task(cfg: DictConfig, datamodule: GANDataModule, speedups: bool | None = None) -> AdversarialTask:
    """The task for a composed config and its data; ``speedups`` (default: the config's) swaps in perf.py's faster
    equivalents of stock layers."""
    return task_class(cfg).from_config(cfg, datamodule, speedups)


def build_networks(cfg: DictConfig, datamodule: GANDataModule) -> tuple[nn.Module, nn.Module]:
    """G and D for the data's samples (shape, and output range where the model leaves it to the data); an
    architecture that cannot serve them is a config error."""
    names = f"model={cfg.model.name} data={datamodule.name}"
    from_data = {"out_shape": datamodule.shape}
    if "output_activation" in cfg.model.generator and cfg.model.generator.output_activation is None:
        from_data["output_activation"] = datamodule.output_activation
    for_d: dict[str, Any] = {"in_shape": datamodule.shape}
    if "num_classes" in cfg.model.discriminator and cfg.model.discriminator.num_classes is None:
        for_d["num_classes"] = datamodule.num_classes  # a classifier D (the semi-supervised task's)
        if not for_d["num_classes"] or for_d["num_classes"] < 2:
            path = OmegaConf.select(cfg, "data.path", default=None)
            where = f"data={datamodule.name}" if path is None else f"data.path={path}"
            raise ConfigError(
                f"{names}: a classifier D needs the data's classes, but {where} has {for_d['num_classes'] or 0}; "
                "give it at least 2 (for a folder, data.class_subfolders=true and one sub-folder of images per class)."
            )
    try:
        generator = instantiate(cfg.model.generator, **from_data)
        discriminator = instantiate(cfg.model.discriminator, **for_d)
    except InstantiationException as error:
        cause = error.__cause__ if isinstance(error.__cause__, ValueError) else None
        if cause is None:
            raise
        raise ConfigError(f"{names}: {cause}") from error
    check_shapes(generator, discriminator, datamodule.shape, names)
    return generator, discriminator


def optional(node: DictConfig | None) -> Any:
    """Instantiate a group whose "none" option has no ``_target_``; its ``name`` labels the option only."""
    if node is None or "_target_" not in node:
        return None
    return instantiate(OmegaConf.masked_copy(node, [key for key in node if key != "name"]))


def adversarial_parts(
    cfg: DictConfig, datamodule: GANDataModule, speedups: bool | None = None
) -> tuple[nn.Module, nn.Module, Any, Any, Any]:
    """(G, D, loss, regularizer, augment) of a one-G one-D task, checked together against the data."""
    generator, discriminator = build_networks(cfg, datamodule)
    loss, regularizer, augment = instantiate(cfg.loss), optional(cfg.get("regularizer")), optional(cfg.get("augment"))
    check_combinations(cfg, datamodule, discriminator, loss, regularizer, augment)
    if cfg.get("speedups", True) if speedups is None else speedups:
        speed_up(generator, discriminator)
    return generator, discriminator, loss, regularizer, augment


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
