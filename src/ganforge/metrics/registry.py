"""The metric registry: every metric ganforge can report, declared once with what it needs and which way is better.

A metric is a function registered under a name (as stylegan3's ``metric_main`` does). Its declaration says which
values it reports and whether higher is better for each (``best/*`` tracking, sweep summaries and the HParams tab
read this, never the name), and what it needs of the data and the evaluation:

- ``features``: image features from a feature network (the evaluator, label-free features or Inception);
- ``classifier``: class logits of the evaluator network (trained on the data's labels, evaluation only);
- ``labels``: the data's class labels (evaluation only);
- ``modes``: the mode centres and std of a known mixture (2-D toy data);
- ``points``: samples that are low-dimensional points, compared directly (no feature network).

A data config lists the metrics that fit it (``data.metrics``); ``Evaluation`` skips, with one log line, any whose
needs the data cannot meet. Adding a metric is one function here or beside its maths, plus its name in a data
config.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

NEEDS = frozenset({"features", "classifier", "labels", "modes", "points"})


@dataclass(frozen=True)
class Metric:
    """A registered metric. ``compute(evaluation, samples)`` returns ``{value name: value}`` for ``outputs``.

    ``at_end``: measured once when training ends (the linear probe, whose ``compute`` takes the discriminators to
    probe), not at every evaluation. ``outputs`` maps each reported value to whether higher is better.
    """

    name: str
    outputs: Mapping[str, bool]
    needs: frozenset[str]
    compute: Callable[..., dict[str, float]]
    at_end: bool = False
    description: str = field(default="", compare=False)


REGISTRY: dict[str, Metric] = {}


def register(
    name: str, outputs: Mapping[str, bool], needs: tuple[str, ...] = (), at_end: bool = False
) -> Callable[[Callable[..., dict[str, float]]], Callable[..., dict[str, float]]]:
    """Decorator: register ``compute`` as metric ``name`` (the name a data config lists)."""
    unknown = set(needs) - NEEDS
    if unknown:
        raise ValueError(f"metric {name} needs {sorted(unknown)}; known needs: {sorted(NEEDS)}")

    def decorate(compute: Callable[..., dict[str, float]]) -> Callable[..., dict[str, float]]:
        if name in REGISTRY:
            raise ValueError(f"metric {name} is registered twice")
        doc = (compute.__doc__ or "").strip().splitlines()
        REGISTRY[name] = Metric(name, dict(outputs), frozenset(needs), compute, at_end, doc[0] if doc else "")
        return compute

    return decorate


def lookup(names: Any) -> list[Metric]:
    """The registered metrics for ``names``; an unknown name is a config error naming the known ones."""
    from ganforge.errors import ConfigError

    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise ConfigError(
            f"data.metrics names unknown metrics {unknown}; registered metrics: {', '.join(sorted(REGISTRY))} "
            "(for example data.metrics=[fid,kid])."
        )
    return [REGISTRY[name] for name in names]


def better(higher_is_better: bool, value: float, best: float | None) -> bool:
    """Whether ``value`` beats ``best`` for a metric of this direction (NaN never beats anything)."""
    if value != value:  # NaN
        return False
    if best is None or best != best:
        return True
    return value > best if higher_is_better else value < best
