"""Deterministic stand-ins for failures that are hard to cause on purpose (a diverging loss, no internet).

They are named from configs with ``_target_=tests.faults...``, so runs go through the same code as users'.
"""

from pathlib import Path

import lightning as L
from torch import Tensor

from ganforge.data import MNISTDataModule
from ganforge.losses import d_logistic_loss


class NaNAfter:
    """D's logistic loss, which turns NaN after ``calls`` calls: a run that diverges at a known step."""

    def __init__(self, calls: int) -> None:
        self.calls, self.count = calls, 0

    def __call__(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        self.count += 1
        loss = d_logistic_loss(real_logits, fake_logits)
        return loss * float("nan") if self.count > self.calls else loss


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
