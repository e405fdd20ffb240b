"""Generators and discriminators: plain ``nn.Module``s, no Lightning, shapes in the first docstring line.

Every generator exposes ``latent_dim`` and ``out_shape``; every discriminator derives from
``layers.Discriminator``, exposes ``in_shape`` and returns one logit per (packed) sample, shape (N/pack, 1).
"""

from ganforge.networks.classifier import GaussianNoise, NoisyMLPClassifier
from ganforge.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.networks.layers import (
    DiscreteCode,
    Discriminator,
    Maxout,
    MinibatchStd,
    apply_spectral_norm,
    normal_init,
    pack,
    unpack,
)
from ganforge.networks.mlp import MLPDiscriminator, MLPGenerator
from ganforge.networks.pacgan import BatchNormMLPGenerator, MaxoutDiscriminator
from ganforge.networks.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "BatchNormMLPGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DiscreteCode",
    "Discriminator",
    "GaussianNoise",
    "MLPDiscriminator",
    "MLPGenerator",
    "Maxout",
    "MaxoutDiscriminator",
    "MinibatchStd",
    "NoisyMLPClassifier",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "apply_spectral_norm",
    "normal_init",
    "pack",
    "unpack",
]
