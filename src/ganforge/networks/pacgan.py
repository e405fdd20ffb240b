"""The networks of PacGAN's 2-D mixture experiments (Lin et al. 2018), as its public code builds them
(github fjxmlzn/PacGAN, ``synthetic_data_experiments``, after ALI's Blocks bricks).

- G: z (2-D) -> 4 x [Linear without bias -> BatchNorm -> ReLU] of 400 units -> Linear -> a linear output.
- D: 3 maxout layers of 200 units with 5 pieces each -> Linear -> one logit; no BatchNorm, no dropout. Its input is
  a pack of m samples side by side (``pack``, from the shared ``Discriminator``).
- Every Linear weight ~ N(0, 0.02^2), every bias 0; BatchNorm's scale 1 and shift 0 (Blocks' defaults).
"""

import itertools
import math
from collections.abc import Sequence
from typing import ClassVar

from torch import Tensor, nn

from ganforge.networks.layers import (
    BATCH_NORM,
    CODE_SCALE,
    CODES,
    HIDDEN_DIM,
    INIT_STD,
    LATENT_DIM,
    NUM_LAYERS,
    OUTPUT_ACTIVATION,
    OUTPUT_ACTIVATIONS,
    DiscreteCode,
    Discriminator,
    Maxout,
    normal_init,
)
from ganforge.rules import Rule, enum, integer, positive, require_all, unit_interval

ACTIVATIONS = {"relu": nn.ReLU, "softplus": nn.Softplus}
ACTIVATION = enum("activation", tuple(ACTIVATIONS), "relu", "sigmoid")
PIECES = integer("pieces", 1, "5")


class BatchNormMLPGenerator(nn.Module):
    """z (N, latent_dim) ~ N(0, I) -> samples (N, *out_shape), unbounded with the default linear output (in [-1, 1]
    with ``output_activation="tanh"``).

    Hidden layers are Linear without bias (BatchNorm's shift replaces it), BatchNorm with Blocks' ``eps`` (1e-4)
    and running averages updated as ``0.95 running + 0.05 batch`` (``momentum`` 0.05), then ReLU (``activation``;
    the semi-supervised GAN's G uses softplus, as Salimans et al. did). With ``batch_norm=False`` the hidden layers
    are Linear with bias and no BatchNorm, so a sample never depends on the rest of its batch and training-mode
    samples equal eval-mode ones. With ``codes`` = K > 0 the first K
    coordinates of z are read as a discrete code, the one-hot of their argmax (``DiscreteCode``: uniform over the K
    codes, times ``code_scale``), and the other ``latent_dim - K`` stay continuous; z is still drawn from N(0, I).
    """

    rules: ClassVar[tuple[Rule, ...]] = (
        LATENT_DIM, HIDDEN_DIM, NUM_LAYERS, positive("bn_eps", "1e-4"), unit_interval("bn_momentum", "0.05"),
        INIT_STD, ACTIVATION, OUTPUT_ACTIVATION, CODES, CODE_SCALE, BATCH_NORM,
    )  # fmt: skip

    def __init__(
        self,
        out_shape: Sequence[int],
        latent_dim: int = 2,
        hidden_dim: int = 400,
        num_layers: int = 4,
        bn_eps: float = 1e-4,
        bn_momentum: float = 0.05,
        init_std: float | None = 0.02,
        activation: str = "relu",
        output_activation: str = "linear",
        codes: int = 0,
        code_scale: float = 1.0,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        require_all(self.rules, locals())
        if codes and codes >= latent_dim:
            raise ValueError(f"codes={codes} needs 2 <= codes < latent_dim={latent_dim}: the first {codes} "
                             f"coordinates of z pick the code and at least one stays continuous (for example "
                             f"latent_dim={max(codes, 2) + 2})")  # fmt: skip
        self.latent_dim = latent_dim
        self.out_shape = tuple(int(s) for s in out_shape)
        layers: list[nn.Module] = [DiscreteCode(codes, code_scale)] if codes else []
        for i in range(num_layers):
            layers += [
                nn.Linear(latent_dim if i == 0 else hidden_dim, hidden_dim, bias=not batch_norm),
                nn.BatchNorm1d(hidden_dim, eps=bn_eps, momentum=bn_momentum) if batch_norm else nn.Identity(),
                ACTIVATIONS[activation](),
            ]
        output = nn.Linear(hidden_dim, math.prod(self.out_shape))
        self.net = nn.Sequential(*layers, output, OUTPUT_ACTIVATIONS[output_activation]())
        if init_std is not None:
            normal_init(self, init_std)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class MaxoutDiscriminator(Discriminator):
    """samples (N, *in_shape) -> logits (N/pack, 1): ``num_layers`` maxout layers of ``hidden_dim`` units with
    ``pieces`` pieces each (Goodfellow et al. 2013), then a linear logit."""

    rules: ClassVar[tuple[Rule, ...]] = (*Discriminator.rules, HIDDEN_DIM, NUM_LAYERS, PIECES, INIT_STD)

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden_dim: int = 200,
        num_layers: int = 3,
        pieces: int = 5,
        init_std: float | None = 0.02,
        spectral_norm: bool = False,
        pack: int = 1,
        minibatch_std: bool = False,
    ) -> None:
        super().__init__(in_shape, pack=pack, minibatch_std=minibatch_std)
        require_all(self.rules, locals())
        widths = [math.prod(self.in_shape) * pack] + [hidden_dim] * num_layers
        layers = [Maxout(a, b, pieces) for a, b in itertools.pairwise(widths)]
        self.features = nn.Sequential(nn.Flatten(), *layers)
        self.head = nn.Linear(hidden_dim + self.extra_channels, 1)
        if init_std is not None:
            normal_init(self, init_std)
        self.finish(spectral_norm)
