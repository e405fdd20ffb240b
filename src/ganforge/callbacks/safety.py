"""Callbacks that keep a run's work safe: stop on non-finite losses, stop cleanly on SIGINT/SIGTERM."""

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import lightning as L

from ganforge.callbacks.samples import batch_step
from ganforge.checkpoints import LAST
from ganforge.errors import GanforgeError

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
    """Reads the GAN's device-side non-finite flag every ``check_every_n_steps`` training steps and at each
    epoch end (before checkpoints are written: Lightning runs checkpoint callbacks last), and stops the run
    with the step and losses named. A checkpoint therefore never holds weights trained on a NaN loss.
    """

    def __init__(self, check_every_n_steps: int = 50) -> None:
        self.check_every_n_steps = check_every_n_steps

    def check(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        found = pl_module.nonfinite()
        if found is None:
            return
        step, d_loss, g_loss = found
        run_dir = Path(trainer.default_root_dir)
        raise NonFiniteLossError(
            f"Training stopped: non-finite loss at training step {step} (train/d_loss={d_loss}, "
            f"train/g_loss={g_loss}), found at step {batch_step(trainer)} (losses are checked every "
            f"{self.check_every_n_steps} steps and at each epoch end). The last good checkpoint is kept in "
            f"{run_dir / 'checkpoints'}; no weights from after the failure were saved. Typical fixes: lower "
            "optim.lr_g / optim.lr_d, add regularizer=r1 or regularizer=gradient_penalty, or use loss=hinge; "
            f"then {resume_hint(run_dir)}."
        )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if batch_step(trainer) % self.check_every_n_steps == 0:
            self.check(trainer, pl_module)

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
        found = pl_module.nonfinite()
        if found is None:
            trainer.save_checkpoint(path)
            saved = f"saved {path}"
        else:
            saved = f"not saved (losses were non-finite since step {found[0]})"
        name = signal.Signals(self.received).name
        report = f"Stopped by {name} at training step {batch_step(trainer)}; {saved}; {resume_hint(run_dir)}."
        raise Interrupted(report, self.received)

    def restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.restore_handlers()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.restore_handlers()
