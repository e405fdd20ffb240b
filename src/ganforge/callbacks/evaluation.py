"""Evaluation during training: ``val/*`` every N epochs, the real-data floor once, and at the end the final
metrics, the linear probe and ``metrics.json`` in the run dir."""

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import OmegaConf
from torch import nn

from ganforge.callbacks.samples import batch_step
from ganforge.metrics.suite import Evaluation, is_better

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


def random_discriminator(run_config: dict[str, Any] | None, seed: int) -> nn.Module | None:
    """A freshly initialised D of the run's architecture (the probe's baseline), or None without a config."""
    if not run_config or "model" not in run_config:
        return None
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return instantiate(OmegaConf.create(run_config["model"]["discriminator"]))


def log_scalars(trainer: L.Trainer, values: dict[str, float], step: int) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(values, step=step)


class EvaluationCallback(L.Callback):
    """Measures the GAN's sampler (the EMA generator when EMA is on) every ``every_n_epochs`` epochs.

    Logged: ``val/*`` (best values kept as ``best/*``, lower-is-better for distances), ``floor/*`` once at step 0,
    ``eval/seconds`` (cost of one evaluation) and, when training ends, ``probe/*``. Everything final is also
    written to ``<run dir>/metrics.json``.
    """

    def __init__(self, evaluation: Evaluation, output_dir: str, every_n_epochs: int = 20, probe: bool = True) -> None:
        self.evaluation = evaluation
        self.output_path = Path(output_dir) / METRICS_FILE
        self.every_n_epochs = every_n_epochs
        self.run_probe = probe
        self.best: dict[str, float] = {}
        self.latest: dict[str, float] = {}
        self.latest_step = -1
        self.seconds: list[float] = []
        self.probe_seconds = 0.0
        self.results: dict[str, float] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.evaluation.datamodule is None:
            self.evaluation.prepare(trainer.datamodule)  # the datamodule is set up before callbacks are
        if self.active:
            self.floor = self.evaluation.floor()

    @property
    def active(self) -> bool:
        return self.evaluation.ready

    def metric_names(self) -> list[str]:
        """Everything this callback logs that compares runs: val/*, best/*, floor/* and probe/* (10 labels)."""
        names = self.evaluation.names()
        floor = [name.replace("val/", "floor/", 1) for name in names]
        best = [name.replace("val/", "best/", 1) for name in names]
        probe_on = self.run_probe and self.evaluation.labeled  # no labels: the probe is skipped
        probe = [f"probe/{source}_10labels" for source in ("d", "random_d", "pixels")] if probe_on else []
        return names + best + floor + (probe if not self.evaluation.toy else [])

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active:
            log_scalars(trainer, self.floor, step=0)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = dict(state_dict["best"])

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        step = batch_step(trainer)
        if step == self.latest_step:
            return self.latest
        start = time.perf_counter()
        values = self.evaluation.measure(pl_module)
        self.seconds.append(time.perf_counter() - start)
        for name, value in values.items():
            key = name.replace("val/", "best/", 1)
            if is_better(name, value, self.best.get(key)):
                self.best[key] = value
        self.latest, self.latest_step = values, step
        log_scalars(trainer, {**values, **self.best, "eval/seconds": self.seconds[-1]}, step)
        return values

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.active:
            return
        final = self.evaluate(trainer, pl_module)
        probe = {}
        if self.run_probe and self.evaluation.labeled:
            start = time.perf_counter()
            discriminators = {"d": pl_module.discriminator}
            baseline = random_discriminator(getattr(pl_module, "run_config", None), self.evaluation.seed + 1)
            if baseline is not None:
                discriminators["random_d"] = baseline.to(pl_module.device)
            probe = self.evaluation.probe(discriminators)
            self.probe_seconds = time.perf_counter() - start
            log.info("linear probe: %.1f s", self.probe_seconds)
            log_scalars(trainer, probe, batch_step(trainer))
        self.results = {**final, **self.best, **self.floor, **probe}
        self.write(trainer)

    @rank_zero_only
    def write(self, trainer: L.Trainer) -> None:
        seconds = sum(self.seconds) / len(self.seconds) if self.seconds else math.nan
        report = {
            "step": batch_step(trainer),
            "epoch": trainer.current_epoch,
            "budget": self.evaluation.budget,
            "features": self.evaluation.features_name,
            "evaluator_heldout_accuracy": self.evaluation.evaluator_accuracy,
            "seconds_per_evaluation": seconds,
            "evaluations": len(self.seconds),
            "probe_seconds": self.probe_seconds,
            "metrics": self.results,
        }
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        self.output_path.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
        log.info("metrics (%.2f s per evaluation) written to %s", seconds, self.output_path)
