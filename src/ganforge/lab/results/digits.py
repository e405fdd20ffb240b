"""``ganforge-results digits``: the default run (`make train`) and the classic reference GAN on the digits, over seeds.

What each row is: the real-data floor (held-out real images measured like a generator), the default run (the
reference MLP with an EMA of G and R1) and the classic reference GAN (no EMA, no R1) for as long. The columns are
every value the data's metrics report (names and directions from the metric registry, via each run's
``metrics.json``); per-seed lines give the final and best FID, the step of the best generator, the classes covered,
the wall time and the evaluation share each run printed.
"""

import argparse
from pathlib import Path

from ganforge.lab.results.runner import Run, cost, mean_and, report

RUNS = {
    "default": (),  # make train
    "reference": ("experiment=reference", "steps=9600"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])


def runs(args: argparse.Namespace) -> list[Run]:
    return [Run(name, overrides, seed) for seed in args.seeds for name, overrides in RUNS.items()]


def _columns(reports: list[dict]) -> list[str]:
    """Every ``val/*`` value the runs report (registry-declared, in the order metrics.json lists them)."""
    return [name[4:] for name in reports[0]["metrics"] if name.startswith("val/")]


def table(args: argparse.Namespace, root: Path) -> list[str]:
    default = [report(Run("default", RUNS["default"], s), root) for s in args.seeds]
    reference = [report(Run("reference", RUNS["reference"], s), root) for s in args.seeds]
    columns = _columns(default)
    monitor = default[0]["monitor"][4:]
    lines = [
        f"Digits, evaluator features, {default[0]['budget']} samples, at the end of the run (mean ± std over seeds "
        f"{', '.join(map(str, args.seeds))}):",
        "",
        "| | " + " | ".join(columns) + f" | best {monitor} | final / best |",
        "|---|" + "---|" * (len(columns) + 2),
    ]
    rows = [("real-data floor (held-out vs training images)", default, "floor/"),
            ("default: reference MLP + EMA 0.999 + R1 (`make train`)", default, "val/"),
            ("classic reference GAN (`experiment=reference steps=9600`)", reference, "val/")]  # fmt: skip
    for label, reports, prefix in rows:
        cells = [mean_and([r["metrics"].get(prefix + c, float("nan")) for r in reports]) for c in columns]
        best = ratio = "-"
        if prefix == "val/":
            best = mean_and([r["metrics"][f"best/{monitor}"] for r in reports])
            ratio = mean_and(
                [r["metrics"][f"val/{monitor}"] / r["metrics"][f"best/{monitor}"] for r in reports], digits=2
            )
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {best} | {ratio} |")
    lines += ["", *seed_lines(args.seeds, root, monitor), "", *probe_lines(default)]
    return lines


def seed_lines(seeds: list[int], root: Path, monitor: str) -> list[str]:
    lines = ["| run, seed | final " + monitor + " | best (step) | floor | classes at the end | wall s | CPU s | "
             "evaluation share |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, overrides in RUNS.items():
        for seed in seeds:
            run = Run(name, overrides, seed)
            values, spent = report(run, root), cost(run, root)
            metrics = values["metrics"]
            classes = next((v for k, v in metrics.items() if k.startswith("val/classes")), float("nan"))
            lines.append(
                f"| {name}, {seed} | {metrics[f'val/{monitor}']:.3f} | {metrics[f'best/{monitor}']:.3f} "
                f"({values['best_step']}) | {metrics[f'floor/{monitor}']:.3f} | {classes:.0f} | "
                f"{spent['wall_seconds']:.0f} | {spent['cpu_seconds']:.0f} | {100 * values['evaluation_share']:.1f}% |"
            )
    return lines


def probe_lines(reports: list[dict]) -> list[str]:
    """The linear probe of the default run's D, a random D and raw pixels (mean over seeds of the 5-draw means)."""
    names = sorted({k for r in reports for k in r["metrics"] if k.startswith("probe/") and not k.endswith("_std")})
    counts = sorted({int(k.rsplit("_", 1)[1].removesuffix("labels")) for k in names})
    lines = ["| linear probe, held-out accuracy | " + " | ".join(f"{n} labels/class" for n in counts) + " |",
             "|---|" + "---|" * len(counts)]  # fmt: skip
    for source, label in (("d", "trained D (`make train`)"), ("random_d", "randomly initialised D"),
                          ("pixels", "raw pixels")):  # fmt: skip
        cells = [
            mean_and([r["metrics"].get(f"probe/{source}_{n}labels", float("nan")) for r in reports]) for n in counts
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines
