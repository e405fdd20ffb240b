"""Names of reported values: a split, a value and, for measured samples, their budget (``val/fid180``,
``floor/modes2.5k``), as NVlabs' metric names carry theirs.

A name is built and read as a ``MetricName`` (split, name, budget), never edited as a string: ``str()`` gives the
tag that TensorBoard, ``metrics.json`` and sweeps show, and ``MetricName.parse`` reads one back.

- ``val/<value><budget>``: the generator's samples; ``best/...``: the best ``val`` value so far;
  ``floor/...``: the held-out real samples (the real-data floor);
- ``probe/<source>_<n>labels``: the linear probe (no budget: it reads every labelled sample);
- ``test/accuracy``, ``validation/accuracy``, ``labeled/accuracy``: the semi-supervised classifier.
"""

import re
from dataclasses import dataclass, replace

_BUDGET = re.compile(r"(?P<name>.*?)(?P<budget>\d+(?:\.\d+)?k|\d+)")


def budget_tag(n: int) -> str:
    """180 -> "180", 2500 -> "2.5k", 10000 -> "10k"."""
    return f"{n / 1000:g}k" if n >= 1000 else str(n)


def parse_budget(tag: str) -> int:
    """The inverse of ``budget_tag``: "180" -> 180, "2.5k" -> 2500."""
    return round(float(tag[:-1]) * 1000) if tag.endswith("k") else int(tag)


@dataclass(frozen=True)
class MetricName:
    """``split/name[budget]``: e.g. ``MetricName("val", "fid", 180)`` is ``val/fid180``; ``budget`` is None for
    values that carry none (``probe/d_10labels``, ``test/accuracy``).

    A value's name never ends in a digit (the registry refuses one), so that the budget reads back unambiguously.
    """

    split: str
    name: str
    budget: int | None = None

    def __str__(self) -> str:
        return f"{self.split}/{self.name}{'' if self.budget is None else budget_tag(self.budget)}"

    def under(self, split: str) -> "MetricName":
        """The same value under another split: ``val/fid180`` -> ``best/fid180``."""
        return replace(self, split=split)

    @classmethod
    def parse(cls, tag: str) -> "MetricName":
        """``"val/fid2.5k"`` -> ``MetricName("val", "fid", 2500)``; a tag with no trailing budget has none."""
        split, slash, rest = tag.partition("/")
        if not slash or not split or not rest:
            raise ValueError(f"{tag!r} is not a metric name of the form <split>/<name>[budget], e.g. val/fid180")
        match = _BUDGET.fullmatch(rest)
        if match is None or not match["name"]:
            return cls(split, rest)
        return cls(split, match["name"], parse_budget(match["budget"]))
