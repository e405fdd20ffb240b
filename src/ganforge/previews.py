"""How samples are drawn for a person to look at: the renderer a data config selects (``data.preview``).

Images are shown as a grid; low-dimensional points (the 2-D mixtures) as a scatter plot of generated points over
as many real training points. The sample-grid callback and ``ganforge-sample`` both draw through these, so neither
asks what kind of data it has.
"""

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor
from torchvision.utils import make_grid, save_image

from ganforge.rules import integer

RULES_OF_A_PREVIEW = (integer("num_samples", 1, "64"),)  # each renderer's arguments


def image_grid(samples: Tensor, nrow: int | None = None) -> Tensor:
    """(N, C, H, W) samples in [-1, 1] -> one (C, H', W') image in [0, 1], as square as N allows."""
    nrow = nrow or math.ceil(math.sqrt(len(samples)))
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


class ImageGrid:
    """Image samples as one grid; ``save`` also writes every sample as its own PNG (for external FID tools)."""

    rules = RULES_OF_A_PREVIEW

    def __init__(self, num_samples: int = 64) -> None:
        self.num_samples = num_samples

    def prepare(self, datamodule: Any) -> None:
        """Nothing to read from the data."""

    def render(self, samples: Tensor, nrow: int | None = None) -> Tensor:
        return image_grid(samples.float().cpu(), nrow)

    def save(self, samples: Tensor, folder: Path) -> None:
        save_image(self.render(samples), folder / "grid.png")
        images = folder / "images"
        images.mkdir()
        for i, image in enumerate(samples):
            save_image(image, images / f"{i:05d}.png", normalize=True, value_range=(-1, 1))


class Scatter:
    """2-D samples as a scatter plot over ``num_samples`` real training points; ``save`` also writes a CSV."""

    rules = RULES_OF_A_PREVIEW

    def __init__(self, num_samples: int = 1000) -> None:
        self.num_samples = num_samples
        self.real: Tensor | None = None

    def prepare(self, datamodule: Any) -> None:
        """Keep a fixed set of real points to draw under the generated ones."""
        datamodule.setup("fit")
        self.real = datamodule.real_samples(self.num_samples).cpu()

    def render(self, samples: Tensor, nrow: int | None = None) -> Tensor:
        return scatter_plot(self.real, samples.float().cpu())

    def save(self, samples: Tensor, folder: Path) -> None:
        np.savetxt(folder / "samples.csv", samples.cpu().numpy(), delimiter=",", header="x,y", comments="")
        save_image(self.render(samples), folder / "scatter.png")
