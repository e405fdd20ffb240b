"""What ``ganforge-train`` asks of a callback that measures the run (evaluation of samples, the classifier's accuracy),
whatever the task."""

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Measuring(Protocol):
    """``prepare`` runs before training (bad data fails before any step) and returns the names it reports that
    compare runs, with whether higher is better; ``results`` holds its final figures once training ends."""

    results: dict[str, float]

    def prepare(self, datamodule: Any) -> dict[str, bool]: ...
