"""Metric names carry their sample budget (``fid10k``, ``modes2.5k``), as NVlabs' metric names do."""


def budget_tag(n: int) -> str:
    """180 -> "180", 2500 -> "2.5k", 10000 -> "10k"."""
    return f"{n / 1000:g}k" if n >= 1000 else str(n)
