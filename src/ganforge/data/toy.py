"""2-D Gaussian mixtures on which mode collapse is measured (as defined in VEEGAN and PacGAN)."""

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ganforge.data.base import NUM_SAMPLES, GANDataModule, TensorSamples
from ganforge.rules import Rule, integer, is_number, list_of, optional_integer, positive, text


def ring_centers(num_modes: int = 8, radius: float = 1.0) -> Tensor:
    """``num_modes`` points on a circle at angles 2*pi*i/num_modes, shape (num_modes, 2).

    Not ``linspace(0, 2*pi, num_modes)``: that puts the last angle at 2*pi, on top of the first, and leaves
    num_modes - 1 distinct modes.
    """
    angles = 2 * math.pi * torch.arange(num_modes, dtype=torch.float64) / num_modes
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


ring_centers.rules = (integer("num_modes", 1, "8"), positive("radius", "1.0"))  # type: ignore[attr-defined]


def grid_centers(values: Sequence[float] = (-4, -2, 0, 2, 4)) -> Tensor:
    """Every pair (x, y) of ``values``, shape (len(values)**2, 2)."""
    axis = torch.tensor(list(values), dtype=torch.float32)
    return torch.cartesian_prod(axis, axis)


grid_centers.rules = (  # type: ignore[attr-defined]
    Rule("values", "a list of numbers", "[-4,-2,0,2,4]", list_of(is_number), ("4", "[]")),
)


class TupleSamples(TensorSamples):
    """A fixed pool of samples (N, *shape) served as N m-tuples: column j of the tuples is an independent
    resample, with replacement, of the pool (PacGAN's real m-tuples; fixed for the run, reshuffled each epoch).

    A batch of B tuple indices is (B * m, *shape): the m samples of each tuple side by side, as a packed D reads
    them. ``samples`` stays the pool itself (what evaluation compares with).
    """

    def __init__(self, pool: Tensor, tuple_size: int, generator: torch.Generator) -> None:
        super().__init__(pool)
        self.tuple_size = tuple_size
        self.members = torch.randint(len(pool), (len(pool), tuple_size), generator=generator)

    def __getitem__(self, index: int) -> Tensor:
        return self.samples[self.members[index]]

    def __getitems__(self, indices: Sequence[int] | Tensor) -> Tensor:
        rows = torch.index_select(self.members, 0, torch.as_tensor(indices)).flatten()
        return torch.index_select(self.samples, 0, rows)


class GaussianMixtureDataModule(GANDataModule):
    """Samples (N, 2) from an equal-weight mixture of isotropic Gaussians; ``centers`` and ``std`` are public.

    The training set is ``num_samples`` fixed draws; the held-out set is independent draws of the same
    mixture (``holdout_fraction`` x num_samples) from another seed.

    ``tuples=m`` serves the training set as PacGAN does: ``num_samples`` m-tuples, each column an independent
    resample of the fixed draws (``TupleSamples``), and a batch is ``batch_size`` tuples (``batch_size * m``
    samples) for a D that packs ``m``. ``tuples=null`` serves the draws themselves, ``batch_size`` at a time.
    """

    kind = "points"
    has_labels = True
    rules = (
        *GANDataModule.rules, positive("std", "0.01", "0"), NUM_SAMPLES, text("name", example="ring8"),
        optional_integer("tuples", 1, "2", "plain samples"),
    )  # fmt: skip

    def __init__(
        self,
        centers: Tensor,
        std: float,
        num_samples: int = 100_000,
        name: str = "mixture",
        tuples: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.tuples = tuples
        self.centers = torch.as_tensor(centers, dtype=torch.float32)
        if self.centers.ndim != 2 or self.centers.shape[1] != 2:
            raise ValueError(f"centers must have shape (K, 2), got {tuple(self.centers.shape)}")
        self.std = std
        self.num_samples = num_samples
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def num_classes(self) -> int:
        return len(self.centers)  # the labels are the modes the samples were drawn from

    def modes(self) -> tuple[Tensor, float]:
        return self.centers, self.std

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(n, 2) samples and the index of the mode each was drawn from."""
        modes = torch.randint(len(self.centers), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator) * self.std
        return self.centers[modes] + noise, modes

    def _draws(self) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        train = self.sample(self.num_samples, torch.Generator().manual_seed(self.split_seed))
        n_heldout = round(self.holdout_fraction * self.num_samples)
        return train, self.sample(n_heldout, torch.Generator().manual_seed(self.split_seed + 1))

    def build_splits(self) -> tuple[Dataset, Dataset]:
        (train, _), (heldout, _) = self._draws()
        if self.tuples is None:
            return TensorSamples(train), TensorSamples(heldout)
        resamples = torch.Generator().manual_seed(self.split_seed + 2)
        return TupleSamples(train, self.tuples, resamples), TensorSamples(heldout)

    def labels(self) -> tuple[Tensor, Tensor]:
        """The mode each sample was drawn from."""
        (_, train), (_, heldout) = self._draws()
        return train, heldout
