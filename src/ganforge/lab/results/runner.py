"""Running the trainings behind a results table: restartable, in parallel, each one's cost recorded.

A run is ``ganforge-train`` with its overrides and a seed, in ``<root>/<name>-seed<k>/``. A run that finished (its
``cost.json`` says so) is kept; an interrupted one (a ``checkpoints/last.ckpt`` but not finished) is resumed where it
stopped (``ckpt_path=last``); the rest are started. ``jobs`` runs go at once, one thread each
(two on two cores). Each run's wall time and CPU time (user + system, from the operating system's accounting of
that process) are added to ``<run>/cost.json``, over resumes too, and its console output goes to
``<root>/logs/<name>-seed<k>.log``.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException

from ganforge.config import validate
from ganforge.errors import ConfigError, DataError
from ganforge.train import CONFIG_DIR


@dataclass(frozen=True)
class Run:
    name: str
    overrides: tuple[str, ...]
    seed: int

    def dir(self, root: Path) -> Path:
        return root / f"{self.name}-seed{self.seed}"


def finished(run: Run, root: Path) -> bool:
    path = run.dir(root) / "cost.json"
    return path.is_file() and json.loads(path.read_text()).get("finished", False)


def set_aside_partial(run: Run, root: Path) -> None:
    """A run killed before its first checkpoint cannot be resumed: its folder is renamed (kept), and it starts over."""
    folder = run.dir(root)
    if folder.is_dir() and not (folder / "checkpoints" / "last.ckpt").is_file():
        folder.rename(folder.with_name(f"{folder.name}.partial-{time.strftime('%Y%m%d-%H%M%S')}"))


def command(run: Run, root: Path) -> list[str]:
    resume = ["ckpt_path=last"] if (run.dir(root) / "checkpoints" / "last.ckpt").is_file() else []
    train = str(Path(sys.executable).parent / "ganforge-train")
    return [train, f"hydra.run.dir={run.dir(root)}", f"seed={run.seed}", "callbacks.progress_bar=null",
            *run.overrides, *resume]  # fmt: skip


def record_cost(run: Run, root: Path, wall: float, cpu: float, done: bool) -> None:
    """Add one process's wall and CPU seconds to the run's ``cost.json`` (and whether the run is now finished)."""
    path = run.dir(root) / "cost.json"
    cost = json.loads(path.read_text()) if path.is_file() else {"wall_seconds": 0.0, "cpu_seconds": 0.0, "parts": 0}
    cost = {"wall_seconds": cost["wall_seconds"] + wall, "cpu_seconds": cost["cpu_seconds"] + cpu,
            "parts": cost["parts"] + 1, "finished": done}  # fmt: skip
    if run.dir(root).is_dir():  # written whole or not at all: a torn cost.json would stop every later table
        partial = path.with_suffix(".json.part")
        partial.write_text(json.dumps(cost) + "\n")
        partial.replace(path)


def execute(runs: Iterable[Run], root: Path, jobs: int = 1) -> list[Run]:
    """Train every unfinished run, ``jobs`` at a time; returns the runs that failed (their logs say why)."""
    pending = [run for run in runs if not finished(run, root)]
    (root / "logs").mkdir(parents=True, exist_ok=True)
    running: dict[int, tuple[Run, float, Any, subprocess.Popen]] = {}
    failed = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    while pending or running:
        while pending and len(running) < jobs:
            run = pending.pop(0)
            set_aside_partial(run, root)
            log = open(root / "logs" / f"{run.name}-seed{run.seed}.log", "a")  # noqa: SIM115 (closed when it ends)
            print("$", " ".join(command(run, root)[1:]), flush=True)
            process = subprocess.Popen(command(run, root), stdout=log, stderr=subprocess.STDOUT, env=env)
            running[process.pid] = (run, time.perf_counter(), log, process)
        pid, status, usage = os.wait4(-1, 0)  # the finished process's own CPU time comes with it
        if pid not in running:
            continue
        run, start, log, process = running.pop(pid)
        log.close()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        done = process.returncode == 0
        record_cost(run, root, time.perf_counter() - start, usage.ru_utime + usage.ru_stime, done)
        if not done:
            failed.append(run)
            print(f"{run.dir(root)} failed; see {root / 'logs' / f'{run.name}-seed{run.seed}.log'}", flush=True)
    return failed


def report(run: Run, root: Path) -> dict:
    path = run.dir(root) / "metrics.json"
    if not path.is_file():
        raise DataError(
            f"{path} does not exist: the table needs that run, and it has not finished; train it with ganforge-results "
            f"{root.name} (without --table-only), or give the --root that holds the finished runs."
        )
    return json.loads(path.read_text())


def check_overrides(overrides: Iterable[Sequence[str]]) -> None:
    """Compose and check ganforge-train's config for each list of ``overrides``, before any run starts: a typo or a
    bad value is one ConfigError now, not a failure of every run."""
    for each in dict.fromkeys(tuple(o) for o in overrides):
        try:
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
                cfg = compose("train", overrides=["paths.output_dir=.", *each])
        except HydraException as error:  # an unknown key or group option, an override Hydra cannot parse
            raise ConfigError(str(error).partition("\nConfig search path")[0]) from error
        validate(cfg, one_line=True)


def cost(run: Run, root: Path) -> dict:
    path = run.dir(root) / "cost.json"
    return (
        json.loads(path.read_text()) if path.is_file() else {"wall_seconds": float("nan"), "cpu_seconds": float("nan")}
    )


def mean_and(values: Sequence[float], spread: str = "std", digits: int = 3, scale: float = 1.0) -> str:
    """ "mean ± std" (or ± standard error with ``spread="se"``) of the finite values; "-" when there are none."""
    numbers = [v * scale for v in values if v == v and abs(v) != float("inf")]
    if not numbers:
        return "-"
    if len(numbers) == 1:
        return f"{numbers[0]:.{digits}f}"
    deviation = statistics.stdev(numbers)
    if spread == "se":
        deviation /= len(numbers) ** 0.5
    return f"{statistics.mean(numbers):.{digits}f} ± {deviation:.{digits}f}"
