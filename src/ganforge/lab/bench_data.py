"""``ganforge-bench-data PATH``: decoded images per second from an image folder, by DataLoader worker count.

Measures the streaming path (every image decoded, converted and resized on each read), i.e. what a folder
too large for the memory cache costs per epoch. Example:

    ganforge-bench-data /data/my_images --image-size 64 --workers 0 2
"""

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from ganforge.data.folder import IMAGE_SUFFIXES, ImageFiles, find_images
from ganforge.errors import CommandLine, DataError, integer_at_least


def images_per_second(dataset: ImageFiles, workers: int, batch_size: int, max_images: int) -> tuple[float, int]:
    """(decoded images/s, images decoded) over one pass of at most ``max_images``; worker start-up included."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    start, seen = time.perf_counter(), 0
    for batch in loader:
        seen += len(batch)
        if seen >= max_images:
            break
    return seen / (time.perf_counter() - start), seen


def image_files(path: Path) -> list[Path]:
    """The image files under ``path`` (find_images), or a DataError naming PATH, this command's argument."""
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise DataError(f"PATH {path} {what}; give a folder of images (searched recursively).")
    try:
        return find_images(path)
    except DataError as error:  # none there: say it of PATH, not of data.path (ganforge-train's key)
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DataError(
            f"PATH {path} holds no image files ({kinds}, searched recursively); give a folder of images."
        ) from error


def main(argv: list[str] | None = None) -> list[tuple[int, int, float]]:
    parser = CommandLine(
        prog="ganforge-bench-data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", metavar="PATH", type=Path, help="a folder of images (searched recursively)")
    parser.add_argument("--image-size", type=integer_at_least(1, "--image-size 64"), default=64)
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3)
    parser.add_argument("--batch-size", type=integer_at_least(1, "--batch-size 64"), default=64)
    parser.add_argument("--workers", type=integer_at_least(0, "--workers 0 2"), nargs="+", default=[0, 2])
    parser.add_argument("--max-images", type=integer_at_least(1, "--max-images 2000"), default=2000,
                        help="images decoded per measurement")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        files = image_files(args.path.expanduser())
    except DataError as error:
        parser.refuse(error)
    dataset = ImageFiles(files, args.channels, args.image_size)
    table = Table(title=f"{len(files)} files under {args.path} -> {args.channels}x{args.image_size}x{args.image_size}")
    for column in ("workers", "images", "decoded images/s"):
        table.add_column(column, justify="right")
    rows = []
    for workers in args.workers:
        try:
            rate, seen = images_per_second(dataset, workers, args.batch_size, args.max_images)
        except DataError as error:  # an unreadable file; from a worker process, the message ends its traceback
            parser.refuse(str(error).strip().splitlines()[-1].removeprefix("ganforge.errors.DataError: "))
        table.add_row(str(workers), str(seen), f"{rate:,.0f}")
        rows.append((workers, seen, rate))
    Console().print(table)
    return rows


def cli() -> None:
    main()


if __name__ == "__main__":
    cli()
