"""Measures of what a GAN learned. Each metric is a registered function (``registry.REGISTRY``) declared beside its
maths, with its direction and what it needs; names carry their sample budget. ``Evaluation`` runs the metrics a
data config selects."""

# Importing the metric modules registers their metrics.
from ganforge.metrics import classes, copying, distances, modes, probe, sliced
from ganforge.metrics.modes import ModeReport, mode_metrics
from ganforge.metrics.registry import REGISTRY, Metric, register
from ganforge.metrics.suite import Evaluation

__all__ = [
    "REGISTRY",
    "Evaluation",
    "Metric",
    "ModeReport",
    "classes",
    "copying",
    "distances",
    "mode_metrics",
    "modes",
    "probe",
    "register",
    "sliced",
]
