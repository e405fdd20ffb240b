"""DCGAN (Radford et al. 2016): transposed convolutions with BatchNorm in G, strided convolutions in D."""

import itertools
from collections.abc import Sequence
from typing import ClassVar

from torch import Tensor, nn

from ganforge.networks.layers import BATCH_NORM, LATENT_DIM, WIDTH, Discriminator
from ganforge.rules import Rule


def upsampling_plan(image_size: int) -> tuple[int, int]:
    """(base resolution, number of 2x up/down-samplings): 28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4)."""
    for base in (4, 7):
        steps, size = 0, image_size
        while size > base and size % 2 == 0:
            size, steps = size // 2, steps + 1
        if size == base and steps >= 1:
            return base, steps
    raise ValueError(
        f"model=dcgan makes square images of 4*2^k or 7*2^k pixels (28, 32, 64, 128, ...), not {image_size}; "
        "set data.image_size to one of those."
    )


def _square_image_size(shape: tuple[int, ...]) -> int:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"model=dcgan needs square images (C, S, S), got samples of shape {shape}")
    return shape[1]


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) ~ N(0, I) -> images (N, C, S, S) in [-1, 1]; S = 4*2^k or 7*2^k.

    Linear to base x base x (width * 2^(k-1)) channels, then k x [BN, ReLU, ConvTranspose 4x4 stride 2]
    halving the channels, then BN, ReLU, Conv 3x3 to C channels, tanh.
    """

    rules: ClassVar[tuple[Rule, ...]] = (LATENT_DIM, WIDTH)

    def __init__(self, out_shape: Sequence[int], latent_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.out_shape = tuple(int(s) for s in out_shape)
        base, steps = upsampling_plan(_square_image_size(self.out_shape))
        channels = [width * 2 ** (steps - 1 - i) for i in range(steps)] + [width]
        self.base_shape = (channels[0], base, base)
        self.project = nn.Linear(latent_dim, channels[0] * base * base)
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(channels):
            layers += [nn.BatchNorm2d(c_in), nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, self.out_shape[0], 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.project(z).view(-1, *self.base_shape))


class DCGANDiscriminator(Discriminator):
    """images (N, C, S, S) -> logits (N/pack, 1): k x [Conv 4x4 stride 2, (BN), LeakyReLU(0.2)], Linear.

    No BatchNorm on the first layer (as in DCGAN); ``batch_norm=false`` removes it everywhere, as gradient
    penalties and spectral normalisation call for.
    """

    rules: ClassVar[tuple[Rule, ...]] = (*Discriminator.rules, WIDTH, BATCH_NORM)

    def __init__(
        self,
        in_shape: Sequence[int],
        width: int = 64,
        batch_norm: bool = True,
        spectral_norm: bool = False,
        pack: int = 1,
        minibatch_std: bool = False,
    ) -> None:
        super().__init__(in_shape, pack=pack, minibatch_std=minibatch_std)
        base, steps = upsampling_plan(_square_image_size(self.in_shape))
        channels = [self.packed_channels] + [width * 2**i for i in range(steps)]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(itertools.pairwise(channels)):
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not (batch_norm and i > 0)))
            if batch_norm and i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear((channels[-1] + self.extra_channels) * base * base, 1))
        self.finish(spectral_norm)
