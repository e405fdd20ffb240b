"""Lightning callbacks: what a run shows and saves besides the training step itself."""

from ganforge.callbacks.samples import SampleGrid

__all__ = ["SampleGrid"]
