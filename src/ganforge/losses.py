"""Adversarial losses as pure functions of discriminator logits.

Every function takes raw logits (never probabilities): ``softplus`` forms are the numerically stable
equivalents of ``-log(sigmoid(.))`` and never saturate to ``log(0)``. Functions return a scalar tensor and
never call ``backward``; the LightningModule owns the optimisation.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's loss for the original GAN game: -[log D(x) + log(1 - D(G(z)))], averaged over each batch."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """G's non-saturating loss -log D(G(z)): strong gradients while D still rejects the fakes."""
    return F.softplus(-fake_logits).mean()


def g_minimax_loss(fake_logits: Tensor) -> Tensor:
    """G's literal minimax loss log(1 - D(G(z))); its gradient vanishes when D confidently rejects fakes."""
    return -F.softplus(fake_logits).mean()


@dataclass(frozen=True)
class GANLoss:
    """A pair of losses that form one adversarial game; chosen in ``conf/loss/``.

    ``discriminator(real_logits, fake_logits)`` is minimised by D, ``generator(fake_logits)`` by G.
    """

    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[[Tensor], Tensor]
