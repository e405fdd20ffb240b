"""Lightning callbacks: what a run shows and saves besides the training step itself."""

from ganforge.callbacks.checkpoints import PeriodicCheckpoint
from ganforge.callbacks.classifier import ClassifierEvaluation
from ganforge.callbacks.common import TARGET_RULES
from ganforge.callbacks.evaluation import EvaluationCallback
from ganforge.callbacks.rng import RNGState
from ganforge.callbacks.safety import GracefulStop, Interrupted, NonFiniteGuard, NonFiniteLossError
from ganforge.callbacks.samples import SampleGrid
from ganforge.callbacks.schedule import LinearLRDecay

__all__ = [
    "TARGET_RULES",
    "ClassifierEvaluation",
    "EvaluationCallback",
    "GracefulStop",
    "Interrupted",
    "LinearLRDecay",
    "NonFiniteGuard",
    "NonFiniteLossError",
    "PeriodicCheckpoint",
    "RNGState",
    "SampleGrid",
]
