"""Differentiable augmentation (DiffAugment, Zhao et al. 2020), applied to real and fake samples before D.

Every op is differentiable in its input, so G is trained through the same augmentations D sees and the
augmentations do not leak into the generated distribution. Ops draw their randomness per sample.
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ganforge.rules import names, text

RULES = (text("augment.name", example="diffaugment"),)  # every option, augment=none too


def brightness(x: Tensor) -> Tensor:
    """Add a per-sample offset in [-0.5, 0.5)."""
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def saturation(x: Tensor) -> Tensor:
    """Scale each sample's distance from its per-pixel channel mean by a factor in [0, 2)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean


def contrast(x: Tensor) -> Tensor:
    """Scale each sample's distance from its overall mean by a factor in [0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each sample by up to ``ratio`` of its size along each axis (whole pixels), filling with zeros."""
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy + 1  # +1: index into a 1-pixel zero border
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx + 1
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
    rows, cols = rows.clamp(0, h + 1).expand(n, h, w), cols.clamp(0, w + 1).expand(n, h, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a square of ``ratio`` x the image size at a random centre of each sample."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + 1 - size_y % 2, (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + 1 - size_x % 2, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= cy - size_y // 2) & (rows < cy - size_y // 2 + size_y)
    inside = inside & (cols >= cx - size_x // 2) & (cols < cx - size_x // 2 + size_x)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES: dict[str, tuple[Callable[[Tensor], Tensor], ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}
POLICY = names(
    "policy", "DiffAugment policies (color, translation, cutout)", "[color,translation]", lambda name: name in POLICIES
)


class DiffAugment:
    """Applies the ops of each named policy in order, e.g. ``DiffAugment(["color", "translation", "cutout"])``.

    An empty policy is the identity. Works on images (N, C, H, W).
    """

    kinds = ("images",)  # the data kinds it applies to (GANDataModule.kind); validation reads it
    rules = (POLICY,)

    def __init__(self, policy: Sequence[str] = ("color", "translation", "cutout")) -> None:
        POLICY.require(list(policy))
        self.policy = tuple(policy)
        self.ops = [op for name in self.policy for op in POLICIES[name]]

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"DiffAugment works on images (N, C, H, W), got a tensor of shape {tuple(x.shape)}")
        for op in self.ops:
            x = op(x)
        return x

    def __repr__(self) -> str:
        return f"DiffAugment({list(self.policy)})"
