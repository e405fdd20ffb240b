"""The random state of a run, checkpointed so that a resumed run draws the same numbers as an uninterrupted one."""

import random
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _offset_by_rank() -> None:
    """Give each process its own stream (noise differs across ranks), derived from the current state."""
    rank = _rank()
    if rank:
        torch.manual_seed(int(torch.randint(2**62, ())) + rank)


class RNGState(L.Callback):
    """Saves and restores torch's CPU (and CUDA) generators, numpy's and Python's in every checkpoint.

    Everything ganforge draws during training (noise, augmentation, shuffling seeds) comes from these; the
    sample grid and evaluation use their own seeded generators. Under DDP every rank gets its own stream
    (offset by its rank), so the ranks draw different noise.
    """

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        _offset_by_rank()  # a resumed run's load_state_dict replaces this with the saved state, offset again

    def state_dict(self) -> dict[str, Any]:
        numpy_state = np.random.get_state()
        version, keys, gauss = random.getstate()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            # plain numbers and lists only: checkpoints are read with weights_only=True
            "numpy": [numpy_state[0], numpy_state[1].tolist(), *map(float, numpy_state[2:])],
            "python": [version, list(keys), gauss],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        name, keys, position, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), int(position), int(has_gauss), cached))
        version, keys, gauss = state_dict["python"]
        random.setstate((version, tuple(keys), gauss))
        _offset_by_rank()
