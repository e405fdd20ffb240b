"""Samples from a fixed noise batch, so that one run's epochs (and different runs) compare at a glance.

Images are shown as a grid; 2-D points (the toy mixtures) as a scatter plot of real vs. generated points.
"""

import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor
from torchvision.utils import make_grid, save_image


def batch_step(trainer: L.Trainer) -> int:
    """Batches trained so far: the step axis Lightning uses for logged scalars, which we match for images.

    ``trainer.global_step`` would count optimizer steps (two per batch in a GAN) and misalign the two.
    """
    return trainer.fit_loop.epoch_loop._batches_that_stepped


def image_grid(samples: Tensor) -> Tensor:
    """(N, C, H, W) samples in [-1, 1] -> one (C, H', W') image in [0, 1], as square as N allows."""
    nrow = math.ceil(math.sqrt(len(samples)))
    return make_grid(samples, nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))


def scatter_plot(real: Tensor, fake: Tensor) -> Tensor:
    """(N, 2) real and generated points -> a (3, H, W) image in [0, 1]; axes fitted to the real points."""
    figure = Figure(figsize=(4, 4), dpi=100)  # no pyplot: no global figure state, no GUI backend
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(real[:, 0], real[:, 1], s=3, color="0.65", label="real")
    axes.scatter(fake[:, 0], fake[:, 1], s=3, color="tab:red", alpha=0.7, label="generated")
    low, high = real.min(dim=0).values, real.max(dim=0).values
    margin = 0.25 * (high - low).max().item()
    axes.set_xlim(low[0].item() - margin, high[0].item() + margin)
    axes.set_ylim(low[1].item() - margin, high[1].item() + margin)
    axes.set_aspect("equal")
    axes.legend(loc="upper right", markerscale=3, fontsize=8)
    figure.tight_layout()
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255


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
    """Logs G(fixed noise) under ``samples/`` every N epochs and writes ``samples.png`` when training ends.

    Image samples are drawn as a grid; 2-D samples as a scatter plot over as many real training points.

    The fixed noise is drawn from its own seed (so runs of a sweep show the same z) and saved in the
    checkpoint (so a resumed run keeps showing the same z).
    """

    def __init__(
        self,
        output_dir: str,
        num_samples: int = 64,
        every_n_epochs: int = 1,
        seed: int = 0,
        filename: str = "samples.png",
    ) -> None:
        self.output_path = Path(output_dir) / filename
        self.num_samples = num_samples
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.fixed_noise: Tensor | None = None
        self.real_points: Tensor | None = None
        self._warned_no_image_logger = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.fixed_noise is None:  # runs before a checkpoint's state is loaded, which then replaces it
            self.fixed_noise = pl_module.sample_noise(
                self.num_samples, generator=torch.Generator().manual_seed(self.seed)
            ).cpu()
        datamodule = trainer.datamodule  # set up before callbacks are
        if len(pl_module.generator.out_shape) == 1 and datamodule is not None:
            self.real_points = datamodule.real_samples(self.num_samples).cpu()

    def state_dict(self) -> dict[str, Any]:
        return {"fixed_noise": self.fixed_noise}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.fixed_noise = state_dict["fixed_noise"]

    @torch.no_grad()
    def render(self, pl_module: L.LightningModule) -> Tensor:
        """G(fixed noise) as one (C, H, W) image in [0, 1]; the EMA generator when EMA is on, in eval mode
        (which matters for BatchNorm)."""
        generator = pl_module.sampler
        was_training = generator.training
        generator.eval()
        try:
            samples = generator(self.fixed_noise.to(pl_module.device)).float().cpu()
        finally:
            generator.train(was_training)
        if self.real_points is not None:
            return scatter_plot(self.real_points, samples)
        return image_grid(samples)

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        logged = log_image(trainer, "samples/fixed_noise", self.render(pl_module), batch_step(trainer))
        if not logged and not self._warned_no_image_logger:
            rank_zero_warn(f"No logger accepts images; sample grids are only written to {self.output_path}.")
            self._warned_no_image_logger = True

    @rank_zero_only
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        save_image(self.render(pl_module), self.output_path)
