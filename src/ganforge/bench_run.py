"""``ganforge-bench-run``: the whole run a user starts, timed against a hand-written script doing the same work.

    ganforge-bench-run                                  # reference MLP on the digits, batch 128, 5 pairs
    ganforge-bench-run --batch-size 1024 --epochs 100 500

``ganforge-bench`` times the training step alone; this times what a user runs: ``ganforge-train`` as a command, with
the reference MLP GAN's settings (``regularizer=none ema.decay=null``: what the script trains), start-up, data and
the default callbacks (checkpoints, sample grids, TensorBoard logging, progress bar; evaluation off
here, its cost is printed by every run that has it) against ``python -m ganforge.bench_loop`` (the same
networks, data and periodic checkpoints and grids, written the usual way). Each is run for two lengths; the per-step
cost is the difference of their wall times over the difference of their steps (so start-up cancels), and start-up
is what remains of the short run. Runs alternate (ours short, ours long, hand short, hand long, ...), one thread each.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

DIGITS_TRAIN = 1617  # the digits' 90% training split
# The reference MLP GAN, as the hand-written script trains it (the default run adds R1 and an EMA of G).
REFERENCE = ("data=digits", "regularizer=none", "ema.decay=null")


@dataclass
class Timing:
    seconds: list[float]  # wall time of each run, in the order of ``epochs``
    steps: list[int]

    @property
    def per_step(self) -> float:
        return (self.seconds[1] - self.seconds[0]) / (self.steps[1] - self.steps[0])

    @property
    def startup(self) -> float:
        return self.seconds[0] - self.steps[0] * self.per_step


def timed(command: list[str]) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def ours(epochs: int, batch_size: int, folder: Path, extra: list[str]) -> float:
    train = str(Path(sys.executable).parent / "ganforge-train")
    return timed([train, *REFERENCE, f"data.batch_size={batch_size}", f"trainer.max_epochs={epochs}",
                  "callbacks.evaluation=null", f"hydra.run.dir={folder}", *extra])  # fmt: skip


def hand(epochs: int, batch_size: int, folder: Path) -> float:
    return timed([sys.executable, "-m", "ganforge.bench_loop", f"--epochs={epochs}", f"--batch-size={batch_size}",
                  f"--out={folder}"])  # fmt: skip


def measure(pairs: int, epochs: list[int], batch_size: int, extra: list[str]) -> tuple[list[Timing], list[Timing]]:
    steps = [e * (DIGITS_TRAIN // batch_size) for e in epochs]
    results: tuple[list[Timing], list[Timing]] = ([], [])
    with tempfile.TemporaryDirectory(prefix="ganforge-bench-run-") as tmp:
        for pair in range(pairs):
            runs = [Path(tmp) / f"{pair}-{kind}-{e}" for kind in ("ours", "hand") for e in epochs]
            ours_runs, hand_runs = zip(epochs, runs[:2], strict=True), zip(epochs, runs[2:], strict=True)
            results[0].append(Timing([ours(e, batch_size, run, extra) for e, run in ours_runs], steps))
            results[1].append(Timing([hand(e, batch_size, run) for e, run in hand_runs], steps))
    return results


def report(batch_size: int, epochs: list[int], ours_t: list[Timing], hand_t: list[Timing]) -> dict:
    ratios = [h.per_step / o.per_step for o, h in zip(ours_t, hand_t, strict=True)]
    table = Table("", "per step, ms (median, min-max)", "start-up, s (median)", title=(
        f"whole runs, digits, batch {batch_size}, {epochs[0]} and {epochs[1]} epochs, {len(ratios)} pairs, 1 thread"
    ))  # fmt: skip
    for name, timings in (("ganforge-train", ours_t), ("hand-written loop", hand_t)):
        per_step = [1e3 * t.per_step for t in timings]
        table.add_row(name, f"{statistics.median(per_step):.2f} ({min(per_step):.2f}-{max(per_step):.2f})",
                      f"{statistics.median(t.startup for t in timings):.2f}")  # fmt: skip
    Console(width=160).print(table)
    print(f"per-step speed, hand-written / ours (1.0 = as fast): median {statistics.median(ratios):.3f}; pairs "
          + " ".join(f"{r:.3f}" for r in ratios))  # fmt: skip
    return {"batch_size": batch_size, "epochs": epochs, "ratios": ratios, "ours": [asdict(t) for t in ours_t],
            "hand": [asdict(t) for t in hand_t]}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--epochs", type=int, nargs=2, default=[50, 250], help="the short and the long run")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[128])
    parser.add_argument("--output", type=Path, default=Path("outputs/bench/run.json"))
    parser.add_argument("overrides", nargs="*", help="more ganforge-train overrides for ours, e.g. trainer=cpu")
    args = parser.parse_args(argv)
    records = []
    for batch_size in args.batch_size:
        ours_t, hand_t = measure(args.pairs, args.epochs, batch_size, list(args.overrides))
        records.append(report(batch_size, args.epochs, ours_t, hand_t))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
