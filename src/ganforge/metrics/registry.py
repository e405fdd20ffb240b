"""The metric registry: every metric ganforge can report, declared once with what it needs and which way is better.

A metric is a function registered under a name (as stylegan3's ``metric_main`` does). Its declaration says which
values it reports and whether higher is better for each (``best/*`` tracking, sweep summaries and the HParams tab
read this, never the name), and what it needs of the data and the evaluation:

- ``features``: image features from a feature network (the evaluator, label-free features or Inception);
- ``classifier``: class logits of the evaluator network (trained on the data's labels, evaluation only);
- ``labels``: the data's class labels (evaluation only);
- ``modes``: the mode centres and std of a known mixture (2-D toy data);
- ``points``: samples that are low-dimensional points, compared directly (no feature network);
- ``trained_classifier``: a classifier the run itself trains (the semi-supervised GAN's), measured by
  ``callbacks.ClassifierEvaluation`` rather than by ``Evaluation``.

A data config lists the metrics that fit it (``data.metrics``); ``Evaluation`` skips, with one log line, any whose
needs the data cannot meet. Adding a metric is one function here or beside its maths, plus its name in a data
config. The names it is logged under are ``names.MetricName``s (split, value name, budget).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

NEEDS = frozenset({"features", "classifier", "labels", "modes", "points", "trained_classifier"})


@dataclass(frozen=True)
class Metric:
    """A registered metric. ``compute(evaluation, samples)`` returns ``{value name: value}`` for ``outputs``.

    ``at_end``: measured once when training ends (the linear probe, whose ``compute`` takes the discriminators to
    probe), not at every evaluation; its values are logged under the metric's name as their split
    (``probe/d_10labels``). ``outputs`` maps each value compared across runs to whether higher is better (a metric
    may log more: the probe's other label counts and their stds). A ``trained_classifier`` metric's ``compute``
    takes (classifier, images, labels).
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
    ambiguous = [value for value in outputs if value[-1:].isdigit()]
    if ambiguous:  # fid180 reads back as fid at a budget of 180 (names.MetricName.parse)
        raise ValueError(f"metric {name}: value names {ambiguous} end in a digit, which reads as a sample budget")

    def decorate(compute: Callable[..., dict[str, float]]) -> Callable[..., dict[str, float]]:
        if name in REGISTRY:
            raise ValueError(f"metric {name} is registered twice")
        doc = (compute.__doc__ or "").strip().splitlines()
        REGISTRY[name] = Metric(name, dict(outputs), frozenset(needs), compute, at_end, doc[0] if doc else "")
        return compute

    return decorate


def registered(name: Any) -> bool:
    """Whether ``name`` is a registered metric of samples (the rule of ``data.metrics``, ``ganforge.data.base``): a
    ``trained_classifier`` metric is measured by the task's own callback, never listed by a data config."""
    return isinstance(name, str) and name in REGISTRY and "trained_classifier" not in REGISTRY[name].needs


def lookup(names: Any) -> list[Metric]:
    """The registered metrics for ``names``; an unknown name is a config error naming the known ones."""
    from ganforge.errors import ConfigError

    unknown = [name for name in names if not registered(name)]
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
