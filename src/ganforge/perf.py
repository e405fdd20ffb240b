"""Speed tricks, in one place: each rests on a measurement on this project's machines (``ganforge-bench``), says
why here, and is applied by ``speed_up`` behind one switch (``speedups=true``, the default; ``speedups=false`` runs
stock PyTorch). The networks themselves read like their papers (``nn.Tanh``); these swap in faster equivalents.
"""

import ctypes
import ctypes.util
import logging
import os

import torch
from torch import Tensor, nn

from ganforge.networks.layers import Maxout
from ganforge.rules import boolean

RULES = (boolean("speedups"),)  # the switch of speed_up

log = logging.getLogger(__name__)


def speed_up(*modules: nn.Module) -> None:
    """Every trick below: the process-wide ones, and the faster layers inside ``modules`` (in place)."""
    skip_nvml_probe_without_gpu()
    reuse_freed_memory()
    for module in modules:
        fast_tanh(module)
        fast_maxout(module)


class _SigmoidTanh(torch.autograd.Function):
    """tanh(x) = 2 sigmoid(2x) - 1 forward; the usual tanh gradient (1 - y^2) backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        y = torch.mul(x, 2.0).sigmoid_().mul_(2.0).sub_(1.0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)  # differentiable: double backward works


class FastTanh(nn.Tanh):
    """``nn.Tanh``, computed as ``2 sigmoid(2x) - 1`` for float32 on the CPU.

    There torch's tanh kernel runs at ~2.5 ns per value against ~0.4 ns for sigmoid (torch 2.14, one thread,
    this project's CI machines), so this form with tanh's own backward is 2.5x faster forward + backward
    (batch 1024 MLP: 2.67 -> 1.07 ms of a ~35 ms step; batch 128: 0.32 -> 0.17 ms). It differs from torch.tanh
    by at most 2e-7 (float32 rounding near 0), far below one 8-bit pixel level. Elsewhere it is torch.tanh.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and x.dtype == torch.float32:
            return _SigmoidTanh.apply(x)
        return torch.tanh(x)


def fast_tanh(module: nn.Module) -> nn.Module:
    """Replace every ``nn.Tanh`` inside ``module`` by ``FastTanh`` (no weights: checkpoints are unchanged)."""
    for name, child in module.named_children():
        if type(child) is nn.Tanh:
            setattr(module, name, FastTanh())
        else:
            fast_tanh(child)
    return module


class _MaskedMax(torch.autograd.Function):
    """max over dim 1 forward; backward sends the gradient through a saved mask of the maxima (ties have
    probability 0 for continuous inputs)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        y = x.amax(dim=1)
        ctx.save_for_backward(x == y.unsqueeze(1))
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return mask * grad.unsqueeze(1)


class FastMaxout(Maxout):
    """``Maxout`` with a cheaper backward for its max.

    torch's ``amax`` backward divides the gradient by the number of maxima, counting a bool mask by a sum that
    first converts it to int64: for PacGAN's D (3 maxout layers, 1,000 units, batch 100) that was ~30% of a
    simultaneous training step (torch.profiler, torch 2.14, 1 thread). Here the mask alone carries the gradient:
    one layer's max forward + backward at batch 200 1.4 -> 0.65 ms. Ties, where the two differ, have probability
    zero for float activations; the backward is itself differentiable (R1 through a maxout D works).
    """

    def forward(self, x: Tensor) -> Tensor:
        return _MaskedMax.apply(self.linear(x).view(x.shape[0], self.pieces, -1))


def fast_maxout(module: nn.Module) -> nn.Module:
    """Make every ``Maxout`` inside ``module`` a ``FastMaxout`` (same weights: checkpoints are unchanged)."""
    for layer in module.modules():
        if type(layer) is Maxout:
            layer.__class__ = FastMaxout
    return module


def skip_nvml_probe_without_gpu() -> None:
    """Stop torch from probing NVML at every optimizer step on a machine without a GPU.

    Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (so that checking for CUDA does not initialise it before
    a fork), and then every ``Adam.step`` asks ``torch.cuda.is_available()``, which loads libnvidia-ml and
    calls nvmlInit each time: ~0.15 ms per optimizer step on our CPU machines, ~3% of a reference MLP step at
    batch 128. With no CUDA device there is nothing a fork could inherit, so the plain check is safe.
    """
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def reuse_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Let glibc keep freed tensor memory for the next step instead of returning it to the OS.

    By default glibc serves blocks above a (dynamic) threshold with fresh ``mmap`` pages and trims the heap once
    a few MB are free, so every training step re-faults the pages of its large activations: ~1,100 page faults
    per step for the reference MLP at batch 1024, which made tanh's backward take 1.2-1.6 ms in the step against
    0.14 ms on reused memory. Serving blocks below 32 MB from the heap and trimming only above 256 MB free: ~0
    faults per step and 28,300-29,900 -> 31,400-32,500 images/s (``ganforge-bench``-style runs of ours, batch
    1024, 1 thread). The cost: the process keeps up to ``trim_threshold`` of freed memory mapped.

    A no-op where the C library is not glibc, or with ``GANFORGE_MALLOC_TUNING=0``. Returns whether it applied.
    """
    if os.environ.get("GANFORGE_MALLOC_TUNING", "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # macOS and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))
