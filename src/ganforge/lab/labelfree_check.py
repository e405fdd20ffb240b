"""Does a feature network measure? The checks behind the choice of label-free features (metrics/labelfree.py).

python -m ganforge.lab.labelfree_check --methods random contrastive --run outputs/<digits run>

On the digits (labels hidden from the features; used only to pick classes to drop) and on a folder of real
photographs (scikit-image's bundled faces and photo crops; needs the dev extra):
- corruption: the training images are the reference, the same images blurred (Gaussian, sigma) or with additive
  Gaussian noise (std, in [-1, 1] units) the "generated" set: FID and KID must rise and recall fall with the
  level;
- dropping: the "generated" set loses half the classes (digits 5-9) or half the images (the faces): recall and
  coverage must fall against a set of the same size drawn from everything;
- checkpoints (``--run``): FID of every ``stepNNNNNNN.ckpt`` of one digits run with these features and with the
  label-trained evaluator's, and their Spearman rank correlation.
"""

import argparse
import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torchvision.transforms.functional import gaussian_blur

from ganforge.data.base import to_unit_range
from ganforge.metrics.distances import density_coverage, fid, kid, precision_recall
from ganforge.metrics.labelfree import LabelFreeSettings, build

Embed = Callable[[Tensor], Tensor]
BLUR_LEVELS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)
NOISE_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)
# Colour photographs bundled in scikit-image's wheel (skimage/data/): readable offline.
BUNDLED_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def blurred(images: Tensor, sigma: float) -> Tensor:
    if sigma == 0:
        return images
    size = 2 * int(np.ceil(3 * sigma)) + 1
    return gaussian_blur(images, [size, size], [sigma, sigma])


def noised(images: Tensor, std: float, seed: int = 0) -> Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))
    return images + std * noise


CORRUPTIONS: dict[str, tuple[Callable[[Tensor, float], Tensor], Sequence[float]]] = {
    "blur": (blurred, BLUR_LEVELS),
    "noise": (noised, NOISE_LEVELS),
}


def photo_images(n: int = 400, size: int = 32, seed: int = 0) -> tuple[np.ndarray, int]:
    """(n, size, size, 3) uint8 real photographs and how many of them (the first) are faces: scikit-image's
    bundled LFW faces (up to 200, half of n) and seeded square crops (a quarter to two thirds of the shorter
    side) of its bundled colour photos."""
    from PIL import Image
    from skimage import data as bundled

    rng = np.random.default_rng(seed)
    faces = (bundled.lfw_subset()[: min(200, n // 2)] * 255).round().astype(np.uint8)
    images = [np.asarray(Image.fromarray(face).convert("RGB").resize((size, size), Image.BICUBIC)) for face in faces]
    photos = [getattr(bundled, name)() for name in BUNDLED_PHOTOS]
    for i in range(n - len(images)):
        photo = photos[i % len(photos)]
        height, width = photo.shape[:2]
        side = int(rng.uniform(0.25, 0.67) * min(height, width))
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = Image.fromarray(photo[top : top + side, left : left + side, :3])
        images.append(np.asarray(crop.resize((size, size), Image.BICUBIC)))
    return np.stack(images), len(faces)


def photo_tensor(n: int = 400, size: int = 32) -> tuple[Tensor, Tensor]:
    """Photos as floats in [-1, 1] (N, 3, size, size) and a group id per image (1: face, 0: photo crop)."""
    images, faces = photo_images(n, size)
    x = to_unit_range(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()).float()
    return x, (torch.arange(n) < faces).long()


def digits_tensor() -> tuple[Tensor, Tensor]:
    """The digits' training split as floats in [-1, 1] (N, 1, 28, 28), and their labels (for dropping only)."""
    from ganforge.data import DigitsDataModule

    datamodule = DigitsDataModule()
    datamodule.setup("fit")
    return to_unit_range(datamodule.train_set.samples).float(), datamodule.labels()[0]


def labelfree_embedding(train: Tensor, settings: LabelFreeSettings) -> Embed:
    """Features of the label-free network built on ``train``, scaled as Evaluation scales them."""
    model = build(train, settings)
    return scaled(lambda x: model(x), train)


def scaled(network: Callable[[Tensor], Tensor], train: Tensor) -> Embed:
    @torch.no_grad()
    def raw(x: Tensor) -> Tensor:
        return torch.cat([network(batch) for batch in x.split(500)]).double()

    scale = float(raw(train).pow(2).mean().sqrt())
    return lambda x: raw(x) / scale


def halves(images: Tensor) -> tuple[Tensor, Tensor]:
    """Reference and "generated" halves, interleaved so both are representative."""
    return images[0::2], images[1::2]


def corruption_table(embed: Embed, images: Tensor, kind: str, kid_subsets: int = 50) -> list[dict[str, float]]:
    """FID, KID and recall of the corrupted images against the same images clean, per level.

    The same images on both sides: level 0 is a perfect score, and what changes between levels is the
    corruption alone, not which images were drawn (two disjoint halves of 200 photos differ by more than a
    noise of std 0.05 does, in any features).
    """
    corrupt, levels = CORRUPTIONS[kind]
    real_features = embed(images)
    rows = []
    for level in levels:
        features = embed(corrupt(images, level))
        _, recall = precision_recall(real_features, features)
        rows.append(
            {
                "level": level,
                "fid": fid(real_features, features),
                "kid": kid(real_features, features, kid_subsets),
                "recall": recall,
            }
        )
    return rows


def drop_table(embed: Embed, images: Tensor, groups: Tensor, keep: Callable[[Tensor], Tensor]) -> dict[str, tuple]:
    """(recall, coverage) of a "generated" set that keeps only ``keep(groups)`` against one of the same size drawn
    from every group; the reference is the other half of the images."""
    reference, fake = halves(images)
    _, fake_groups = halves(groups)
    kept = fake[keep(fake_groups)]
    picks = torch.randperm(len(fake), generator=torch.Generator().manual_seed(0))[: len(kept)]
    real_features = embed(reference)[: len(kept)]
    result = {}
    for name, subset in (("all", fake[picks]), ("dropped", kept)):
        features = embed(subset)
        _, recall = precision_recall(real_features, features)
        _, coverage = density_coverage(real_features, features)
        result[name] = (recall, coverage)
    return result


def is_monotonic(rows: list[dict[str, float]]) -> bool:
    """FID and KID strictly rising, recall never rising and lower at the last level than at the first (at the
    first levels it can stay at 1.0: every real still has a close fake)."""
    fids, kids, recalls = ([row[key] for row in rows] for key in ("fid", "kid", "recall"))
    rising = all(a < b for a, b in itertools.pairwise(fids)) and all(a < b for a, b in itertools.pairwise(kids))
    return rising and all(a >= b for a, b in itertools.pairwise(recalls)) and recalls[-1] < recalls[0]


def checkpoint_fids(
    run_dir: Path, budget: int, settings: LabelFreeSettings, cache_dir: str, evaluator: dict | None = None
) -> list[tuple]:
    """(checkpoint, evaluator FID, label-free FID) for every stepNNNNNNN.ckpt of a digits run; ``evaluator``
    overrides the evaluator network's training settings (default: the configured ones, conf/metrics)."""
    from ganforge.data import DigitsDataModule
    from ganforge.metrics.suite import Evaluation
    from ganforge.runs import load_gan

    evaluations = [
        Evaluation(
            features=name, num_samples=budget, cache_dir=cache_dir, labelfree=vars(settings), evaluator=evaluator
        ).prepare(DigitsDataModule(metrics=["fid"]))
        for name in ("evaluator", "labelfree")
    ]
    rows = []
    for checkpoint in sorted(Path(run_dir).glob("checkpoints/step*.ckpt")):
        _, gan = load_gan(Path(run_dir), checkpoint.name)
        samples = evaluations[0].generate(gan, budget)
        rows.append(
            (checkpoint.stem, *(fid(e.train_features, e.features(samples)) for e in evaluations)),
        )
    return rows


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def print_corruptions(title: str, kind: str, rows: list[dict[str, float]]) -> None:
    print(f"\n{title}, {kind} (monotonic: {is_monotonic(rows)})\n\n| level | FID | KID | recall |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['level']:g} | {row['fid']:.4f} | {row['kid']:.4f} | {row['recall']:.3f} |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["random"], choices=["random", "contrastive"])
    parser.add_argument("--photos", type=int, default=400, help="images in the photo set")
    parser.add_argument("--run", type=Path, help="a digits run with checkpoints/stepNNNNNNN.ckpt (Spearman)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[180, 1000])
    parser.add_argument("--cache-dir", default="~/.cache/ganforge")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    digits, labels = digits_tensor()
    photos, faces = photo_tensor(args.photos)
    datasets = {
        "digits": (digits, labels, lambda g: g < 5, "classes 5-9 dropped"),
        "photos": (photos, faces, lambda g: g == 0, "faces (half the images) dropped"),
    }
    for method in args.methods:
        settings = LabelFreeSettings(method=method)
        for name, (images, groups, keep, dropped) in datasets.items():
            reference, _ = halves(images)
            start = time.perf_counter()
            embed = labelfree_embedding(reference, settings)
            print(f"\n## {method} on {name}: built in {time.perf_counter() - start:.1f} s on {len(reference)} images")
            for kind in CORRUPTIONS:
                print_corruptions(f"{method} {name}", kind, corruption_table(embed, images, kind))
            result = drop_table(embed, images, groups, keep)
            print(f"\n{dropped}: recall/coverage all {result['all'][0]:.3f}/{result['all'][1]:.3f}, "
                  f"dropped {result['dropped'][0]:.3f}/{result['dropped'][1]:.3f}")  # fmt: skip
        if args.run:
            for budget in args.budgets:
                rows = checkpoint_fids(args.run, budget, settings, args.cache_dir)
                rho = spearman([r[1] for r in rows], [r[2] for r in rows])
                print(f"\n{method}, {args.run}, budget {budget}: Spearman {rho:.3f}\n\n| checkpoint | evaluator FID | "
                      "label-free FID |\n|---|---|---|")  # fmt: skip
                for checkpoint, evaluator_fid, labelfree_fid in rows:
                    print(f"| {checkpoint} | {evaluator_fid:.4f} | {labelfree_fid:.4f} |")


if __name__ == "__main__":
    main()
