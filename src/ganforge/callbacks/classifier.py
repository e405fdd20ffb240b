"""Evaluation of the semi-supervised GAN's classifier: test accuracy over steps, and the result of the last step.

The test set is the data's held-out split: it is measured here and never trained or tuned on. The reported figure
is the last step's (``test/accuracy``), never the best one seen during training, which would select on the test
set; ``labeled/accuracy`` (the labeled training subset) is what a choice made during training may read. With
``data.labeled.validation_size`` a validation split of the training images is measured instead (``validation/accuracy``)
and the test split is not read.

What is measured is the registered ``accuracy`` metric (``metrics/classes.py``: its direction and needs are the
registry's), under ``names.MetricName``s.
"""

import json
import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor, nn

from ganforge.callbacks.common import EVERY_N_STEPS, OUTPUT_DIR
from ganforge.callbacks.evaluation import log_scalars
from ganforge.data.base import to_unit_range
from ganforge.metrics import REGISTRY  # every metric registered, accuracy among them
from ganforge.metrics.names import MetricName

log = logging.getLogger(__name__)

ACCURACY = REGISTRY["accuracy"]  # registered beside its maths (metrics/classes.py)


def evaluated_split(data: Any = None) -> str:
    """The split the classifier is measured on: ``validation`` with ``data.labeled.validation_size``, else ``test``."""
    return "validation" if data is not None and data.validation_size is not None else "test"


def report(split: str, classifier: nn.Module, images: Tensor, labels: Tensor) -> dict[str, float]:
    """The accuracy metric's values of ``classifier`` on (images, labels), named ``<split>/<value>``."""
    return {str(MetricName(split, name)): value for name, value in ACCURACY.compute(classifier, images, labels).items()}


class ClassifierEvaluation(L.Callback):
    """Logs ``test/accuracy`` and ``labeled/accuracy`` of the module's classifier (the EMA of D) every
    ``every_n_steps`` steps and at the end; writes ``metrics.json`` with the last step's values."""

    rules = (OUTPUT_DIR, EVERY_N_STEPS)

    def __init__(self, output_dir: str, every_n_steps: int = 250) -> None:
        self.output_path = Path(output_dir) / "metrics.json"
        self.every_n_steps = every_n_steps
        self.results: dict[str, float] = {}
        self.started = time.perf_counter()

    def prepare(self, datamodule: Any) -> dict[str, bool]:
        """Before training: the labeled subset is drawn (and a bad one refused); returns what this callback reports
        that compares runs."""
        datamodule.setup("fit")
        return self.directions(datamodule)

    def names(self, data: Any = None) -> dict[MetricName, bool]:
        """What this callback reports (the evaluated split's and the labeled subset's accuracy), with the
        registry's direction."""
        splits = (evaluated_split(data), "labeled")
        return {MetricName(split, name): up for split in splits for name, up in ACCURACY.outputs.items()}

    def directions(self, data: Any = None) -> dict[str, bool]:
        return {str(name): up for name, up in self.names(data).items()}

    def measure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        data = trainer.datamodule
        test_images, test_labels = data.test_set()
        labeled = data.labeled_index
        train_images = to_unit_range(data.train_set.samples[labeled])
        values = report(evaluated_split(data), pl_module.classifier, test_images, test_labels)
        if len(labeled):  # an unsupervised run has no labeled subset
            values |= report("labeled", pl_module.classifier, train_images, data.labels()[0][labeled])
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
        split = str(next(iter(self.names(data))))  # test/accuracy (or validation/accuracy)
        log.info("%s at the last step %d: %.4f (%d images); written to %s", split, pl_module.step,
                 self.results[split], len(data.heldout_set), self.output_path)  # fmt: skip
