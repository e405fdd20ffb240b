"""``ganforge-bench run``: the whole run a user starts, timed against a hand-written script doing the same work.

    ganforge-bench run                                  # reference MLP on the digits, batch 128, 5 pairs
    ganforge-bench run --batch-size 128 1024 --epochs 50 250

``ganforge-bench`` (no ``run``) times the training step alone; this times what a user runs: ``ganforge-train`` as a
command, with the reference MLP GAN's settings (``regularizer=none ema.decay=null``: what the script trains),
start-up, data and the default callbacks (checkpoints, sample grids, TensorBoard logging, progress bar), against
``python -m ganforge.lab.bench_loop`` (the same networks, data and periodic checkpoints and grids, written the usual
way). Evaluation is reported separately: a third command, ``ganforge-train`` with its default evaluation on, gives
what evaluating adds (per step and at start-up) and the evaluation share the run prints. Each is run for two
lengths; the per-step cost is the difference of their wall times over the difference of their steps (so start-up
cancels), and start-up is what remains of the short run. Runs alternate (ours short, ours long, ours with
evaluation short and long, hand short, hand long, ...), one thread each, after one untimed run that caches the
evaluator network.
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

from ganforge.errors import CommandLine, ConfigError, GanforgeError, integer_at_least

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


def ours(epochs: int, batch_size: int, folder: Path, extra: list[str], evaluation: bool = False) -> float:
    train = str(Path(sys.executable).parent / "ganforge-train")
    switch = [] if evaluation else ["callbacks.evaluation=null"]
    return timed([train, *REFERENCE, f"data.batch_size={batch_size}", "steps=null", f"trainer.max_epochs={epochs}",
                  *switch, f"hydra.run.dir={folder}", *extra])  # fmt: skip


def hand(epochs: int, batch_size: int, folder: Path) -> float:
    return timed([sys.executable, "-m", "ganforge.lab.bench_loop", f"--epochs={epochs}", f"--batch-size={batch_size}",
                  f"--out={folder}"])  # fmt: skip


VARIANTS = ("ganforge-train", "ganforge-train + evaluation", "hand-written loop")


def measure(
    pairs: int, epochs: list[int], batch_size: int, extra: list[str]
) -> tuple[dict[str, list[Timing]], list[float]]:
    """Timings of each variant, pair by pair, and the evaluation share each long run with evaluation printed."""
    steps = [e * (DIGITS_TRAIN // batch_size) for e in epochs]
    timings: dict[str, list[Timing]] = {name: [] for name in VARIANTS}
    shares = []
    commands = {
        VARIANTS[0]: lambda e, folder: ours(e, batch_size, folder, extra),
        VARIANTS[1]: lambda e, folder: ours(e, batch_size, folder, extra, evaluation=True),
        VARIANTS[2]: lambda e, folder: hand(e, batch_size, folder),
    }
    with tempfile.TemporaryDirectory(prefix="ganforge-bench-run-") as tmp:
        ours(1, batch_size, Path(tmp) / "warm-up", extra, evaluation=True)  # caches the evaluator network
        for pair in range(pairs):
            for i, (name, command) in enumerate(commands.items()):
                folders = [Path(tmp) / f"{pair}-{i}-{e}" for e in epochs]
                timings[name].append(Timing([command(e, f) for e, f in zip(epochs, folders, strict=True)], steps))
            shares.append(
                json.loads((folders[1].parent / f"{pair}-1-{epochs[1]}" / "metrics.json").read_text())[
                    "evaluation_share"
                ]
            )
    return timings, shares


def report(batch_size: int, epochs: list[int], timings: dict[str, list[Timing]], shares: list[float]) -> dict:
    ours_t, eval_t, hand_t = (timings[name] for name in VARIANTS)
    ratios = [h.per_step / o.per_step for o, h in zip(ours_t, hand_t, strict=True)]
    table = Table("", "per step, ms (median, min-max)", "start-up, s (median)", title=(
        f"whole runs, digits, batch {batch_size}, {epochs[0]} and {epochs[1]} epochs, {len(ratios)} pairs, 1 thread"
    ))  # fmt: skip
    for name in VARIANTS:
        per_step = [1e3 * t.per_step for t in timings[name]]
        table.add_row(name, f"{statistics.median(per_step):.2f} ({min(per_step):.2f}-{max(per_step):.2f})",
                      f"{statistics.median(t.startup for t in timings[name]):.2f}")  # fmt: skip
    Console(width=160).print(table)
    print(f"per-step speed, hand-written / ganforge-train (1.0 = as fast): median {statistics.median(ratios):.3f}; "
          "pairs " + " ".join(f"{r:.3f}" for r in ratios))  # fmt: skip
    added = [1e3 * (e.per_step - o.per_step) for o, e in zip(ours_t, eval_t, strict=True)]
    print(f"evaluation adds {statistics.median(added):.2f} ms per step (median) and "
          f"{statistics.median(e.startup - o.startup for o, e in zip(ours_t, eval_t, strict=True)):.2f} s at start-up; "
          f"evaluation share printed by the {epochs[1]}-epoch runs: "
          + " ".join(f"{100 * s:.1f}%" for s in shares))  # fmt: skip
    return {"batch_size": batch_size, "epochs": epochs, "ratios": ratios, "evaluation_shares": shares,
            **{name: [asdict(t) for t in timings[name]] for name in VARIANTS}}  # fmt: skip


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, before any run, what would fail only after minutes of timing: the epochs, a batch larger than the
    digits, an --output that cannot be written, and ganforge-train overrides it would refuse."""
    short, long = args.epochs
    if short >= long:
        raise ConfigError(f"--epochs {short} {long}: the second (long) run must have more epochs than the first, or "
                          "the per-step cost divides by zero (for example --epochs 50 250).")  # fmt: skip
    if too_large := [size for size in args.batch_size if size > DIGITS_TRAIN]:
        raise ConfigError(f"--batch-size {too_large[0]} is larger than the digits' {DIGITS_TRAIN} training samples; "
                          f"use batch sizes up to {DIGITS_TRAIN}.")  # fmt: skip
    wanted = "give the path of a .json file to write (default outputs/bench/run.json)"
    if args.output.is_dir():
        raise ConfigError(f"--output {args.output} is a folder; {wanted}.")
    parent = next(path for path in args.output.parents if path.exists())
    if not parent.is_dir():
        raise ConfigError(f"--output {args.output}: {parent} is a file, not a folder; {wanted}.")
    if args.overrides:  # imported only here: ganforge.lab.results brings its suites (and scikit-learn)
        from ganforge.lab.results.runner import check_overrides

        check_overrides([(*REFERENCE, *args.overrides)])


def main(argv: list[str] | None = None) -> None:
    parser = CommandLine(prog="ganforge-bench run", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=integer_at_least(1, "--pairs 5"), default=5)
    parser.add_argument("--epochs", type=integer_at_least(1, "--epochs 50 250"), nargs=2, default=[50, 250],
                        help="the short and the long run")  # fmt: skip
    parser.add_argument("--batch-size", type=integer_at_least(1, "--batch-size 128"), nargs="+", default=[128])
    parser.add_argument("--output", type=Path, default=Path("outputs/bench/run.json"))
    parser.add_argument("overrides", nargs="*", help="more ganforge-train overrides for ours, e.g. trainer=cpu")
    args = parser.parse_args(argv)
    try:
        check_arguments(args)
    except GanforgeError as error:
        parser.refuse(error)
    records = []
    for batch_size in args.batch_size:
        timings, shares = measure(args.pairs, args.epochs, batch_size, list(args.overrides))
        records.append(report(batch_size, args.epochs, timings, shares))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(records, indent=2))


if __name__ == "__main__":
    main()
