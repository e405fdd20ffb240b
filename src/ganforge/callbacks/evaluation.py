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
from torch import Tensor, nn

from ganforge.callbacks.common import EVERY_N_STEPS, OUTPUT_DIR
from ganforge.checkpoints import BEST, read_checkpoint
from ganforge.errors import ConfigError
from ganforge.metrics.registry import better
from ganforge.metrics.suite import Evaluation
from ganforge.rules import optional_text

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


def random_discriminator(run_config: dict[str, Any] | None, trained: nn.Module, seed: int) -> nn.Module | None:
    """A freshly initialised D of the run's architecture (the probe's baseline), or None without a config."""
    if not run_config or "model" not in run_config:
        return None
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        sized = {"in_shape": trained.in_shape}
        if "num_classes" in run_config["model"]["discriminator"]:  # a classifier D (the semi-supervised task's)
            sized["num_classes"] = trained.num_classes
        return instantiate(OmegaConf.create(run_config["model"]["discriminator"]), **sized)


def log_scalars(trainer: L.Trainer, values: dict[str, float], step: int) -> None:
    for logger in trainer.loggers:
        logger.log_metrics(values, step=step)


class EvaluationCallback(L.Callback):
    """Measures the GAN's sampler (the EMA generator when EMA is on) every ``every_n_steps`` generator updates and
    when training ends.

    Logged: ``val/*`` (best values kept as ``best/*``, in the direction the metric registry declares),
    ``floor/*`` once at step 0, ``eval/seconds`` (cost of one evaluation) and, when training ends, ``probe/*``.
    Everything final is also written to ``<run dir>/metrics.json``.

    The run keeps its best generator: whenever ``monitor`` (a reported value, e.g. ``fid``; by default the first
    value of the data's first metric) improves, the whole training state is written to ``checkpoints/best.ckpt``
    and the sampler's weights are kept, so that ``samples.png`` shows the best generator, not the last one.
    """

    rules = (
        OUTPUT_DIR, EVERY_N_STEPS,
        optional_text("monitor", "null (the data's first metric) or a reported value such as fid", "fid"),
    )  # fmt: skip

    def __init__(
        self, evaluation: Evaluation, output_dir: str, every_n_steps: int = 500, monitor: str | None = None
    ) -> None:
        self.evaluation = evaluation
        self.output_path = Path(output_dir) / METRICS_FILE
        self.best_path = Path(output_dir) / "checkpoints" / BEST
        self.every_n_steps = every_n_steps
        self.monitor = monitor
        self.best_step = -1
        self.best_sampler: dict[str, Tensor] | None = None
        self.best: dict[str, float] = {}
        self.latest: dict[str, float] = {}
        self.latest_step = -1
        self.seconds: list[float] = []
        self.probe_seconds = 0.0
        self.prepare_seconds = 0.0
        self.started = time.perf_counter()  # built with the run: the run's clock, for the evaluation's share
        self.results: dict[str, float] = {}

    def prepare(self, datamodule: Any) -> dict[str, bool]:
        """Before training: read the data and get what the metrics need (feature network, real features, the
        floor; timed), so bad data or a monitor the data does not report fails now; returns what this callback
        reports that compares runs (``directions``)."""
        start = time.perf_counter()
        self.evaluation.prepare(datamodule)
        self.floor = self.evaluation.floor() if self.active else {}
        self.prepare_seconds = time.perf_counter() - start
        if self.active:
            self.monitored()
        return self.directions()

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.evaluation.datamodule is None:
            self.prepare(trainer.datamodule)  # the datamodule is set up before callbacks are

    @property
    def active(self) -> bool:
        return self.evaluation.ready

    def directions(self) -> dict[str, bool]:
        """Everything this callback logs that compares runs, with whether higher is better: the evaluation's
        val/*, floor/* and probe/* names, and best/* for every val/* (from the metric registry)."""
        names = self.evaluation.names()
        best = {name.under("best"): up for name, up in names.items() if name.split == "val"}
        return {str(name): up for name, up in (names | best).items()}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active:
            log_scalars(trainer, self.floor, step=0)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = dict(state_dict["best"])
        self.best_step = state_dict.get("best_step", -1)

    def monitored(self) -> str:
        """The ``val/*`` name that decides the best generator."""
        names = [name for name in self.evaluation.names() if name.split == "val"]
        wanted = [name for name in names if self.monitor and name.name == self.monitor]
        if self.monitor and not wanted:
            raise ConfigError(
                f"callbacks.evaluation.monitor={self.monitor} is not reported on this data; choose one of "
                f"{', '.join(sorted({name.name for name in names}))}."
            )
        return str((wanted or names)[0])

    def keep_best(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write ``best.ckpt`` and keep the sampler's weights (for samples.png)."""
        self.best_step = pl_module.step
        self.best_sampler = {k: v.detach().clone() for k, v in pl_module.sampler.state_dict().items()}
        trainer.save_checkpoint(self.best_path, weights_only=False)  # the full training state
        log.info("best generator so far (%s): step %d, %s", self.monitored(), self.best_step, self.best_path)

    def best_sampler_weights(self, pl_module: L.LightningModule) -> dict[str, Tensor] | None:
        """The best generator's weights: kept in memory since it was measured, else (a resumed run whose best
        came before the resume) read back from ``best.ckpt``; None when there is no best."""
        if self.best_sampler is not None or self.best_step < 0 or not self.best_path.is_file():
            return self.best_sampler
        prefix = "generator." if pl_module.sampler is pl_module.generator else "generator_ema.module."
        state = read_checkpoint(self.best_path)["state_dict"]
        return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        step = pl_module.step
        if step == self.latest_step:
            return self.latest
        start = time.perf_counter()
        values = self.evaluation.measure(pl_module)
        self.seconds.append(time.perf_counter() - start)
        names = {str(name): (name, up) for name, up in self.evaluation.names().items()}
        best = {tag: str(names[tag][0].under("best")) for tag in values}  # val/fid180 -> best/fid180
        improved = {tag for tag, value in values.items() if better(names[tag][1], value, self.best.get(best[tag]))}
        self.best |= {best[tag]: values[tag] for tag in improved}
        self.latest, self.latest_step = values, step
        log_scalars(trainer, {**values, **self.best, "eval/seconds": self.seconds[-1]}, step)
        if self.monitored() in improved:
            self.keep_best(trainer, pl_module)
        return values

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = pl_module.step
        if self.active and step > 0 and step % self.every_n_steps == 0:
            self.evaluate(trainer, pl_module)  # once per step: evaluate() skips a step it has measured

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.active:
            return
        final = self.evaluate(trainer, pl_module)
        start = time.perf_counter()
        baseline = random_discriminator(pl_module.run_config, pl_module.discriminator, self.evaluation.seed + 1)
        fixed = {} if baseline is None else {"random_d": baseline.to(pl_module.device)}
        probe = self.evaluation.at_end({"d": pl_module.discriminator}, fixed)
        if probe:
            self.probe_seconds = time.perf_counter() - start
            log.info("linear probe: %.1f s", self.probe_seconds)
            log_scalars(trainer, probe, pl_module.step)
        self.results = {**final, **self.best, **self.floor, **probe}
        self.write(trainer)

    @rank_zero_only
    def write(self, trainer: L.Trainer) -> None:
        seconds = sum(self.seconds) / len(self.seconds) if self.seconds else math.nan
        spent = self.prepare_seconds + sum(self.seconds) + self.probe_seconds
        run = time.perf_counter() - self.started
        log.info(
            "evaluation took %.1f s of this run's %.1f s (%.1f%%): preparing %.1f s, %d evaluations %.1f s, linear "
            "probe %.1f s", spent, run, 100 * spent / run, self.prepare_seconds, len(self.seconds), sum(self.seconds),
            self.probe_seconds,
        )  # fmt: skip
        report = {
            "step": trainer.lightning_module.step,
            "best_step": self.best_step,  # the step of checkpoints/best.ckpt (and of samples.png)
            "monitor": self.monitored(),
            "epoch": trainer.current_epoch,
            "budget": self.evaluation.budget,
            "features": self.evaluation.features_name,
            "evaluator_heldout_accuracy": self.evaluation.evaluator_accuracy,
            "seconds_per_evaluation": seconds,
            "evaluations": len(self.seconds),
            "probe_seconds": self.probe_seconds,
            "prepare_seconds": self.prepare_seconds,  # feature network, real features and the floor
            "evaluation_seconds": spent,
            "run_seconds": run,  # from building the run to writing this file (start-up before that not included)
            "evaluation_share": spent / run,
            "metrics": self.results,
            "higher_is_better": {name: up for name, up in self.directions().items() if name in self.results},
        }
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        self.output_path.write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
        log.info("metrics (%.2f s per evaluation) written to %s", seconds, self.output_path)
