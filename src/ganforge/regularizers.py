"""Penalties added to the discriminator's loss: pure functions of D, samples and outputs; never call backward.

Each regularizer is a small callable with a ``name`` (its TensorBoard tag is ``train/<name>``),
``needs_real_grad`` (whether the real batch must require gradients before D's forward pass, so the penalty
can reuse that pass instead of running D again) and ``provides_lipschitz`` (whether it keeps D Lipschitz, as a
Wasserstein critic needs; validation reads it).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ganforge.rules import Rule, integer, non_negative, text

RULES = (text("regularizer.name", example="r1"),)  # every option, regularizer=none too


def input_gradients(outputs: Tensor, inputs: Tensor) -> Tensor:
    """d(sum of outputs)/d(inputs), kept in the graph so that a penalty on it can be differentiated."""
    (gradients,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return gradients


def gradient_penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, epsilon: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad D(x_hat)||_2 - 1)^2], x_hat = eps*x + (1-eps)*G(z)."""
    eps = epsilon.view(-1, *([1] * (real.dim() - 1)))
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    gradients = input_gradients(discriminator(mixed), mixed)
    return (gradients.flatten(1).norm(2, dim=1) - 1).square().mean()


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): E[||grad D(x)||^2] on real data; ``real`` must have required grad."""
    return input_gradients(real_logits, real).flatten(1).square().sum(dim=1).mean()


@dataclass
class GradientPenalty:
    """``weight`` x WGAN-GP on random interpolates of each real and fake batch (weight 10 in the paper)."""

    weight: float = 10.0
    rules: ClassVar[tuple[Rule, ...]] = (non_negative("weight", "10"),)
    name: ClassVar[str] = "gradient_penalty"
    needs_real_grad: ClassVar[bool] = False
    provides_lipschitz: ClassVar[bool] = True

    def __call__(self, discriminator: nn.Module, real: Tensor, fake: Tensor, real_logits: Tensor, step: int) -> Tensor:
        epsilon = torch.rand(real.shape[0], device=real.device)
        return self.weight * gradient_penalty(discriminator, real, fake, epsilon)


@dataclass
class R1:
    """``gamma``/2 x R1 on the real batch; ``every=k`` applies it lazily every k D steps, scaled by k (StyleGAN2),
    which gives the same expected penalty for a k-th of the cost."""

    gamma: float = 10.0
    every: int = 1
    rules: ClassVar[tuple[Rule, ...]] = (non_negative("gamma", "10"), integer("every", 1, "16"))
    name: ClassVar[str] = "r1"
    needs_real_grad: ClassVar[bool] = True
    provides_lipschitz: ClassVar[bool] = False

    def __call__(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor, real_logits: Tensor, step: int
    ) -> Tensor | None:
        if step % self.every:
            return None
        return self.gamma / 2 * self.every * r1_penalty(real_logits, real)
