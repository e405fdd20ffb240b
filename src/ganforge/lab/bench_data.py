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

from ganforge.data.folder import ImageFiles, find_images


def images_per_second(dataset: ImageFiles, workers: int, batch_size: int, max_images: int) -> tuple[float, int]:
    """(decoded images/s, images decoded) over one pass of at most ``max_images``; worker start-up included."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    start, seen = time.perf_counter(), 0
    for batch in loader:
        seen += len(batch)
        if seen >= max_images:
            break
    return seen / (time.perf_counter() - start), seen


def main(argv: list[str] | None = None) -> list[tuple[int, int, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", help="a folder of images (searched recursively)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--channels", type=int, choices=(1, 3), default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--max-images", type=int, default=2000, help="images decoded per measurement")
    args = parser.parse_args(argv)

    files = find_images(Path(args.path).expanduser())
    dataset = ImageFiles(files, args.channels, args.image_size)
    table = Table(title=f"{len(files)} files under {args.path} -> {args.channels}x{args.image_size}x{args.image_size}")
    for column in ("workers", "images", "decoded images/s"):
        table.add_column(column, justify="right")
    rows = []
    for workers in args.workers:
        rate, seen = images_per_second(dataset, workers, args.batch_size, args.max_images)
        table.add_row(str(workers), str(seen), f"{rate:,.0f}")
        rows.append((workers, seen, rate))
    Console().print(table)
    return rows


def cli() -> None:
    main()


if __name__ == "__main__":
    cli()
