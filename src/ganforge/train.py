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
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ganforge.build import build_datamodule, build_task, instantiate_each
from ganforge.callbacks import Interrupted
from ganforge.callbacks.measuring import Measuring
from ganforge.checkpoints import LAST, AtomicCheckpointIO, CheckpointError, check_compatible, read_checkpoint
from ganforge.config import validate
from ganforge.data import GANDataModule
from ganforge.errors import ConfigError, GanforgeError
from ganforge.tasks import AdversarialTask
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


def build(
    cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()
) -> tuple[AdversarialTask, GANDataModule, L.Trainer]:
    """Instantiate data, the task ``module`` names, callbacks, loggers and trainer from a composed config."""
    datamodule = build_datamodule(cfg)
    task = build_task(cfg, datamodule)
    callbacks = [*instantiate_each(cfg, "callbacks"), *extra_callbacks]
    loggers = instantiate_each(cfg, "logger")
    # Checkpoints are written to a temporary file beside the target and renamed over it: a kill never tears one.
    plugins = [AtomicCheckpointIO()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins)
    task.stop_at = cfg.get("steps")  # the run's length on the task's one clock (trainer.max_epochs may end it first)
    return task, datamodule, trainer


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
    checkpoint = None if ckpt_path is None else read_checkpoint(ckpt_path)  # not a checkpoint: refused before building
    L.seed_everything(cfg.seed, workers=True)
    task, datamodule, trainer = build(cfg, extra_callbacks)
    task.run_config = run_config(cfg)
    if checkpoint is not None:
        check_compatible(checkpoint, task, ckpt_path)  # fail now, not after data loading
        del checkpoint  # Lightning reads the file again in fit; no second copy of the weights held meanwhile
    measuring = [c for c in trainer.callbacks if isinstance(c, Measuring)]
    compared = list(cfg.compare_metrics)
    for callback in measuring:  # reads the data now: bad data (or a bad monitor) fails before training
        compared += list(callback.prepare(datamodule))
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
        # ganforge writes its scalars on the task's own step axis (AdversarialTask.write_scalars); Lightning's check
        # of its logging interval against the epoch's length does not apply.
        warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval")
        # weights_only: a checkpoint is data; never run code a file carries.
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    for callback in measuring:
        metrics |= callback.results
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
