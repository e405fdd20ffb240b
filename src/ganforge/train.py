"""``ganforge-train``: compose the config with Hydra, build every object from it and fit the GAN.

ganforge-train model.hidden_dim=256 optim.lr_d=1e-4          # override any value
ganforge-train -m optim.lr_g=1e-4,2e-4                        # sweep; jobs go to outputs/multirun/
ganforge-train experiment=reference                          # a preset that reproduces a known setup
"""

import logging
import os
import sys
import tempfile
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

from ganforge.callbacks import ClassifierEvaluation, EvaluationCallback, Interrupted
from ganforge.checkpoints import LAST, AtomicCheckpointIO, CheckpointError, check_compatible, read_checkpoint
from ganforge.config import check_combinations, check_shapes, validate
from ganforge.data import GANDataModule
from ganforge.data.semisupervised import SemiSupervisedData
from ganforge.errors import ConfigError, GanforgeError
from ganforge.gan import GAN
from ganforge.perf import speed_up
from ganforge.semisupervised import SemiSupervisedGAN
from ganforge.tracking import hyperparameters, log_hyperparameters

log = logging.getLogger(__name__)


def config_dir() -> Path:
    """The configs: inside the installed package (a wheel carries them as ``ganforge/conf``), else the checkout's
    top-level ``conf/`` (an editable install or a source tree on the path)."""
    packaged = Path(__file__).resolve().parent / "conf"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "conf"


CONFIG_DIR = config_dir()

# In-memory batches are one tensor gather; DataLoader workers would only add inter-process copies.
warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
# Lightning 2.6 calls a pytree API that torch 2.14 deprecates; nothing a user can act on.
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)


def build_networks(cfg: DictConfig, datamodule: GANDataModule) -> tuple[nn.Module, nn.Module]:
    """G and D for the data's samples (shape, and output range where the model leaves it to the data); an
    architecture that cannot serve them is a config error."""
    names = f"model={cfg.model.name} data={datamodule.name}"
    from_data = {"out_shape": datamodule.shape}
    if "output_activation" in cfg.model.generator and cfg.model.generator.output_activation is None:
        from_data["output_activation"] = datamodule.output_activation
    for_d: dict[str, Any] = {"in_shape": datamodule.shape}
    if "num_classes" in cfg.model.discriminator and cfg.model.discriminator.num_classes is None:
        for_d["num_classes"] = datamodule.num_classes  # a classifier D (the semi-supervised GAN's)
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


def build_gan(cfg: DictConfig, datamodule: GANDataModule, speedups: bool | None = None) -> GAN:
    """The GAN module (networks, loss, optimizers, regularizer, augmentation, EMA) for a composed config and its
    data, or with ``ssl`` set the semi-supervised GAN; ``speedups`` (default: the config's) swaps in perf.py's faster
    equivalents."""
    generator, discriminator = build_networks(cfg, datamodule)
    loss, regularizer, augment = instantiate(cfg.loss), optional(cfg.get("regularizer")), optional(cfg.get("augment"))
    check_combinations(cfg, datamodule, discriminator, loss, regularizer, augment)
    if cfg.get("speedups", True) if speedups is None else speedups:
        speed_up(generator, discriminator)
    if cfg.get("ssl"):
        return SemiSupervisedGAN(
            generator=generator if cfg.ssl.generator else None,
            discriminator=discriminator,
            optimizer_g=instantiate(cfg.optim.generator),
            optimizer_d=instantiate(cfg.optim.discriminator),
            unsupervised_weight=cfg.ssl.unsupervised_weight,
            supervised_weight=cfg.ssl.supervised_weight,
            entropy_weight=cfg.ssl.get("entropy_weight", 0.0),  # runs saved before the option had none
            classifier_ema_decay=cfg.ssl.classifier_ema,
            augment=augment,
            ema_decay=cfg.ema.decay,
            ema_warmup=cfg.ema.warmup,
        )
    return GAN(
        generator=generator,
        discriminator=discriminator,
        loss=loss,
        optimizer_g=instantiate(cfg.optim.generator),
        optimizer_d=instantiate(cfg.optim.discriminator),
        regularizer=regularizer,
        augment=augment,
        d_steps=cfg.optim.d_steps,
        simultaneous=cfg.optim.simultaneous,
        ema_decay=cfg.ema.decay,
        ema_warmup=cfg.ema.warmup,
    )


def build(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> tuple[GAN, GANDataModule, L.Trainer]:
    """Instantiate data, networks, module, callbacks, loggers and trainer from a composed config."""
    datamodule = instantiate(cfg.data)
    if cfg.get("ssl"):  # the semi-supervised GAN: the data's images, a few of its labels, its test split
        ssl = cfg.ssl
        datamodule = SemiSupervisedData(
            datamodule, ssl.labels_per_class, ssl.draw, ssl.labeled_batch_size, output_dir=cfg.paths.output_dir,
            validation_size=ssl.validation_size, uses_labels=ssl.supervised_weight > 0,
        )  # fmt: skip
    gan = build_gan(cfg, datamodule)
    callbacks = [*instantiate_each(cfg, "callbacks"), *extra_callbacks]
    loggers = instantiate_each(cfg, "logger")
    # Checkpoints are written to a temporary file beside the target and renamed over it: a kill never tears one.
    plugins = [AtomicCheckpointIO()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins)
    return gan, datamodule, trainer


def run_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config (without Hydra's own settings), stored in every checkpoint."""
    params = OmegaConf.to_container(cfg, resolve=True)
    params.pop("hydra", None)
    return params


def prepare_run_dir(cfg: DictConfig) -> Path | None:
    """Check the run dir can be written and does not hold another run; return the checkpoint to resume from.

    ``ckpt_path=last`` resumes the run in this dir (``hydra.run.dir=<its dir>``); any other path resumes that
    checkpoint into this (new) dir. Without ckpt_path, a dir that already holds a run is refused rather than
    mixed with or written over.
    """
    output_dir = Path(cfg.paths.output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".write-test-"):
            pass
    except OSError as error:
        raise ConfigError(
            f"paths.output_dir={output_dir} is not writable ({type(error).__name__}: {error}); choose a folder you "
            "can write, e.g. paths.log_dir=/scratch/me/outputs or hydra.run.dir=/scratch/me/run1."
        ) from error
    ckpt_path = cfg.get("ckpt_path")
    last = output_dir / "checkpoints" / LAST
    if ckpt_path == "last":
        if not last.is_file():
            raise CheckpointError(
                f"ckpt_path=last: {last} does not exist. To resume a run, point hydra.run.dir at that run's "
                "directory (outputs/<date>/<time>), or give ckpt_path=<path to a .ckpt file>."
            )
        return last
    earlier = sorted(output_dir.glob("checkpoints/*.ckpt")) + sorted(output_dir.glob("tensorboard/events.*"))
    # DDP: Lightning starts ranks 1.. (LOCAL_RANK set) in rank 0's run dir, after rank 0 began writing to it
    if earlier and os.environ.get("LOCAL_RANK", "0") == "0":
        raise ConfigError(
            f"{output_dir} already holds a run ({earlier[0].relative_to(output_dir)}); nothing was overwritten. "
            "Resume it with ckpt_path=last, or start a new run in another directory (leave hydra.run.dir unset)."
        )
    return Path(ckpt_path) if ckpt_path else None


def train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> dict[str, float]:
    """Validate, build and fit; returns the final logged metrics (the objective for sweeps)."""
    validate(cfg)
    ckpt_path = prepare_run_dir(cfg)
    L.seed_everything(cfg.seed, workers=True)
    gan, datamodule, trainer = build(cfg, extra_callbacks)
    gan.run_config = run_config(cfg)
    if ckpt_path is not None:
        check_compatible(read_checkpoint(ckpt_path), gan, ckpt_path)  # fail now, not after data loading
    evaluation = next((c for c in trainer.callbacks if isinstance(c, EvaluationCallback)), None)
    classifier = next((c for c in trainer.callbacks if isinstance(c, ClassifierEvaluation)), None)
    compared = list(cfg.compare_metrics)
    if evaluation is not None:
        evaluation.prepare(datamodule)  # reads the data now: bad data fails before training
        if evaluation.active:
            evaluation.monitored()  # a monitor the data does not report fails now, not at the first evaluation
        compared += list(evaluation.directions())
    if classifier is not None:
        datamodule.setup("fit")  # the labeled subset is drawn (and a bad one refused) before training
        compared += list(classifier.directions(datamodule))
    log_hyperparameters(trainer.loggers, hyperparameters(cfg), compared)
    log.info("Run directory: %s", cfg.paths.output_dir)
    if trainer.world_size > 1:
        log.info(
            "%d processes: effective batch %d x %d = %d samples per D and per G update, each process its own noise",
            trainer.world_size, cfg.data.batch_size, trainer.world_size, cfg.data.batch_size * trainer.world_size,
        )  # fmt: skip
    with warnings.catch_warnings():
        # prepare_run_dir refused a dir holding another run; a resumed run writes to its own dir on purpose.
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        # ganforge writes its scalars on its own step axis (GAN.write_scalars); Lightning's check of its logging
        # interval against the epoch's length does not apply.
        warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval")
        # weights_only: a checkpoint is data; never run code a file carries.
        trainer.fit(gan, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    for callback in (evaluation, classifier):
        metrics |= callback.results if callback is not None else {}
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    try:
        metrics = train(cfg)
    except Interrupted as stop:
        log.warning("%s", stop)
        sys.exit(128 + stop.signum)
    except GanforgeError as error:
        log.error("%s", error)
        sys.exit(2)
    objective = cfg.get("objective")
    return metrics.get(objective) if objective else None


if __name__ == "__main__":
    main()
