"""Measures of what a GAN learned. Each metric is a function of samples; names carry their sample budget."""

from ganforge.metrics.modes import ModeReport, mode_metrics

__all__ = ["ModeReport", "mode_metrics"]
