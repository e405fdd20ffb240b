"""Sample grids from a fixed noise batch, so that one run's epochs (and different runs) compare at a glance."""

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn
from torch import Tensor
from torchvision.utils import make_grid, save_image


def batch_step(trainer: L.Trainer) -> int:
    """Batches trained so far: the step axis Lightning uses for logged scalars, which we match for images.

    ``trainer.global_step`` would count optimizer steps (two per batch in a GAN) and misalign the two.
    """
    return trainer.fit_loop.epoch_loop._batches_that_stepped


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
        self._warned_no_image_logger = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.fixed_noise is None:  # runs before a checkpoint's state is loaded, which then replaces it
            self.fixed_noise = pl_module.sample_noise(
                self.num_samples, generator=torch.Generator().manual_seed(self.seed)
            ).cpu()

    def state_dict(self) -> dict[str, Any]:
        return {"fixed_noise": self.fixed_noise}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.fixed_noise = state_dict["fixed_noise"]

    @torch.no_grad()
    def grid(self, pl_module: L.LightningModule) -> Tensor:
        """G(fixed noise) as one (C, H, W) image in [0, 1], G in eval mode (matters for BatchNorm)."""
        was_training = pl_module.generator.training
        pl_module.generator.eval()
        try:
            samples = pl_module.generator(self.fixed_noise.to(pl_module.device)).float().cpu()
        finally:
            pl_module.generator.train(was_training)
        nrow = math.ceil(math.sqrt(len(samples)))
        return make_grid(samples, nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))

    @rank_zero_only
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        logged = log_image(trainer, "samples/fixed_noise", self.grid(pl_module), batch_step(trainer))
        if not logged and not self._warned_no_image_logger:
            rank_zero_warn(f"No logger accepts images; sample grids are only written to {self.output_path}.")
            self._warned_no_image_logger = True

    @rank_zero_only
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        save_image(self.grid(pl_module), self.output_path)
