"""``ganforge-summary <sweep dir>``: rebuild the sweep summary (summary.csv, summary.md, the printed table) of an
existing sweep, e.g. one that was stopped before Hydra's end-of-multirun callback ran.

The table itself is the core's (ganforge.sweeps, whose ``SweepSummary`` callback writes it at the end of every
multirun); this is only its command line.
"""

from pathlib import Path

from ganforge.errors import CommandLine, DataError, GanforgeError
from ganforge.sweeps import find_jobs, summarize


def check_objective(sweep_dir: Path, objective: str) -> None:
    """Refuse an ``--objective`` that no job of the sweep reports (the table would sort by nothing)."""
    reported = sorted({name for job in find_jobs(sweep_dir) for name in job["metrics"]})
    if objective not in reported:
        have = f"they report: {', '.join(reported)}" if reported else "no job has a metrics.json yet"
        raise DataError(
            f"--objective {objective} is not a metric of any job in {sweep_dir} ({have}); pick one of those."
        )


def main(argv: list[str] | None = None) -> None:
    parser = CommandLine(prog="ganforge-summary", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--objective", help="metric to sort by (default: the jobs' configured objective)")
    args = parser.parse_args(argv)
    try:
        if args.objective is not None:
            check_objective(args.sweep_dir, args.objective)
        summarize(args.sweep_dir, args.objective)
    except GanforgeError as error:
        parser.refuse(error)


if __name__ == "__main__":
    main()
