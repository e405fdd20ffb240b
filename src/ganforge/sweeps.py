"""Sweep summaries: one table of every job's overrides and final metrics, sorted by the objective.

Written at the end of every multirun (``SweepSummary``, a Hydra callback in conf/hydra/default.yaml) and by
``ganforge-summary <sweep dir>`` (ganforge.lab.sweeps) for an existing sweep: ``summary.csv`` (one row per job, every
metric), ``summary.md`` (one row per setting, mean ± std over seeds when ``seed`` was swept) and the same table
printed. Core: every multirun of ``ganforge-train`` writes it.
"""

import csv
import json
import logging
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from ganforge.errors import DataError

log = logging.getLogger(__name__)


def read_job(job_dir: Path) -> dict[str, Any]:
    """One job's overrides (key -> value as given on the command line), objective name and final metrics (empty
    if unfinished)."""
    overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    config = yaml.safe_load((job_dir / ".hydra" / "config.yaml").read_text()) or {}
    metrics_file = job_dir / "metrics.json"
    report = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    settings = dict(override.partition("=")[::2] for override in overrides)
    return {
        "job": job_dir.name,
        "settings": settings,
        "objective": config.get("objective"),
        "metrics": report.get("metrics", {}),
        "higher_is_better": report.get("higher_is_better", {}),
    }


def find_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job of the sweep, or a DataError saying what ``sweep_dir`` is instead (missing, a file, one run, empty)."""
    sweep_dir = Path(sweep_dir)
    wanted = "give the sweep directory that ganforge-train -m wrote (outputs/multirun/<date>/<time>)"
    if not sweep_dir.exists():
        raise DataError(f"{sweep_dir} does not exist; {wanted}.")
    if not sweep_dir.is_dir():
        raise DataError(f"{sweep_dir} is a file, not a sweep directory; {wanted}.")
    if (sweep_dir / ".hydra" / "overrides.yaml").is_file():
        raise DataError(f"{sweep_dir} is one run's directory, not a sweep's; {wanted}.")
    jobs = [read_job(path.parent.parent) for path in sorted(sweep_dir.glob("*/.hydra/overrides.yaml"))]
    if not jobs:
        raise DataError(f"{sweep_dir} holds no jobs (no <job>/.hydra/overrides.yaml); {wanted}.")
    return jobs


def swept_keys(jobs: list[dict[str, Any]]) -> list[str]:
    """The override keys whose values differ between jobs, in first-seen order."""
    values: dict[str, set[str]] = defaultdict(set)
    for job in jobs:
        for key, value in job["settings"].items():
            values[key].add(value)
    return [key for key, seen in values.items() if len(seen) > 1 or len(jobs) == 1]


def rank(value: float, higher_is_better: bool | None) -> float:
    """Sort key: best first (lower-is-better metrics ascend, the others descend), missing values last."""
    if higher_is_better is None or math.isnan(value):
        return math.inf
    return -value if higher_is_better else value


def direction(jobs: list[dict[str, Any]], objective: str | None) -> bool | None:
    """Whether higher is better for ``objective``, as the jobs' metrics.json record it (the metric registry's
    declaration); None when no job recorded it."""
    return next((job["higher_is_better"][objective] for job in jobs if objective in job["higher_is_better"]), None)


def shown_metrics(jobs: list[dict[str, Any]], objective: str | None) -> list[str]:
    """The objective, then every final ``val/*`` metric the jobs report (the registry's, whatever the data)."""
    names = sorted({name for job in jobs for name in job["metrics"]})
    shown = [name for name in names if name.startswith("val/")]
    return ([objective] if objective in names else []) + [name for name in shown if name != objective]


def group_by_setting(jobs: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """Jobs that differ only in ``seed`` become one row: every metric as a list over seeds."""
    groups: dict[tuple, dict[str, Any]] = {}
    for job in jobs:
        setting = tuple((k, job["settings"].get(k, "")) for k in keys if k != "seed")
        group = groups.setdefault(setting, {"setting": dict(setting), "jobs": [], "metrics": defaultdict(list)})
        group["jobs"].append(job["job"])
        for name, value in job["metrics"].items():
            group["metrics"][name].append(value)
    return list(groups.values())


def format_values(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def summarize(sweep_dir: Path, objective: str | None = None) -> str:
    """Write summary.csv and summary.md into ``sweep_dir``, print the table; returns the Markdown."""
    sweep_dir = Path(sweep_dir)
    jobs = find_jobs(sweep_dir)
    objective = objective or next((job["objective"] for job in jobs if job["objective"]), None)
    keys = swept_keys(jobs)
    metrics = shown_metrics(jobs, objective)
    higher = direction(jobs, objective)
    jobs.sort(key=lambda job: rank(job["metrics"].get(objective, math.nan), higher))
    write_csv(sweep_dir / "summary.csv", jobs, keys)
    groups = group_by_setting(jobs, keys)
    groups.sort(key=lambda group: rank(statistics.mean(group["metrics"].get(objective) or [math.nan]), higher))
    columns = [k for k in keys if k != "seed"] + ["jobs"] + metrics
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table = Table(*columns, title=f"{sweep_dir} (sorted by {objective or 'job'})")
    for group in groups:
        row = [group["setting"][k] for k in keys if k != "seed"] + [str(len(group["jobs"]))]
        row += [format_values(group["metrics"].get(name, [])) for name in metrics]
        lines.append("| " + " | ".join(row) + " |")
        table.add_row(*row)
    seeds = " (mean ± std over seeds)" if "seed" in keys else ""
    markdown = f"Sweep {sweep_dir.name}, {len(jobs)} jobs, sorted by {objective}{seeds}.\n\n" + "\n".join(lines) + "\n"
    (sweep_dir / "summary.md").write_text(markdown)
    Console(width=200).print(table)
    return markdown


def write_csv(path: Path, jobs: list[dict[str, Any]], keys: list[str]) -> None:
    names = sorted({name for job in jobs for name in job["metrics"]})
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["job", *keys, *names])
        for job in jobs:
            row = [job["job"], *(job["settings"].get(k, "") for k in keys), *(job["metrics"].get(n, "") for n in names)]
            writer.writerow(row)


class SweepSummary(Callback):
    """Hydra callback: the sweep summary, written when a multirun ends (basic, Optuna, submitit, ...)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            summarize(sweep_dir, config.get("objective"))
            log.info("sweep summary: %s, %s", sweep_dir / "summary.md", sweep_dir / "summary.csv")
        except DataError as error:  # e.g. every job failed before Hydra saved its config
            log.warning("no sweep summary: %s", error)
