"""``ganforge-results modes``: mode collapse on the 2-D mixtures, PacGAN's Table 1 beside ours, all measured with
PacGAN's protocol (``metrics/modes.py``: 2,500 samples of a fixed z, G in eval mode, the last evaluation).

- PacGAN's published rows (Lin et al. 2018, Table 1: mean ± standard error over 10 runs, 400 epochs);
- our reproduction of them (``experiment=pacgan_ring8|pacgan_grid25``, packing degree m), ``--reproduce-seeds``
  and ``--reproduce-steps`` (400,000: PacGAN's full schedule);
- ganforge's recipe (``experiment=ring8|grid25``), ``--seeds``.
Every row reports mean ± standard error (as the paper does), the steps and the CPU-minutes per run.
"""

import argparse
import json
from pathlib import Path

from ganforge.lab.results.runner import Run, cost, mean_and, report
from ganforge.metrics.registry import REGISTRY

# PacGAN (Lin et al. 2018) Table 1, transcribed from the paper (github fjxmlzn/PacGAN, results/Table1.png):
# (modes, high-quality %, reverse KL), each (mean, standard error) over 10 runs.
PUBLISHED = {
    "ring8": {
        "GAN": ((6.3, 0.5), (98.2, 0.2), (0.45, 0.09)),
        "ALI": ((6.6, 0.3), (97.6, 0.4), (0.36, 0.04)),
        "PacGAN2": ((7.9, 0.1), (95.6, 2.0), (0.07, 0.03)),
        "PacGAN3": ((7.8, 0.1), (97.7, 0.3), (0.10, 0.02)),
        "PacGAN4": ((7.8, 0.1), (95.9, 1.4), (0.07, 0.02)),
    },
    "grid25": {
        "GAN": ((17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
        "ALI": ((24.1, 0.4), (95.7, 0.6), (0.14, 0.03)),
        "PacGAN2": ((23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
        "PacGAN3": ((24.6, 0.4), (94.2, 0.4), (0.06, 0.02)),
        "PacGAN4": ((24.8, 0.2), (93.6, 0.6), (0.04, 0.01)),
    },
}
REPRODUCED = {"ring8": (1, 2), "grid25": (1, 4)}  # the packing degrees the reproduction runs
STEPS_PER_EPOCH = 1000  # PacGAN: 100,000 tuples, 100 per batch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", nargs="+", default=list(REPRODUCED), choices=list(REPRODUCED),
                        help="the mixtures to run and tabulate")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4], help="of the recipe")
    parser.add_argument("--reproduce-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--reproduce-steps", type=int, default=400_000, help="PacGAN's 400,000 steps")


def label(m: int) -> str:
    return "GAN" if m == 1 else f"PacGAN{m}"


def reproduction(data: str, m: int, steps: int, seed: int) -> Run:
    suffix = "" if steps == 400_000 else f"-{steps}steps"
    overrides = (f"experiment=pacgan_{data}", f"model.discriminator.pack={m}", f"steps={steps}")
    return Run(f"pacgan_{data}-{label(m).lower()}{suffix}", overrides, seed)


def recipe(data: str, seed: int) -> Run:
    return Run(data, (f"experiment={data}",), seed)


def runs(args: argparse.Namespace) -> list[Run]:
    found = [recipe(data, seed) for seed in args.seeds for data in args.data]
    found += [reproduction(data, m, args.reproduce_steps, seed) for seed in args.reproduce_seeds
              for data in args.data for m in REPRODUCED[data]]  # fmt: skip
    return found


def values(runs_: list[Run], root: Path, name: str) -> list[float]:
    return [report(run, root)["metrics"][name] for run in runs_]


def row(title: str, runs_: list[Run], root: Path, prefix: str = "val/") -> str:
    """One table row of ``runs_``: the ``modes`` metric's values (and the stricter count) as mean ± SE."""
    names = [f"{prefix}{value}2.5k" for value in (*REGISTRY["modes"].outputs, *REGISTRY["modes_fifth"].outputs)]
    modes, hq, rkl, fifth = (values(runs_, root, name) for name in names)
    undefined = sum(v != v for v in rkl)  # no high-quality sample: reverse KL undefined
    steps = report(runs_[0], root)["step"]
    minutes = [cost(run, root)["cpu_seconds"] / 60 for run in runs_]
    spent = "- | -" if prefix == "floor/" else f"{steps:,} | {mean_and(minutes, digits=1)}"
    return (f"| {title} | {mean_and(modes, 'se', 1)} | {mean_and(hq, 'se', 1, 100)} | {mean_and(rkl, 'se', 3)}"
            f"{f' ({undefined} undefined)' if undefined else ''} | {mean_and(fifth, 'se', 1)} | {len(runs_)} | "
            f"{spent} |")  # fmt: skip


def table(args: argparse.Namespace, root: Path) -> list[str]:
    lines = []
    for data in args.data:
        degrees = REPRODUCED[data]
        total = 8 if data == "ring8" else 25
        header = (f"| {data}, PacGAN's protocol | modes (of {total}) | high-quality % | reverse KL | modes with 1/5 of "
                  "their share | runs | steps | CPU-min per run |")  # fmt: skip
        lines += [header, "|---|---|---|---|---|---|---|---|"]
        for name, ((m, m_se), (hq, hq_se), (kl, kl_se)) in PUBLISHED[data].items():
            lines.append(f"| {name}, published (10 runs, 400,000 steps) | {m} ± {m_se} | {hq} ± {hq_se} | "
                         f"{kl} ± {kl_se} | - | 10 | 400,000 | - |")  # fmt: skip
        for m in degrees:
            found = [reproduction(data, m, args.reproduce_steps, s) for s in args.reproduce_seeds]
            found = [run for run in found if (run.dir(root) / "metrics.json").is_file()]
            if found:
                lines.append(row(f"{label(m)}, ours (`experiment=pacgan_{data} model.discriminator.pack={m}`)",
                                 found, root))  # fmt: skip
        ours = [recipe(data, s) for s in args.seeds]
        lines.append(row(f"ganforge recipe (`experiment={data}`)", ours, root))
        lines.append(row("real held-out samples (floor)", ours, root, prefix="floor/"))
        lines.append("")
    return lines


def curves(run: Run, root: Path, every: int = 10) -> str:
    """Modes and high-quality % at every ``every``-th evaluation of a run (from its TensorBoard events)."""
    from ganforge.runs import read_scalars

    scalars = read_scalars(run.dir(root))
    modes, hq = scalars["val/modes2.5k"], scalars["val/hq2.5k"]
    points = [f"{step // STEPS_PER_EPOCH}:{m:.0f}/{100 * q:.0f}%" for (step, m), (_, q) in zip(modes, hq, strict=True)]
    return json.dumps(points[every - 1 :: every])
