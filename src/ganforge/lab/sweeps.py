"""``ganforge-summary <sweep dir>``: rebuild the sweep summary (summary.csv, summary.md, the printed table) of an
existing sweep, e.g. one that was stopped before Hydra's end-of-multirun callback ran.

The table itself is the core's (ganforge.sweeps, whose ``SweepSummary`` callback writes it at the end of every
multirun); this is only its command line.
"""

import argparse
from pathlib import Path

from ganforge.sweeps import summarize


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Summarise a ganforge sweep directory (outputs/multirun/...).")
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--objective", help="metric to sort by (default: the jobs' configured objective)")
    args = parser.parse_args(argv)
    summarize(args.sweep_dir, args.objective)


if __name__ == "__main__":
    main()
