"""``ganforge-results SUITE``: train the runs behind one of the README's results tables, then print and write it.

    ganforge-results digits                      # make train and the classic reference, seeds 0 1 2
    ganforge-results modes --jobs 2              # PacGAN's Table 1 reproduced, and ganforge's recipe
    ganforge-results ssl --jobs 2                # the semi-supervised GAN against its baselines
    ganforge-results modes --table-only          # rebuild the table from finished runs

Runs go to ``<root>/<suite>/<name>-seed<k>/`` (``--root``, default outputs/results): a finished run is kept, an
interrupted one resumes from its last checkpoint, so the command can be stopped and started again (``runner.py``).
The table is written to ``<root>/<suite>/results.md``.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ganforge.errors import CommandLine, DataError, GanforgeError, integer_at_least
from ganforge.lab.results import digits, modes, ssl
from ganforge.lab.results.runner import Run, check_overrides, execute

SUITES = {"digits": digits, "modes": modes, "ssl": ssl}
ROOT = Path("outputs/results")


def override(text: str) -> str:
    """An argparse ``type`` for ``--set``: a ganforge-train override (KEY=VALUE, or ~KEY to remove one)."""
    if "=" not in text and not text.startswith("~"):
        raise argparse.ArgumentTypeError(f"{text!r} is not an override: write KEY=VALUE (for example --set seed=1)")
    return text


def add_shared_arguments(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """The options of every suite, accepted before the suite's name and after it (where ``defaults`` is False: a
    value given there replaces the one given before; an option left out keeps it)."""
    default = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=default(ROOT), help=f"where the runs go (default {ROOT})")
    parser.add_argument("--jobs", type=integer_at_least(1, "--jobs 2"), default=default(1),
                        help="runs at once, one thread each (2 on 2 cores)")  # fmt: skip
    parser.add_argument("--table-only", action="store_true", default=default(False),
                        help="only rebuild the table from finished runs")  # fmt: skip
    more = "one more ganforge-train override for every run (for a quick look, with another --root)"
    parser.add_argument("--set", action="append", type=override, default=default([]), metavar="KEY=VALUE", help=more)


def check_root(root: Path) -> None:
    """Refuse a --root that is a file (or lies under one) before any work."""
    existing = next(path for path in (root, *root.parents) if path.exists())
    if not existing.is_dir():
        raise DataError(f"--root {root.parent}: {existing} is a file, not a folder; give a folder for the runs "
                        f"(default {ROOT}).")  # fmt: skip


def check_finished(runs: list[Run], root: Path) -> None:
    """--table-only: refuse a --root where none of the table's runs has finished (a wrong --root, or nothing trained
    yet) before any work; a missing run among finished ones is named by the table (``runner.report``)."""
    if not any((run.dir(root) / "metrics.json").is_file() for run in runs):
        raise DataError(
            f"--table-only: none of the {len(runs)} runs of the {root.name} table has finished under {root} (no "
            f"<run>/metrics.json); train them with ganforge-results {root.name} (without --table-only), or give the "
            "--root that holds them."
        )


def main(argv: list[str] | None = None) -> None:
    parser = CommandLine(prog="ganforge-results", description=__doc__.splitlines()[0])
    add_shared_arguments(parser, defaults=True)
    suites = parser.add_subparsers(dest="suite", required=True)
    for name, suite in SUITES.items():
        suite_parser = suites.add_parser(name, help=suite.__doc__.splitlines()[0])
        suite.add_arguments(suite_parser)
        add_shared_arguments(suite_parser, defaults=False)
    args = parser.parse_args(argv)
    try:
        run_suite(args)
    except GanforgeError as error:
        parser.refuse(error)


def run_suite(args: argparse.Namespace) -> None:
    """Train the suite's unfinished runs (unless --table-only), then write and print its table."""
    suite, root = SUITES[args.suite], args.root / args.suite
    check_root(root)
    runs = [replace(run, overrides=(*run.overrides, *args.set)) for run in suite.runs(args)]
    if args.table_only:
        check_finished(runs, root)
    else:
        if args.set:
            check_overrides(run.overrides for run in runs)
        failed = execute(runs, root, args.jobs)
        if failed:
            sys.exit(f"{len(failed)} runs failed (their logs are in {root / 'logs'}); the table needs them all.")
    text = "\n".join(suite.table(args, root)) + "\n"
    name = suite.output_name(args) if hasattr(suite, "output_name") else "results.md"
    (root / name).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
