"""Deterministic stand-ins for failures that are hard to cause on purpose (a diverging loss, no internet).

They are named from configs with ``_target_=tests.faults...``, so runs go through the same code as users'.
"""

from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from ganforge.data import MNISTDataModule
from ganforge.losses import GANLoss, d_logistic_loss, g_nonsaturating_loss


class NaNAfter:
    """D's logistic loss, which turns NaN after ``calls`` calls: a run that diverges at a known step."""

    def __init__(self, calls: int) -> None:
        self.calls, self.count = calls, 0

    def __call__(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        self.count += 1
        loss = d_logistic_loss(real_logits, fake_logits)
        return loss * float("nan") if self.count > self.calls else loss


def nan_after(calls: int) -> GANLoss:
    """The non-saturating game whose D loss turns NaN after ``calls`` calls (``loss._target_=tests.faults.nan_after``
    ``+loss.calls=N``)."""
    return GANLoss(NaNAfter(calls), g_nonsaturating_loss)


class _Unreachable:
    """torchvision's dataset class on a machine without internet, without touching the network."""

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: Name or service not known")


class OfflineMNIST(MNISTDataModule):
    torchvision_class = _Unreachable


class SideEffect:
    """Unpickling this object creates ``marker``: a stand-in for code hidden in a downloaded file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


class ProgressFile(L.Callback):
    """A callback that writes the trainer's optimizer-step count to ``path`` after every batch, so a test
    knows how far a run in another process got before it killed it."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_end(self, trainer, *args) -> None:
        self.path.write_text(str(trainer.global_step))


class NoiseProbe(L.Callback):
    """Writes, per rank, the first 4 numbers the GAN's noise would draw at the first training step (then puts
    torch's random state back, so the run itself is unchanged): ``<path>.rank<r>``; and when training ends, the
    sum of every G and D parameter: ``<path>.weights.rank<r>``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.done = False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        if self.done:
            return
        state = torch.get_rng_state()
        Path(f"{self.path}.rank{trainer.global_rank}").write_text(repr(torch.randn(4).tolist()))
        torch.set_rng_state(state)
        self.done = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        sums = [float(p.double().sum()) for p in pl_module.parameters()]
        Path(f"{self.path}.weights.rank{trainer.global_rank}").write_text(repr(sums))
