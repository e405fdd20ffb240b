"""Data-parallel training for the two-optimizer GAN step: ``trainer=ddp``.

Lightning's DDPStrategy wraps the whole LightningModule in one DistributedDataParallel. A GAN step runs two
backward passes in one forward of that wrapper, each through only part of the parameters (D's update never
reaches G, G's update freezes D), which DDP's reducer rejects ("parameters that were not used in producing the
loss", Lightning issues #20328 and #20866), with or without ``find_unused_parameters=True``.

``GradientAllReduceDDP`` keeps Lightning's process launching, process group, distributed sampler and rank-zero
logging, but wraps nothing: every ``optimizer.step`` (Lightning routes it through ``Strategy.optimizer_step``)
first averages the gradients of that optimizer's parameters across ranks in one all-reduce (StyleGAN2-ADA does
the same), so the GAN module knows nothing of it. That works
for any number of forward and backward passes per step (gradient penalties, R1's double backward, packed or
batch-normalised discriminators). Its measured cost against the alternatives is in the README ("Scaling up").
"""

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch.strategies import DDPStrategy
from torch import nn
from torch.optim import Optimizer

from ganforge.rules import enum


class GradientAllReduceDDP(DDPStrategy):
    """DDP without the DistributedDataParallel wrapper: weights start equal (broadcast from rank 0) and stay
    equal because every optimizer step sees the gradients averaged over all ranks."""

    strategy_name = "ganforge_ddp"
    rules = (
        enum("process_group_backend", (None, "nccl", "gloo", "mpi"), "gloo", "carrier-pigeon",
             " (nccl on GPUs, gloo on CPUs)"),
    )  # fmt: skip

    def configure_ddp(self) -> None:
        broadcast_state(self.model)  # identical starting weights and buffers on every rank

    def optimizer_step(self, optimizer: Optimizer, closure: Callable[[], Any], model: Any = None, **kwargs: Any) -> Any:
        params = [p for group in getattr(optimizer, "param_groups", []) for p in group["params"]]
        average_gradients(params, self.world_size)
        return super().optimizer_step(optimizer, closure, model, **kwargs)


def broadcast_state(module: nn.Module) -> None:
    """Every rank takes rank 0's parameters and buffers (one broadcast per tensor, at the start only)."""
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor, src=0)


def average_gradients(params: list[nn.Parameter], world_size: int) -> None:
    """Average the parameters' gradients over all ranks, in place (one all-reduce of one flat buffer)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads or world_size == 1:
        return
    flat = torch.cat([grad.reshape(-1) for grad in grads])
    dist.all_reduce(flat)
    flat /= world_size
    for grad, average in zip(grads, flat.split([grad.numel() for grad in grads]), strict=True):
        grad.copy_(average.view_as(grad))
