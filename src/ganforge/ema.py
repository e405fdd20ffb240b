"""Exponential moving average of the generator's weights (Yazici et al. 2019; used by ProGAN, StyleGAN, BigGAN).

Built on ``torch.optim.swa_utils.AveragedModel``; we only supply the update rule, as one foreach kernel pair
per dtype group instead of a Python loop over parameters.
"""

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from ganforge.rules import boolean, fraction

RULES = (fraction("ema.decay", "0.999", "off"), boolean("ema.warmup"))


def ema_decay(num_averaged: Tensor, decay: float, warmup: bool) -> Tensor:
    """The decay for the next update: ``decay``, or with warm-up min(decay, (1 + n) / (10 + n)) after n
    updates, so early averages are not dominated by the random initial weights."""
    if not warmup:
        return torch.full_like(num_averaged, decay, dtype=torch.float32)
    n = num_averaged.float()
    return torch.clamp((1 + n) / (10 + n), max=decay)


def ema_update_fn(decay: float, warmup: bool):
    """AveragedModel's ``multi_avg_fn``: ema <- d * ema + (1 - d) * current; non-float buffers are copied."""

    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        if not averaged[0].is_floating_point():  # e.g. BatchNorm's num_batches_tracked
            torch._foreach_copy_(averaged, current)
            return
        d = ema_decay(num_averaged, decay, warmup).to(averaged[0].dtype)
        torch._foreach_mul_(averaged, d)
        torch._foreach_add_(averaged, torch._foreach_mul(current, 1 - d))

    return update


def averaged_generator(generator: nn.Module, decay: float, warmup: bool = True) -> AveragedModel:
    """A copy of ``generator`` whose weights and buffers (BatchNorm statistics too) track its EMA."""
    return AveragedModel(generator, multi_avg_fn=ema_update_fn(decay, warmup), use_buffers=True)
