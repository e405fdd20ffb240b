"""Checkpoints written on the GAN's own step axis (generator updates), not per epoch of whatever size the data has:
on 12-batch epochs (the digits) a per-epoch checkpoint is written 800 times a run, on 50,000-image data once an
hour. Every checkpoint is the full training state (``trainer.save_checkpoint``, written atomically by
``checkpoints.AtomicCheckpointIO``), checked first by the non-finite guard so it never holds broken weights.
"""

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_info

from ganforge.callbacks.common import EVERY_N_STEPS
from ganforge.callbacks.safety import NonFiniteGuard
from ganforge.checkpoints import LAST
from ganforge.rules import boolean, folder, text


class PeriodicCheckpoint(L.Callback):
    """Writes ``dirpath/filename`` every ``every_n_steps`` generator updates and, with ``at_end``, when training
    ends. ``filename`` may contain ``{step}`` (e.g. ``step{step:07d}.ckpt``: one file per interval, all kept);
    without it the file is rewritten (``last.ckpt``)."""

    rules = (
        folder("dirpath", "outputs/run/checkpoints"), EVERY_N_STEPS,
        text("filename", "a file name, {step} for the step", "step{step:07d}.ckpt"), boolean("at_end"),
    )  # fmt: skip

    def __init__(self, dirpath: str, every_n_steps: int = 1000, filename: str = LAST, at_end: bool = True) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.filename = filename
        self.at_end = at_end
        self.saved_step = -1
        self.pending = False

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = pl_module.step
        # After an epoch's last batch, wait for the epoch's end: Lightning resumes a checkpoint taken there as
        # "epoch done" (a checkpoint of the last batch would make it replay the epoch).
        last_batch = batch_idx + 1 >= trainer.num_training_batches
        if step > 0 and step % self.every_n_steps == 0 and step != self.saved_step and not last_batch:
            self.save(trainer, pl_module)
        self.pending = step > 0 and step % self.every_n_steps == 0 and step != self.saved_step and last_batch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.pending:
            self.save(trainer, pl_module)
            self.pending = False

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.at_end and pl_module.step != self.saved_step:
            self.save(trainer, pl_module)

    def save(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for guard in (c for c in trainer.callbacks if isinstance(c, NonFiniteGuard)):
            guard.check(trainer, pl_module)  # raises rather than let a checkpoint hold non-finite weights
        self.saved_step = pl_module.step
        path = self.dirpath / self.filename.format(step=self.saved_step)
        trainer.save_checkpoint(path, weights_only=False)  # the full training state
        if "{" in self.filename:
            rank_zero_info(f"checkpoint {path}")
