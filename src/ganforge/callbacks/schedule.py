"""A learning-rate schedule for both networks: constant, then linearly down to 0 at the end of training (the schedule
of Salimans et al. 2016's semi-supervised GAN; ``callbacks.lr_decay``, off by default)."""

import math
from typing import Any

import lightning as L


def total_batches(trainer: L.Trainer, pl_module: L.LightningModule) -> float:
    """The batches this run trains: the tighter of ``max_epochs`` x batches per epoch and ``max_steps`` (optimizer
    steps) / optimizer steps per batch."""
    bounds = [math.inf]
    if trainer.max_epochs is not None and trainer.max_epochs > 0:
        bounds.append(trainer.max_epochs * trainer.num_training_batches)
    if trainer.max_steps is not None and trainer.max_steps > 0:
        bounds.append(trainer.max_steps / pl_module.optimizer_steps_per_batch)
    return min(bounds)


class LinearLRDecay(L.Callback):
    """Every optimizer's learning rate is its configured value until ``start`` (a fraction of the run's batches), then
    falls linearly to 0 at the last batch. Progress is read from the module's checkpointed batch counter and the
    configured rates are kept in each parameter group as ``initial_lr`` (saved with the optimizer's state, as
    torch's schedulers keep them), so a resumed run continues the same schedule from the undecayed rates."""

    def __init__(self, start: float = 0.5) -> None:
        if not 0 <= start < 1:
            raise ValueError(f"start must be in [0, 1), got {start}")
        self.start = start
        self.base: list[list[float]] = []
        self.total = math.inf

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.total = total_batches(trainer, pl_module)
        # a resumed run's optimizers hold the decayed rates of its checkpoint: the base is the stored initial_lr
        self.base = [
            [group.setdefault("initial_lr", group["lr"]) for group in optimizer.param_groups]
            for optimizer in trainer.optimizers
        ]

    def factor(self, batch: int) -> float:
        progress = batch / self.total
        return 1.0 if progress <= self.start else max(0.0, (1 - progress) / (1 - self.start))

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        factor = self.factor(pl_module.discriminator_updates)
        for optimizer, base in zip(trainer.optimizers, self.base, strict=True):
            for group, lr in zip(optimizer.param_groups, base, strict=True):
                group["lr"] = lr * factor
