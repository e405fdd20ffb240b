"""The semi-supervised GAN's discriminator: a K-class classifier (Salimans et al. 2016, their MNIST model).

Gaussian noise on the input and after every hidden layer (training mode only) and weight normalisation of every
Linear, as in the paper's permutation-invariant MNIST D; its real/fake logit is the logsumexp of the K class logits
(``ganforge.losses.real_fake_logit``). Used alone (no G, no unlabeled loss) it is the supervised baseline.
"""

import math
from collections.abc import Sequence
from typing import ClassVar

from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from ganforge.rules import Rule, at_least, boolean, list_of, non_negative, optional, require_all


class GaussianNoise(nn.Module):
    """x + N(0, std^2) noise while training; the identity in eval mode."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.std == 0:
            return x
        return x + self.std * x.new_empty(x.shape).normal_()


class NoisyMLPClassifier(nn.Module):
    """samples (N, *in_shape) -> class logits (N, num_classes); ``embed`` gives the last hidden layer (N, F), the
    features that feature matching compares and the linear probe reads."""

    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("num_classes", "null (the data's) or an integer >= 2", "10", optional(at_least(2)), ("abc", "1")),
        Rule("hidden_dims", "a list of integers >= 1", "[500,250]", list_of(at_least(1)), ("500", "[0]")),
        non_negative("input_noise", "0.3"),
        non_negative("hidden_noise", "0.5"),
        boolean("use_weight_norm"),
    )

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        hidden_dims: Sequence[int] = (500, 250, 250),
        input_noise: float = 0.3,
        hidden_noise: float = 0.5,
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        require_all(self.rules, locals())
        self.in_shape = tuple(int(s) for s in in_shape)
        self.num_classes = num_classes
        self.pack = 1
        norm = weight_norm if use_weight_norm else (lambda layer: layer)
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise)]
        width = math.prod(self.in_shape)
        for dim in hidden_dims:
            layers += [norm(nn.Linear(width, dim)), nn.ReLU(), GaussianNoise(hidden_noise)]
            width = dim
        self.features = nn.Sequential(*layers)
        self.head = norm(nn.Linear(width, num_classes))

    def embed(self, x: Tensor) -> Tensor:
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1:] != self.in_shape:
            raise ValueError(
                f"{type(self).__name__} expects samples of shape {self.in_shape}, got {tuple(x.shape[1:])}"
            )
        return self.head(self.features(x))
