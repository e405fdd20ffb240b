"""SNGAN's residual networks for 32x32 images (Miyato et al. 2018, after Gulrajani et al. 2017)."""

from collections.abc import Sequence
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.networks.layers import LATENT_DIM, WIDTH, Discriminator
from ganforge.rules import Rule

_SIZE = 32


def _check_32(shape: tuple[int, ...]) -> None:
    if len(shape) != 3 or shape[1:] != (_SIZE, _SIZE):
        raise ValueError(
            f"model=resnet is built for 32x32 images, got samples of shape {shape}; set data.image_size=32."
        )


class GeneratorBlock(nn.Module):
    """BN, ReLU, 2x nearest upsample, conv 3x3, BN, ReLU, conv 3x3; plus an upsampled 1x1 shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(channels, channels, 3, 1, 1),
            nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1),
        )  # fmt: skip
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.residual(x) + self.shortcut(x)


class DiscriminatorBlock(nn.Module):
    """(ReLU,) conv 3x3, ReLU, conv 3x3, (2x2 average pool); shortcut 1x1 conv (+ pool) when the shape changes.

    ``first``: the block that sees the image, with no ReLU in front (SNGAN's "optimized" block).
    """

    def __init__(self, c_in: int, c_out: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if (c_in != c_out or downsample) else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        skip = F.avg_pool2d(x, 2) if self.first and self.downsample else x
        skip = self.shortcut(skip)
        if self.downsample and not self.first:
            skip = F.avg_pool2d(skip, 2)
        return h + skip


class ResNetGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, C, 32, 32) in [-1, 1]: Linear to 4x4, 3 up-blocks, BN, ReLU, conv, tanh."""

    rules: ClassVar[tuple[Rule, ...]] = (LATENT_DIM, WIDTH)

    def __init__(self, out_shape: Sequence[int], latent_dim: int = 128, width: int = 256) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.out_shape = tuple(int(s) for s in out_shape)
        _check_32(self.out_shape)
        self.width = width
        self.project = nn.Linear(latent_dim, width * 4 * 4)
        self.net = nn.Sequential(
            *(GeneratorBlock(width) for _ in range(3)),
            nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, self.out_shape[0], 3, 1, 1), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.project(z).view(-1, self.width, 4, 4))


class ResNetDiscriminator(Discriminator):
    """images (N, C, 32, 32) -> logits (N/pack, 1): 4 residual blocks (2 down), ReLU, global sum, Linear."""

    rules: ClassVar[tuple[Rule, ...]] = (*Discriminator.rules, WIDTH)

    def __init__(
        self,
        in_shape: Sequence[int],
        width: int = 128,
        spectral_norm: bool = True,
        pack: int = 1,
        minibatch_std: bool = False,
    ) -> None:
        super().__init__(in_shape, pack=pack, minibatch_std=minibatch_std)
        _check_32(self.in_shape)
        self.features = nn.Sequential(
            DiscriminatorBlock(self.packed_channels, width, downsample=True, first=True),
            DiscriminatorBlock(width, width, downsample=True),
            DiscriminatorBlock(width, width, downsample=False),
            DiscriminatorBlock(width, width, downsample=False),
            nn.ReLU(),
        )
        self.head = nn.Sequential(_GlobalSum(), nn.Linear(width + self.extra_channels, 1))
        self.finish(spectral_norm)


class _GlobalSum(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sum(dim=(2, 3))
