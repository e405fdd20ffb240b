"""The reference MLP GAN (Goodfellow et al., 2014, as commonly reproduced)."""

import math
from collections.abc import Sequence
from typing import ClassVar

from torch import Tensor, nn

from ganforge.networks.layers import (
    HIDDEN_DIM,
    LATENT_DIM,
    NEGATIVE_SLOPE,
    NUM_LAYERS,
    OUTPUT_ACTIVATION,
    OUTPUT_ACTIVATIONS,
    Discriminator,
)
from ganforge.rules import Rule, require_all

TRUNK = (HIDDEN_DIM, NUM_LAYERS, NEGATIVE_SLOPE)  # the arguments of the trunk shared by G and D


def _hidden_stack(in_features: int, hidden_dim: int, num_layers: int, negative_slope: float) -> list[nn.Module]:
    """``num_layers`` x (Linear -> LeakyReLU), the trunk shared by G and D."""
    require_all(TRUNK, locals())
    layers: list[nn.Module] = []
    for i in range(num_layers):
        layers += [nn.Linear(in_features if i == 0 else hidden_dim, hidden_dim), nn.LeakyReLU(negative_slope)]
    return layers


class MLPGenerator(nn.Module):
    """z (N, latent_dim) ~ N(0, I) -> samples (N, *out_shape), in [-1, 1] with the default tanh output.

    ``output_activation="linear"`` leaves the output unbounded, for data outside [-1, 1] (the toy mixtures).
    """

    rules: ClassVar[tuple[Rule, ...]] = (LATENT_DIM, *TRUNK, OUTPUT_ACTIVATION)

    def __init__(
        self,
        out_shape: Sequence[int],
        latent_dim: int = 100,
        hidden_dim: int = 128,
        num_layers: int = 2,
        negative_slope: float = 0.2,
        output_activation: str = "tanh",
    ) -> None:
        super().__init__()
        require_all((LATENT_DIM, OUTPUT_ACTIVATION), locals())
        self.latent_dim = latent_dim
        self.out_shape = tuple(int(s) for s in out_shape)
        self.net = nn.Sequential(
            *_hidden_stack(latent_dim, hidden_dim, num_layers, negative_slope),
            nn.Linear(hidden_dim, math.prod(self.out_shape)),
            OUTPUT_ACTIVATIONS[output_activation](),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(Discriminator):
    """samples (N, *in_shape) -> logits (N/pack, 1); the input is flattened, so any sample shape works."""

    rules: ClassVar[tuple[Rule, ...]] = (*Discriminator.rules, *TRUNK)

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden_dim: int = 128,
        num_layers: int = 2,
        negative_slope: float = 0.2,
        spectral_norm: bool = False,
        pack: int = 1,
        minibatch_std: bool = False,
    ) -> None:
        super().__init__(in_shape, pack=pack, minibatch_std=minibatch_std)
        in_features = math.prod(self.in_shape) * pack
        self.features = nn.Sequential(nn.Flatten(), *_hidden_stack(in_features, hidden_dim, num_layers, negative_slope))
        self.head = nn.Linear(hidden_dim + self.extra_channels, 1)
        self.finish(spectral_norm)
