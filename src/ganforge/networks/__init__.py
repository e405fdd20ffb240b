"""Generators and discriminators: plain ``nn.Module``s, no Lightning, shapes in the first docstring line.

Every generator exposes ``latent_dim`` and ``out_shape``; every discriminator exposes ``in_shape`` and returns
one logit per sample, shape (N, 1).
"""

from ganforge.networks.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["MLPDiscriminator", "MLPGenerator"]
