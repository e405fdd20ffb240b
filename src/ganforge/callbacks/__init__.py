"""Lightning callbacks: what a run shows and saves besides the training step itself."""

from ganforge.callbacks.safety import GracefulStop, Interrupted, NonFiniteGuard, NonFiniteLossError
from ganforge.callbacks.samples import SampleGrid

__all__ = ["GracefulStop", "Interrupted", "NonFiniteGuard", "NonFiniteLossError", "SampleGrid"]
