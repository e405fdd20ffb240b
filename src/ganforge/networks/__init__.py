"""Generators and discriminators: plain ``nn.Module``s, no Lightning, shapes in the first docstring line.

Every generator exposes ``latent_dim`` and ``out_shape``; every discriminator derives from
``layers.Discriminator``, exposes ``in_shape`` and returns one logit per (packed) sample, shape (N/pack, 1).
"""

from ganforge.networks.classifier import GaussianNoise, NoisyMLPClassifier
from ganforge.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.networks.layers import (
    HIDDEN_DIM,
    LATENT_DIM,
    NEGATIVE_SLOPE,
    NUM_LAYERS,
    WIDTH,
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
from ganforge.rules import text

# model.*: the values a model's G and D share (interpolated into model.generator and model.discriminator).
RULES = (
    text("model.name", example="mlp"),
    *(r.at("model") for r in (LATENT_DIM, HIDDEN_DIM, NUM_LAYERS, NEGATIVE_SLOPE, WIDTH)),
)

__all__ = [
    "RULES",
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
