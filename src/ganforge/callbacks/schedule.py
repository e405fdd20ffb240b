"""A learning-rate schedule for both networks: constant, then linearly down to 0 at the end of training (the schedule
of Salimans et al. 2016's semi-supervised GAN; ``callbacks.lr_decay``, off by default)."""

import math
from typing import Any

import lightning as L

from ganforge.rules import fraction

START = fraction("start", "0.5")


def total_steps(trainer: L.Trainer, pl_module: L.LightningModule) -> float:
    """The steps (the task's one clock) this run trains: the tighter of ``steps`` and ``max_epochs`` x the epoch's
    batches / batches per step."""
    bounds = [math.inf]
    if trainer.max_epochs is not None and trainer.max_epochs > 0:
        bounds.append(trainer.max_epochs * trainer.num_training_batches / pl_module.batches_per_step)
    if pl_module.stop_at is not None:
        bounds.append(pl_module.stop_at)
    return min(bounds)


class LinearLRDecay(L.Callback):
    """Every optimizer's learning rate is its configured value until ``start`` (a fraction of the run's steps), then
    falls linearly to 0 at the last step. Progress is read from the module's checkpointed step counter and the
    configured rates are kept in each parameter group as ``initial_lr`` (saved with the optimizer's state, as
    torch's schedulers keep them), so a resumed run continues the same schedule from the undecayed rates."""

    rules = (START,)

    def __init__(self, start: float = 0.5) -> None:
        START.require(start)
        self.start = start
        self.base: list[list[float]] = []
        self.total = math.inf

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.total = total_steps(trainer, pl_module)
        # a resumed run's optimizers hold the decayed rates of its checkpoint: the base is the stored initial_lr
        self.base = [
            [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
            for optimizer in trainer.optimizers
        ]

    def factor(self, step: int) -> float:
        progress = step / self.total
        return 1.0 if progress <= self.start else max(0.0, (1 - progress) / (1 - self.start))

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        factor = self.factor(pl_module.step)
        for optimizer, base in zip(trainer.optimizers, self.base, strict=True):
            for group, lr in zip(optimizer.param_groups, base, strict=True):
                group["lr"] = lr * factor
