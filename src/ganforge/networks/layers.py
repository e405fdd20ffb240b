"""Layers and helpers shared by every architecture (one copy each, so they cannot drift apart)."""

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ganforge.rules import (
    Rule,
    any_of,
    at_least,
    boolean,
    enum,
    integer,
    is_positive,
    non_negative,
    one_of,
    optional,
    positive,
)

# Arguments that several networks take, each declared once (keys relative to model.generator / model.discriminator;
# networks/__init__.py places them under model.* for the values a model's G and D share).
LATENT_DIM = integer("latent_dim", 1, "100")
HIDDEN_DIM = integer("hidden_dim", 1, "128")
NUM_LAYERS = integer("num_layers", 1, "2")
NEGATIVE_SLOPE = non_negative("negative_slope", "0.2")
WIDTH = integer("width", 1, "64")
INIT_STD = Rule(
    "init_std", "null (PyTorch's default) or a finite number > 0", "0.02", optional(is_positive), ("abc", "0")
)
OUTPUT_ACTIVATIONS = {"tanh": nn.Tanh, "linear": nn.Identity}
# null: what the data calls for (the build passes the data's output_activation)
OUTPUT_ACTIVATION = enum("output_activation", (None, *OUTPUT_ACTIVATIONS), "tanh", "relu", " (what the data calls for)")
BATCH_NORM = boolean("batch_norm")
CODES = Rule("codes", "0 (no code) or an integer >= 2", "25", any_of(one_of(0), at_least(2)), ("abc", "1"))
CODE_SCALE = positive("code_scale", "4")
PACK = integer("pack", 1, "2")


def pack(x: Tensor, m: int) -> Tensor:
    """PacGAN packing: (N, C, ...) -> (N/m, m*C, ...); m consecutive samples become one input to D."""
    if x.shape[0] % m:
        raise ValueError(f"a batch of {x.shape[0]} samples cannot be packed in groups of {m}")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


def unpack(x: Tensor, m: int) -> Tensor:
    """The inverse of ``pack``: (N/m, m*C, ...) -> (N, C, ...)."""
    return x.reshape(x.shape[0] * m, x.shape[1] // m, *x.shape[2:])


class MinibatchStd(nn.Module):
    """Appends one feature: the mean std of the features across each group of samples (Karras et al. 2018).

    (N, C, H, W) -> (N, C+1, H, W), or (N, F) -> (N, F+1). A D that sees how varied a batch is can reject a
    generator whose samples are all alike (mode collapse).
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        group = math.gcd(self.group_size, x.shape[0])  # groups must tile the batch
        y = x.reshape(group, -1, *x.shape[1:])
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # std over each group: (N/group, C, ...)
        y = y.flatten(1).mean(dim=1)  # one number per group
        y = y.repeat(group).reshape(-1, 1, *([1] * (x.dim() - 2)))
        return torch.cat([x, y.expand(-1, 1, *x.shape[2:])], dim=1)


class Maxout(nn.Module):
    """(N, in_features) -> (N, out_features): a Linear to ``pieces * out_features`` units, then for each output the
    max over its ``pieces`` units (Goodfellow et al. 2013; Blocks' ``LinearMaxout``).

    Output o takes the max of units o, o + out_features, o + 2 out_features, ...: the same layer as Blocks' max over
    consecutive units with the rows of the weight matrix in another order (same function class, same i.i.d.
    initialisation), and a max over a strided axis vectorises where one over 5 adjacent values does not.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces
        self.linear = nn.Linear(in_features, pieces * out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.shape[0], self.pieces, -1).amax(dim=1)


class DiscreteCode(nn.Module):
    """z (N, D) -> (N, D): the first ``codes`` coordinates replaced by ``scale`` x the one-hot of their argmax, the
    rest kept.

    The argmax of K independent N(0, 1) coordinates is uniform over the K codes, so a generator that reads z
    through this layer draws from a mixture of K continuous latents while its prior stays z ~ N(0, I): sampling,
    EMA, checkpoints and evaluation are unchanged. A continuous G maps the connected Gaussian onto a disconnected
    target only through "bridges" of samples between the modes (Khayatkhoei et al. 2018, Issenhuth et al. 2022);
    with a discrete code each code's samples can sit in one mode instead. ``scale`` sets how much the code weighs
    beside the continuous coordinates (each N(0, 1)) in the first layer: Adam moves every weight by about its learning
    rate per step, so the code's share of G's first-layer input grows with it.
    """

    def __init__(self, codes: int, scale: float = 1.0) -> None:
        super().__init__()
        CODES.require(codes)
        CODE_SCALE.require(scale)
        if codes == 0:
            raise ValueError("codes=0 is no discrete code: build no DiscreteCode layer")
        self.codes, self.scale = codes, scale

    def forward(self, z: Tensor) -> Tensor:
        head, rest = z[:, : self.codes], z[:, self.codes :]
        one_hot = torch.nn.functional.one_hot(head.argmax(dim=1), self.codes).to(z.dtype)
        return torch.cat([self.scale * one_hot, rest], dim=1)


def normal_init(module: nn.Module, std: float) -> nn.Module:
    """Every Linear and Conv weight ~ N(0, std^2) and its bias 0 (DCGAN's and PacGAN's initialisation), in place;
    normalisation layers keep scale 1 and shift 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every Linear and Conv layer, in place."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, name, spectral_norm(child))
        else:
            apply_spectral_norm(child)
    return module


class Discriminator(nn.Module):
    """samples (N, *in_shape) -> logits (N/pack, 1): the input check, packing and minibatch std shared by
    every discriminator. Subclasses set ``features`` (packed input -> features) and ``head`` (-> one logit),
    then call ``finish``.

    ``pack=m`` (PacGAN): D judges m samples at once, so its first layer takes m times the channels.
    ``minibatch_std``: a MinibatchStd layer between features and head (the head gets one more channel).
    """

    features: nn.Module
    head: nn.Module
    rules: ClassVar[tuple[Rule, ...]] = (PACK, boolean("minibatch_std"), boolean("spectral_norm"))

    def __init__(self, in_shape: Sequence[int], pack: int = 1, minibatch_std: bool = False) -> None:
        super().__init__()
        PACK.require(pack)
        self.in_shape = tuple(int(s) for s in in_shape)
        self.pack = pack
        self.minibatch_std = MinibatchStd() if minibatch_std else nn.Identity()
        self.extra_channels = 1 if minibatch_std else 0

    @property
    def packed_channels(self) -> int:
        return self.in_shape[0] * self.pack

    def finish(self, use_spectral_norm: bool) -> None:
        self.lipschitz = use_spectral_norm  # spectral norm keeps every layer 1-Lipschitz; validation reads this
        if use_spectral_norm:
            apply_spectral_norm(self)

    def embed(self, x: Tensor) -> Tensor:
        """(N, *in_shape) -> (N, F): the features D's head reads, one row per sample, for the linear probe.

        A packed D (pack=m) judges m samples at once; here each sample fills all m slots of its own pack.
        """
        if self.pack > 1:
            x = pack(x.repeat_interleave(self.pack, dim=0), self.pack)
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1:] != self.in_shape:
            raise ValueError(
                f"{type(self).__name__} expects samples of shape {self.in_shape}, got {tuple(x.shape[1:])}"
            )
        if self.pack > 1:
            x = pack(x, self.pack)
        return self.head(self.minibatch_std(self.features(x)))
