"""What every adversarial task has: its own checkpointed counters, the step axis of its logs, logging, an EMA of G,
noise for G, and the declaration of what it accepts.

A task is one LightningModule (manual optimization) selected by ``conf/module/<name>.yaml``'s ``_target_``;
``train.py`` builds it with ``from_config`` and never asks which task it is. ``accepts`` says which losses,
regularizers, data and schedules the task takes; ``task_problems`` (called by ``ganforge.config.validate``) reads
it and the task's own ``problems`` before anything is built, so a setting a task would ignore is refused instead.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import lightning as L
import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torch.optim import Optimizer

from ganforge.ema import averaged_generator

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]


@dataclass(frozen=True)
class Accepts:
    """What a task takes from the other config groups.

    ``losses``: the loss targets it plays (None: any of the loss group); ``regularizers``: whether a penalty on D
    applies; ``schedules``: whether ``optim.d_steps`` > 1 and ``optim.simultaneous`` apply; ``labeled_data``:
    whether it needs (True) or refuses (False) ``data.labeled``, the seeded few labels of the training split;
    ``classifier_d``: whether D must be a K-class classifier (True) or must not be one (False).
    """

    losses: tuple[str, ...] | None = None
    regularizers: bool = True
    schedules: bool = True
    labeled_data: bool = False
    classifier_d: bool = False


def task_problems(cfg: DictConfig) -> list[str]:
    """What the composed config asks of the task that ``module`` names and the task does not accept (read from its
    ``accepts`` and its own ``problems``), every one found; run before anything is built."""
    target = OmegaConf.select(cfg, "module._target_", default=None)
    try:
        task = get_class(target)
    except Exception:  # hydra raises a bare Exception for a name it cannot import
        task = None
    if not (isinstance(task, type) and issubclass(task, AdversarialTask)):
        return [f"module._target_={target} is not a task (a subclass of ganforge.tasks.AdversarialTask); use "
                "module=gan or module=ssl."]  # fmt: skip
    accepts, name = task.accepts, task.name
    found = []
    loss = OmegaConf.select(cfg, "loss._target_", default=None)
    if accepts.losses is not None and loss not in accepts.losses:
        found.append(f"module={name} plays its own losses, but loss={loss} was set; use "
                     f"loss={accepts.losses[0].rpartition('.')[2]}.")  # fmt: skip
    if not accepts.regularizers and OmegaConf.select(cfg, "regularizer._target_", default=None) is not None:
        found.append(f"module={name} takes no regularizer; use regularizer=none.")
    d_steps, simultaneous = OmegaConf.select(cfg, "optim.d_steps"), OmegaConf.select(cfg, "optim.simultaneous")
    if not accepts.schedules and (d_steps != 1 or simultaneous is True):
        found.append(f"module={name} updates D then G once per batch; optim.d_steps and optim.simultaneous do not "
                     "apply: use optim.d_steps=1 optim.simultaneous=false.")  # fmt: skip
    labeled = OmegaConf.select(cfg, "data.labeled", default=None) is not None
    if labeled != accepts.labeled_data:
        found.append(
            f"module={name} needs data.labeled (a seeded few labels of the training split); use an "
            "experiment=ssl_* preset or module=ssl."
            if accepts.labeled_data
            else f"data.labeled is set, but module={name} reads no labels; remove it, or use module=ssl."
        )
    discriminator = OmegaConf.select(cfg, "model.discriminator", default=None)
    classifier = isinstance(discriminator, DictConfig) and "num_classes" in discriminator
    model = OmegaConf.select(cfg, "model.name", default="?")
    if classifier and not accepts.classifier_d:
        found.append(f"model={model} has a K-class classifier D, made for the semi-supervised task; use "
                     "module=ssl (or an experiment=ssl_* preset), or another model.")  # fmt: skip
    if accepts.classifier_d and not classifier:
        found.append(f"module={name} needs a K-class classifier D, but model={model} has a one-logit D; use "
                     "model=ssl_mlp (or an experiment=ssl_* preset).")  # fmt: skip
    return found + task.problems(cfg)


class AdversarialTask(L.LightningModule):
    """The shared base of ganforge's tasks. Counters, kept by the module and checkpointed:
    ``discriminator_updates`` (= batches trained) and ``generator_updates``; ``step`` is the one clock: the step
    axis of everything logged, of periodic work (checkpoints, grids, evaluation, schedules) and of the run length
    (``steps``, kept as ``stop_at``). Lightning's ``global_step`` counts optimizer steps of every network."""

    name: ClassVar[str] = "task"  # its option in conf/module/ (what messages call it: module=<name>)
    accepts: ClassVar[Accepts] = Accepts()

    def __init__(self, generator: nn.Module | None, ema_decay: float | None = None, ema_warmup: bool = True) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        # A submodule, so its weights are in every checkpoint.
        use_ema = ema_decay and generator is not None
        self.generator_ema = averaged_generator(generator, ema_decay, ema_warmup) if use_ema else None
        self.generator_updates = 0
        self.discriminator_updates = 0
        # The resolved run config, stored in every checkpoint so that a checkpoint describes itself.
        self.run_config: dict[str, Any] | None = None
        # The run's length on the one clock (``steps``, set by train.py); None: no limit by steps.
        self.stop_at: int | None = None

    @classmethod
    def from_config(cls, cfg: DictConfig, datamodule: Any, speedups: bool | None = None) -> "AdversarialTask":
        """The task with everything it needs built from a composed config and its data (no data is read)."""
        raise NotImplementedError

    @classmethod
    def problems(cls, cfg: DictConfig) -> list[str]:
        """Settings that are valid alone but not together for this task (every one found); none by default."""
        return []

    @property
    def step(self) -> int:
        """The one clock (see the class docstring)."""
        raise NotImplementedError

    def on_train_start(self) -> None:
        """A run resumed at (or past) its ``steps`` trains nothing more (the check below comes after a batch)."""
        if self.stop_at is not None and self.step >= self.stop_at:
            self.trainer.should_stop = True

    def on_train_batch_end(self, *args: Any) -> None:
        """The run ends when ``stop_at`` steps are done. Not through Lightning's ``max_steps``: with it set,
        Lightning treats every resumed run as restarting mid-epoch and replays a finished epoch's end wrongly (a run
        resumed from an epoch's end trained 2 batches of each later epoch instead of 3 in our resume test)."""
        if self.stop_at is not None and self.step >= self.stop_at:
            self.trainer.should_stop = True

    @property
    def batches_per_step(self) -> int:
        """Training batches per ``step`` (what converts epochs into steps)."""
        return 1

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def sampler(self) -> nn.Module:
        """The generator to sample and evaluate with: the EMA copy when EMA is on."""
        return self.generator if self.generator_ema is None else self.generator_ema.module

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), shape (n, latent_dim), on this module's device."""
        if generator is None:
            return torch.randn(n, self.latent_dim, device=self.device)
        return torch.randn(n, self.latent_dim, generator=generator, device=generator.device).to(self.device)

    def forward(self, z: Tensor) -> Tensor:
        return self.sampler(z)

    def update_generator_ema(self) -> None:
        if self.generator_ema is not None:
            self.generator_ema.update_parameters(self.generator)

    def log_due(self) -> bool:
        """Whether this step's scalars are written (every ``trainer.log_every_n_steps`` steps)."""
        every = self.trainer.log_every_n_steps
        return every > 0 and self.step % every == 0

    def write_scalars(self, values: dict[str, Tensor]) -> None:
        """Send one step's scalars to the loggers (on the ``step`` axis), the progress bar and
        ``trainer.callback_metrics``.

        What ``self.log(on_step=True)`` does, at a fraction of its cost: Lightning moves its whole per-key
        result object to the value's device on every call (~0.6 ms per value here, ~8% of a reference MLP step
        at batch 128). One host transfer for all values, only on the steps that are written.
        """
        numbers = dict(zip(values, torch.stack([v.float() for v in values.values()]).tolist(), strict=True))
        for logger in self.loggers:
            logger.log_metrics(numbers | {"epoch": self.current_epoch}, step=self.step)
        self.trainer.callback_metrics.update({name: torch.tensor(value) for name, value in numbers.items()})
        shown = ("train/d_loss", "train/g_loss")
        self.trainer.progress_bar_metrics.update({name: numbers[name] for name in shown if name in numbers})

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ganforge_counters"] = {
            "generator_updates": self.generator_updates,
            "discriminator_updates": self.discriminator_updates,
        }
        if self.run_config is not None:
            checkpoint["ganforge_config"] = self.run_config

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        counters = checkpoint.get("ganforge_counters", {})
        self.generator_updates = counters.get("generator_updates", 0)
        self.discriminator_updates = counters.get("discriminator_updates", 0)
