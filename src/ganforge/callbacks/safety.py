"""Callbacks that keep a run's work safe: stop on non-finite losses, stop cleanly on SIGINT/SIGTERM."""

import logging
import math
import signal
import threading
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor

from ganforge.checkpoints import LAST
from ganforge.errors import GanforgeError
from ganforge.rules import integer

log = logging.getLogger(__name__)


class NonFiniteLossError(GanforgeError, FloatingPointError):
    """A loss became NaN or infinite; the run stopped before a checkpoint could hold the broken weights."""


class Interrupted(GanforgeError):
    """The run was asked to stop (SIGINT/SIGTERM); its state was saved."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def resume_hint(run_dir: Path) -> str:
    return f"resume with: ganforge-train <same overrides> hydra.run.dir={run_dir} ckpt_path=last"


class NonFiniteGuard(L.Callback):
    """Watches the losses every training step returns and stops the run at the first check after one is NaN or
    infinite, with the step and losses named. It runs before the other callbacks (first in conf/callbacks/), and
    checkpoints ask it first, so nothing draws, evaluates or saves weights trained on a non-finite loss.

    On the CPU reading a loss costs nothing, so each step's losses are checked in plain Python (~1 us) and a bad
    one stops the run at once; on an accelerator the first bad step is recorded on the device without a host sync
    (a dozen tiny ops, ~20 us per step on the CPU, which is why the CPU does not use that path) and read every
    ``check_every_n_steps`` G updates and at each epoch end.
    """

    rules = (integer("check_every_n_steps", 1, "6"),)

    def __init__(self, check_every_n_steps: int = 50) -> None:
        self.check_every_n_steps = check_every_n_steps
        self.first: tuple[int, float, float] | None = None  # (step, d_loss, g_loss) of the first bad step
        self.on_device: tuple[Tensor, Tensor] | None = None  # (step or -1, losses) kept on the accelerator

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *args: Any) -> None:
        step = pl_module.discriminator_updates - 1  # the training step (batch) that produced ``outputs``
        d_loss, g_loss = outputs["d_loss"], outputs.get("g_loss")  # no G update on this batch: no g_loss
        if d_loss.device.type == "cpu":
            self.record_on_host(step, outputs)
            self.check(trainer, pl_module)  # free on the CPU: stop at once
        else:
            nan = d_loss.new_tensor(float("nan"))
            self.record_on_device(step, torch.stack([d_loss, nan if g_loss is None else g_loss]).float())
            if pl_module.step % self.check_every_n_steps == 0:
                self.check(trainer, pl_module)

    def record_on_host(self, step: int, outputs: dict[str, Tensor]) -> None:
        if self.first is None and not all(math.isfinite(float(value)) for value in outputs.values()):
            self.first = (step, float(outputs["d_loss"]), float(outputs.get("g_loss", float("nan"))))

    def record_on_device(self, step: int, losses: Tensor) -> None:
        if self.on_device is None:
            self.on_device = (torch.full((), -1, device=losses.device), torch.zeros_like(losses))
        first_step, first_losses = self.on_device
        new = losses.isfinite().all().logical_not_() & (first_step < 0)
        first_step.copy_(torch.where(new, step, first_step))
        first_losses.copy_(torch.where(new, losses, first_losses))

    def found(self) -> tuple[int, float, float] | None:
        """(step, d_loss, g_loss) of the first non-finite step so far, or None (on an accelerator: a sync)."""
        if self.first is None and self.on_device is not None and int(self.on_device[0]) >= 0:
            d_loss, g_loss = self.on_device[1].tolist()
            self.first = (int(self.on_device[0]), d_loss, g_loss)
        return self.first

    def check(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        found = self.found()
        if found is None:
            return
        step, d_loss, g_loss = found
        run_dir = Path(trainer.default_root_dir)
        raise NonFiniteLossError(
            f"Training stopped: non-finite loss at training step {step} (train/d_loss={d_loss}, "
            f"train/g_loss={g_loss}), found at step {pl_module.discriminator_updates}. The last good checkpoint is "
            f"kept in {run_dir / 'checkpoints'}; no weights from after the failure were saved. Typical fixes: lower "
            "optim.lr_g / optim.lr_d, add regularizer=r1 or regularizer=gradient_penalty, or use loss=hinge; "
            f"then {resume_hint(run_dir)}."
        )

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer, pl_module)


class GracefulStop(L.Callback):
    """On SIGINT (Ctrl+C) or SIGTERM (a scheduler's notice), finish the current training step, save
    ``checkpoints/last.ckpt`` (atomically) and raise ``Interrupted``; the command line exits with 128 + the
    signal number.

    The checkpoint is written in ``on_train_batch_end``, the point where Lightning's own mid-epoch
    checkpoints are taken, so ``ckpt_path=last`` continues with the next batch of the same epoch (never
    between a D and a G update). Raising, rather than setting ``trainer.should_stop``, keeps Lightning from
    running the epoch-end hooks of a cut-short epoch, whose checkpoint would mark the epoch as finished.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread

        def remember(signum: int, _frame: Any) -> None:
            self.received = signum

        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, remember)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self.received is None:
            return
        self.restore_handlers()
        run_dir = Path(trainer.default_root_dir)
        path = run_dir / "checkpoints" / LAST
        guard = next((c for c in trainer.callbacks if isinstance(c, NonFiniteGuard)), None)
        found = guard.found() if guard is not None else None
        if found is None:
            trainer.save_checkpoint(path, weights_only=False)  # the full training state
            saved = f"saved {path}"
        else:
            saved = f"not saved (losses were non-finite since step {found[0]})"
        name = signal.Signals(self.received).name
        step = pl_module.discriminator_updates
        report = f"Stopped by {name} at training step {step}; {saved}; {resume_hint(run_dir)}."
        raise Interrupted(report, self.received)

    def restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.restore_handlers()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.restore_handlers()
