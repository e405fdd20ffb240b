"""Measures of what a GAN learned. Each metric is a function of samples or features; names carry their
sample budget. ``Evaluation`` runs them all for one dataset."""

from ganforge.metrics.modes import ModeReport, mode_metrics
from ganforge.metrics.suite import Evaluation

__all__ = ["Evaluation", "ModeReport", "mode_metrics"]
