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

from ganforge.lab.results import digits, modes, ssl
from ganforge.lab.results.runner import execute

SUITES = {"digits": digits, "modes": modes, "ssl": ssl}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ganforge-results", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("outputs/results"))
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, one thread each (2 on 2 cores)")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from finished runs")
    more = "one more ganforge-train override for every run (for a quick look, with another --root)"
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=more)
    suites = parser.add_subparsers(dest="suite", required=True)
    for name, suite in SUITES.items():
        suite.add_arguments(suites.add_parser(name, help=suite.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    suite, root = SUITES[args.suite], args.root / args.suite
    if not args.table_only:
        runs = [replace(run, overrides=(*run.overrides, *args.set)) for run in suite.runs(args)]
        failed = execute(runs, root, args.jobs)
        if failed:
            sys.exit(f"{len(failed)} runs failed (their logs are in {root / 'logs'}); the table needs them all.")
    text = "\n".join(suite.table(args, root)) + "\n"
    name = suite.output_name(args) if hasattr(suite, "output_name") else "results.md"
    (root / name).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
