"""``ganforge-results``: train the runs behind the README's results table, then print and write the table.

    ganforge-results                       # every run, seed 0, under outputs/results/
    ganforge-results --seeds 0 1 2         # mean ± std over seeds
    ganforge-results --table-only          # rebuild the table from finished runs

Runs go to outputs/results/<name>-seed<k>/ (a finished run, one with metrics.json, is not trained again; an
unfinished one is refused by ganforge-train rather than overwritten). Wall time of every run is recorded, so the
cost of evaluating during training is read off the `digits-default` / `digits-default-noeval` pair (and every run
prints its own evaluation share).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

# name -> ganforge-train overrides. The digits runs are `make train` (800 epochs: the reference MLP with an EMA of G
# and R1) and the classic reference GAN for as long; `noeval` is `make train` without the evaluation callback, to
# measure what evaluating during training costs. digits-reference goes first: it trains and caches the evaluator
# network, so the pair after it times training alone.
RUNS = {
    "digits-reference": ["experiment=reference", "trainer.max_epochs=800"],
    "digits-default": [],
    "digits-default-noeval": ["callbacks.evaluation=null"],
    "ring8-pacgan": ["experiment=ring8_pacgan"],
    "grid25-pacgan": ["experiment=grid25_pacgan"],
}
# Published figures (2-D mixtures, 2,500 samples), transcribed from the papers' tables, not re-run here:
# VEEGAN (Srivastava et al. 2017, Table 1) and PacGAN (Lin et al. 2018, Tables 1-2).
PUBLISHED = {
    "ring8": [
        ("GAN (VEEGAN's table)", "1.0", "99.3", "-"),
        ("Unrolled GAN (VEEGAN's table)", "7.6", "35.6", "-"),
        ("VEEGAN", "8.0", "52.9", "-"),
        ("GAN (PacGAN's table)", "6.3", "98.2", "0.45"),
        ("PacGAN2", "7.9", "95.6", "0.07"),
    ],
    "grid25": [
        ("GAN (VEEGAN's table)", "3.3", "0.5", "-"),
        ("Unrolled GAN (VEEGAN's table)", "23.6", "16.0", "-"),
        ("VEEGAN", "24.6", "40.0", "-"),
        ("GAN (PacGAN's table)", "17.3", "94.8", "0.70"),
        ("PacGAN2", "23.8", "91.3", "0.13"),
    ],
}


def run_dir(root: Path, name: str, seed: int) -> Path:
    return root / f"{name}-seed{seed}"


def train(root: Path, name: str, seed: int) -> None:
    target = run_dir(root, name, seed)
    if (target / "metrics.json").is_file() or (name.endswith("noeval") and (target / "wall_seconds").is_file()):
        print(f"{target}: finished earlier, kept")
        return
    command = [
        str(Path(sys.executable).parent / "ganforge-train"), f"hydra.run.dir={target}", f"seed={seed}",
        "callbacks.progress_bar=null", *RUNS[name],
    ]  # fmt: skip
    print("$", " ".join(command[1:]), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    (target / "wall_seconds").write_text(f"{time.perf_counter() - start:.1f}\n")


def metrics(root: Path, name: str, seeds: list[int]) -> list[dict[str, float]]:
    return [json.loads((run_dir(root, name, s) / "metrics.json").read_text())["metrics"] for s in seeds]


def cell(values: list[dict[str, float]], key: str, scale: float = 1.0, digits: int = 3) -> str:
    numbers = [v[key] * scale for v in values if key in v]
    if not numbers:
        return "-"
    if len(numbers) == 1:
        return f"{numbers[0]:.{digits}f}"
    return f"{statistics.mean(numbers):.{digits}f} ± {statistics.stdev(numbers):.{digits}f}"


def digits_table(root: Path, seeds: list[int]) -> list[str]:
    default = metrics(root, "digits-default", seeds)
    reference = metrics(root, "digits-reference", seeds)
    n = "180"
    keys = [f"fid{n}", f"kid{n}", f"precision{n}", f"recall{n}", f"classes{n}"]
    lines = [
        "| digits (budget 180, evaluator features), at the end | FID | KID | precision | recall | classes covered "
        "| best FID (step) |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [
        ("real-data floor (held-out vs train)", "digits-default", default, "floor/"),
        ("default: reference MLP + EMA 0.999 + R1 (`make train`)", "digits-default", default, "val/"),
        (
            "classic reference GAN (`experiment=reference trainer.max_epochs=800`)",
            "digits-reference",
            reference,
            "val/",
        ),
    ]
    for label, name, values, prefix in rows:
        best = "-"
        if prefix == "val/":
            steps = ", ".join(str(report(root, name, s)["best_step"]) for s in seeds)
            best = f"{cell(values, f'best/fid{n}')} ({steps})"
        lines.append(f"| {label} | " + " | ".join(cell(values, prefix + k) for k in keys) + f" | {best} |")
    return lines


def report(root: Path, name: str, seed: int) -> dict:
    return json.loads((run_dir(root, name, seed) / "metrics.json").read_text())


def modes_table(root: Path, seeds: list[int], data: str, name: str) -> list[str]:
    values = metrics(root, name, seeds)
    total = "8" if data == "ring8" else "25"
    lines = [f"| {data} (2,500 samples) | modes (of {total}) | high-quality % | reverse KL |", "|---|---|---|---|"]
    lines.append(
        f"| ganforge `experiment={name.replace('-', '_')}` | {cell(values, 'val/modes2.5k', digits=1)} | "
        f"{cell(values, 'val/hq2.5k', 100, 1)} | {cell(values, 'val/rkl2.5k')} |"
    )
    lines.append(
        f"| real held-out samples (floor) | {cell(values, 'floor/modes2.5k', digits=1)} | "
        f"{cell(values, 'floor/hq2.5k', 100, 1)} | {cell(values, 'floor/rkl2.5k')} |"
    )
    lines += [f"| {label} (published) | {m} | {hq} | {kl} |" for label, m, hq, kl in PUBLISHED[data]]
    return lines


def probe_table(root: Path, seeds: list[int]) -> list[str]:
    values = metrics(root, "digits-default", seeds)
    lines = [
        "| linear probe on digits, held-out accuracy | 1 label/class | 10 labels/class | 100 labels/class |",
        "|---|---|---|---|",
    ]
    sources = (("trained D (`make train`)", "d"), ("randomly initialised D", "random_d"), ("raw pixels", "pixels"))
    for label, source in sources:
        row = []
        for n in (1, 10, 100):
            mean = cell(values, f"probe/{source}_{n}labels")
            spread = cell(values, f"probe/{source}_{n}labels_std")
            row.append(f"{mean} (draw std {spread})")
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return lines


def cost_lines(root: Path, seeds: list[int]) -> list[str]:
    walls = {
        name: [float((run_dir(root, name, s) / "wall_seconds").read_text()) for s in seeds]
        for name in ("digits-default", "digits-default-noeval")
    }
    with_eval, without = statistics.mean(walls["digits-default"]), statistics.mean(walls["digits-default-noeval"])
    first = report(root, "digits-default", seeds[0])
    shares = ", ".join(f"{100 * report(root, 'digits-default', s)['evaluation_share']:.1f}%" for s in seeds)
    runs = "one run each" if len(seeds) == 1 else f"means of {len(seeds)} runs; evaluation cost of seed {seeds[0]}"
    return [
        f"Evaluation cost in `make train`: {first['seconds_per_evaluation']:.3f} s per evaluation, "
        f"{first['evaluations']} evaluations, the linear probe {first['probe_seconds']:.1f} s and preparing "
        f"{first['prepare_seconds']:.1f} s: {first['evaluation_seconds']:.1f} s, {shares} of the run as the run "
        f"prints it (seed by seed). Wall time with evaluation {with_eval:.0f} s, without (`callbacks.evaluation=null`) "
        f"{without:.0f} s ({runs}; process start-up included; the evaluator network was cached)."
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("outputs/results"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.table_only:
        for seed in args.seeds:
            for name in args.runs:
                train(args.root, name, seed)
    seeds = ", ".join(map(str, args.seeds))
    lines = [f"Seeds: {seeds} (`ganforge-results --seeds {' '.join(map(str, args.seeds))}`).", ""]
    lines += [*digits_table(args.root, args.seeds), ""]
    lines += [*modes_table(args.root, args.seeds, "ring8", "ring8-pacgan"), ""]
    lines += [*modes_table(args.root, args.seeds, "grid25", "grid25-pacgan"), ""]
    lines += [*probe_table(args.root, args.seeds), "", *cost_lines(args.root, args.seeds)]
    text = "\n".join(lines) + "\n"
    (args.root / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
