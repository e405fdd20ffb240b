"""Samples from a fixed noise batch, so that one run's epochs (and different runs) compare at a glance.

They are drawn by the data's preview renderer (``data.preview``: an image grid, or a scatter plot of real vs.
generated points for 2-D data).
"""

import copy
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn
from torch import Tensor
from torchvision.utils import save_image

from ganforge.callbacks.common import EVERY_N_STEPS, OUTPUT_DIR
from ganforge.callbacks.evaluation import EvaluationCallback
from ganforge.previews import ImageGrid
from ganforge.rules import seed


def log_image(trainer: L.Trainer, tag: str, image: Tensor, step: int) -> bool:
    """Send a (C, H, W) image in [0, 1] to every logger that accepts images; False if none did."""
    logged = False
    for logger in trainer.loggers:
        add_image = getattr(logger.experiment, "add_image", None)
        if callable(add_image):
            add_image(tag, image, global_step=step)
            logged = True
    return logged


class SampleGrid(L.Callback):
    """Logs G(fixed noise) under ``samples/`` every ``every_n_steps`` generator updates and when training ends (so
    that a run shorter than the interval shows one too; never twice at one step), and writes ``samples.png`` when
    training ends.

    The fixed noise is drawn from its own seed (so runs of a sweep show the same z) and saved in the
    checkpoint (so a resumed run keeps showing the same z); its size is the preview's ``num_samples``.
    """

    rules = (OUTPUT_DIR, EVERY_N_STEPS, seed("seed"))

    def __init__(self, output_dir: str, every_n_steps: int = 250, seed: int = 0, filename: str = "samples.png") -> None:
        self.output_path = Path(output_dir) / filename
        self.every_n_steps = every_n_steps
        self.logged_step = -1
        self.seed = seed
        self.preview: Any = ImageGrid()
        self.fixed_noise: Tensor | None = None
        self._warned_no_image_logger = False
        self.active = True

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.active = pl_module.generator is not None  # the semi-supervised baseline trains no G: nothing to draw
        if not self.active:
            return
        datamodule = trainer.datamodule  # set up before callbacks are
        if datamodule is not None and datamodule.preview is not None:
            self.preview = datamodule.preview
            self.preview.prepare(datamodule)
        if self.fixed_noise is None:  # runs before a checkpoint's state is loaded, which then replaces it
            generator = torch.Generator().manual_seed(self.seed)
            self.fixed_noise = pl_module.sample_noise(self.preview.num_samples, generator=generator).cpu()

    def state_dict(self) -> dict[str, Any]:
        return {"fixed_noise": self.fixed_noise}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.fixed_noise = state_dict["fixed_noise"]

    @torch.no_grad()
    def render(self, pl_module: L.LightningModule, weights: dict[str, Tensor] | None = None) -> Tensor:
        """G(fixed noise) drawn by the preview as one (C, H, W) image in [0, 1]; the EMA generator when EMA is on,
        in eval mode (which matters for BatchNorm); with ``weights``, a copy of it holding those."""
        generator = pl_module.sampler
        if weights is not None:
            generator = copy.deepcopy(generator)
            generator.load_state_dict(weights)
        was_training = generator.training
        generator.eval()
        try:
            samples = generator(self.fixed_noise.to(pl_module.device)).float().cpu()
        finally:
            generator.train(was_training)
        return self.preview.render(samples)

    def log_grid(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """G(fixed noise) under ``samples/fixed_noise`` at the current step, unless already logged at this step."""
        step = pl_module.step
        if step == self.logged_step:
            return
        self.logged_step = step
        logged = log_image(trainer, "samples/fixed_noise", self.render(pl_module), step)
        if not logged and not self._warned_no_image_logger:
            rank_zero_warn(f"No logger accepts images; sample grids are only written to {self.output_path}.")
            self._warned_no_image_logger = True

    @rank_zero_only
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = pl_module.step
        if self.active and step > 0 and step % self.every_n_steps == 0:
            self.log_grid(trainer, pl_module)

    @rank_zero_only
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The last generator's grid at the last step (skipped when the interval just logged it), and
        ``samples.png``."""
        if not self.active:
            return
        self.log_grid(trainer, pl_module)
        self.write_samples(trainer, pl_module)

    def write_samples(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """``samples.png``: the best generator's samples when evaluation kept one, else the last generator's."""
        evaluation = next((c for c in trainer.callbacks if isinstance(c, EvaluationCallback)), None)
        best = None if evaluation is None else evaluation.best_sampler_weights(pl_module)
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        save_image(self.render(pl_module, best), self.output_path)
