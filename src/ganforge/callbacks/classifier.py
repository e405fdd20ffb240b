"""Evaluation of the semi-supervised GAN's classifier: test accuracy over steps, and the result of the last step.

The test set is the data's held-out split: it is measured here and never trained or tuned on. The reported figure
is the last step's (``test/accuracy``), never the best one seen during training, which would select on the test
set; ``labeled/accuracy`` (the labeled training subset) is what a choice made during training may read. With
``ssl.validation_size`` a validation split of the training images is measured instead (``validation/accuracy``)
and the test split is not read.
"""

import json
import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor, nn

from ganforge.callbacks.evaluation import log_scalars
from ganforge.data.base import to_unit_range

log = logging.getLogger(__name__)


@torch.no_grad()
def accuracy(classifier: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """The share of ``images`` that ``classifier`` (in eval mode) assigns to their label."""
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    predictions = torch.cat([classifier(batch.to(device)).argmax(dim=1).cpu() for batch in images.split(batch_size)])
    classifier.train(was_training)
    return float((predictions == labels).float().mean())


class ClassifierEvaluation(L.Callback):
    """Logs ``test/accuracy`` and ``labeled/accuracy`` of the module's classifier (the EMA of D) every
    ``every_n_steps`` steps and at the end; writes ``metrics.json`` with the last step's values."""

    def __init__(self, output_dir: str, every_n_steps: int = 250) -> None:
        self.output_path = Path(output_dir) / "metrics.json"
        self.every_n_steps = every_n_steps
        self.results: dict[str, float] = {}
        self.started = time.perf_counter()

    def directions(self, data: Any = None) -> dict[str, bool]:
        split = "validation" if data is not None and data.validation_size is not None else "test"
        return {f"{split}/accuracy": True, "labeled/accuracy": True}

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        data = trainer.datamodule
        test_images, test_labels = data.test_set()
        labeled = data.labeled_index
        train_images = to_unit_range(data.train_set.samples[labeled])
        split = next(iter(self.directions(data)))
        values = {split: accuracy(pl_module.classifier, test_images, test_labels)}
        if len(labeled):  # an unsupervised run has no labeled subset
            values["labeled/accuracy"] = accuracy(pl_module.classifier, train_images, data.labels()[0][labeled])
        log_scalars(trainer, values, pl_module.step)
        return values

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if pl_module.step % self.every_n_steps == 0:
            self.measure(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.results = self.measure(trainer, pl_module)
        self.write(trainer, pl_module)

    @rank_zero_only
    def write(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        report = {
            "step": pl_module.step,
            "labels_per_class": data.labels_per_class,
            "draw": data.draw,
            "labeled": len(data.labeled_index),
            "evaluated_size": len(data.heldout_set),  # the test split, or the validation split
            "run_seconds": time.perf_counter() - self.started,
            "metrics": self.results,
            "higher_is_better": self.directions(data),
        }
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        self.output_path.write_text(json.dumps(report, indent=2) + "\n")
        split = next(iter(self.directions(data)))
        log.info("%s at the last step %d: %.4f (%d images); written to %s", split, pl_module.step,
                 self.results[split], len(data.heldout_set), self.output_path)  # fmt: skip
