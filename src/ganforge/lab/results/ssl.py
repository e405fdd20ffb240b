"""``ganforge-results ssl``: the semi-supervised GAN on the digits against the baselines, on the same labels.

For 1, 5 and 10 labels per class and all labels, and for each label draw (``--draws``, the same seeded, balanced
subsets for every method, drawn from the 899 training images; the 898 test images are measured only, at the
last step):
- the semi-supervised GAN (``experiment=ssl_digits``);
- the supervised-only baseline: the same network, labels and steps, no G and no unlabeled loss;
- logistic regression on the pixels, and scikit-learn's LabelSpreading (kNN graph over all training images);
- the linear probe of an unsupervised GAN's D: the same networks trained with no label at all
  (``module.supervised_weight=0``), a logistic regression on its D's features.
Each cell is mean ± std over the draws; the paired difference to the supervised-only baseline is per draw.
"""

import argparse
import statistics
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from ganforge.lab.results.runner import Run, cost, mean_and, report

LABELS_PER_CLASS = (1, 5, 10, None)  # None: every training label
PRESET = ("experiment=ssl_digits",)
# Training length in steps (the task's clock: batches, each a labeled batch and two unlabeled batches of 100), the same
# for a run on the test split and for one on a validation split: the preset's 6,000, and longer where the labels are
# fewest (chosen on validation: see docs/semi-supervised.md).
BATCHES = {1: 12_000}
DEFAULT_BATCHES = 6_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--draws", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    counts = ["1", "5", "10", "all"]
    parser.add_argument("--labels", nargs="+", default=counts, choices=counts, metavar="K",
                        help="labels per class to run (1 5 10 all; a validation table leaves out all)")  # fmt: skip
    parser.add_argument("--validation", type=int, default=None, metavar="N",
                        help="measure N training images set aside instead of the test split (for choosing settings; "
                        "use other --draws than the reported ones); only the GAN and supervised rows")  # fmt: skip


def count(k: int | None) -> str:
    return "all" if k is None else str(k)


def ssl_run(k: int | None, draw: int, validation: int | None = None) -> Run:
    split = () if validation is None else (f"data.labeled.validation_size={validation}",)
    name = f"ssl-{count(k)}" + ("" if validation is None else f"-validation{validation}")
    labels = f"data.labeled.per_class={'null' if k is None else k}"
    length = f"steps={BATCHES.get(k, DEFAULT_BATCHES)}"
    return Run(name, (*PRESET, labels, f"data.labeled.draw={draw}", length, *split), draw)


def supervised_run(k: int | None, draw: int, validation: int | None = None) -> Run:
    base = ssl_run(k, draw, validation)
    return Run(base.name.replace("ssl-", "supervised-", 1),
               (*base.overrides, "module.generator=false", "module.unsupervised_weight=0"), draw)  # fmt: skip


def unsupervised_run(seed: int) -> Run:
    return Run("unsupervised", (*PRESET, "module.supervised_weight=0"), seed)


def chosen(args: argparse.Namespace) -> list[int | None]:
    """The labels-per-class values ``--labels`` picks (every label, None, only on the test split)."""
    return [k for k in LABELS_PER_CLASS if count(k) in args.labels and (k is not None or not args.validation)]


def runs(args: argparse.Namespace) -> list[Run]:
    found = [] if args.validation else [unsupervised_run(draw) for draw in args.draws]
    for k in chosen(args):
        found += [
            run for d in args.draws for run in (ssl_run(k, d, args.validation), supervised_run(k, d, args.validation))
        ]
    return found


def output_name(args: argparse.Namespace) -> str:
    """A validation table never goes over the test table."""
    return "results-validation.md" if args.validation else "results.md"


def validation_table(args: argparse.Namespace, root: Path) -> list[str]:
    ks = chosen(args)
    lines = [f"Digits, validation accuracy % on {args.validation} training images set aside (the test split not "
             f"measured), mean ± std over draws {', '.join(map(str, args.draws))}:", "",
             "| labels per class | " + " | ".join(count(k) for k in ks) + " |", "|---|" + "---|" * len(ks)]  # fmt: skip
    for label, run in (("supervised only", supervised_run), ("semi-supervised GAN", ssl_run)):
        cells = [mean_and([report(run(k, d, args.validation), root)["metrics"]["validation/accuracy"]
                           for d in args.draws], digits=1, scale=100) for k in ks]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def subsets(k: int | None, draw: int):
    """The digits as the preset splits them: (train images, train labels, labeled indices, test images, labels)."""
    from ganforge.data import DigitsDataModule
    from ganforge.data.semisupervised import SemiSupervisedData

    data = SemiSupervisedData(DigitsDataModule(image_size=8, holdout_fraction=0.5), k, draw, 100)
    data.setup()
    (train_labels, test_labels), (test_images, _) = data.labels(), data.test_set()
    return data.train_set.samples.flatten(1), train_labels, data.labeled_index, test_images.flatten(1), test_labels


def classical(k: int | None, draw: int) -> dict[str, float]:
    """Logistic regression on pixels and LabelSpreading, on the draw's labels."""
    train_x, train_y, labeled, test_x, test_y = (t.numpy() for t in subsets(k, draw))
    pixels = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(train_x[labeled], train_y[labeled])
    partial = np.full(len(train_y), -1)
    partial[labeled] = train_y[labeled]
    with warnings.catch_warnings():  # its 0/0 for the points it cannot reach, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        spreading = LabelSpreading(kernel="knn", n_neighbors=7, max_iter=1000).fit(train_x, partial)
        spread = spreading.predict_proba(test_x)
    # A test image in a part of the 7-neighbour graph that holds no labeled image gets no label spread to it (NaN
    # probabilities, which sklearn's predict turns into class 0): give it its nearest labeled image's label instead
    # (30-46 of 898 images in 3 of 5 one-label draws; a few others get infinite or all-zero ones), so that the baseline
    # is not handicapped by a 0/0.
    unreached = ~np.isfinite(spread).all(1) | (np.nan_to_num(spread).sum(1) == 0)
    nearest = KNeighborsClassifier(n_neighbors=1).fit(train_x[labeled], train_y[labeled]).predict(test_x)
    predicted = np.where(unreached, nearest, spreading.classes_[np.nan_to_num(spread, nan=-1.0).argmax(1)])
    return {"pixels": float((pixels.predict(test_x) == test_y).mean()),
            "spreading": float((predicted == test_y).mean())}  # fmt: skip


@torch.no_grad()
def probe(k: int | None, draw: int, root: Path) -> float:
    """Logistic regression on the features of the unsupervised GAN's D (trained with the draw's seed)."""
    from ganforge.runs import load_gan

    _, gan = load_gan(unsupervised_run(draw).dir(root), "last.ckpt")
    classifier = gan.classifier.eval()
    train_x, train_y, labeled, test_x, test_y = subsets(k, draw)
    features = [classifier.embed(x.view(-1, 1, 8, 8)).numpy() for x in (train_x, test_x)]
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(
        features[0][labeled.numpy()], train_y[labeled].numpy()
    )
    return float((fitted.predict(features[1]) == test_y.numpy()).mean())


def accuracy(run: Run, root: Path) -> float:
    return report(run, root)["metrics"]["test/accuracy"]


def table(args: argparse.Namespace, root: Path) -> list[str]:
    if args.validation:
        return validation_table(args, root)
    ks = [count(k) for k in chosen(args)]
    lines = [
        f"Digits, test accuracy % on the 898 test images at the last step, mean ± std over label draws "
        f"{', '.join(map(str, args.draws))} (the same labeled subsets for every method):",
        "",
        "| labels per class | " + " | ".join(ks) + " |",
        "|---|" + "---|" * len(ks),
    ]
    names = {
        "pixels": "logistic regression on pixels",
        "spreading": "LabelSpreading (kNN, 7 neighbours)",
        "probe": "linear probe of an unsupervised GAN's D (same networks, no labels)",
        "supervised": "supervised only (same network, labels and steps)",
        "ssl": "semi-supervised GAN (`experiment=ssl_digits`)",
        "diff": "semi-supervised GAN - supervised only, paired by draw",
        "diff_spreading": "semi-supervised GAN - LabelSpreading, paired by draw",
    }
    cells: dict[str, list[str]] = {name: [] for name in names}
    for k in chosen(args):
        by_draw = [classical(k, d) for d in args.draws]
        cells["pixels"].append(mean_and([r["pixels"] for r in by_draw], digits=1, scale=100))
        cells["spreading"].append(mean_and([r["spreading"] for r in by_draw], digits=1, scale=100))
        cells["probe"].append(mean_and([probe(k, d, root) for d in args.draws], digits=1, scale=100))
        supervised = [accuracy(supervised_run(k, d), root) for d in args.draws]
        ssl = [accuracy(ssl_run(k, d), root) for d in args.draws]
        cells["supervised"].append(mean_and(supervised, digits=1, scale=100))
        cells["ssl"].append(mean_and(ssl, digits=1, scale=100))
        cells["diff"].append(mean_and([a - b for a, b in zip(ssl, supervised, strict=True)], digits=1, scale=100))
        spread = [r["spreading"] for r in by_draw]
        cells["diff_spreading"].append(mean_and([a - b for a, b in zip(ssl, spread, strict=True)], digits=1, scale=100))
    lines += [f"| {names[name]} | " + " | ".join(values) + " |" for name, values in cells.items()]
    for title, run in (("semi-supervised GAN", ssl_run), ("supervised only", supervised_run)):
        minutes = [statistics.mean(cost(run(k, d), root)["cpu_seconds"] / 60 for d in args.draws) for k in chosen(args)]
        lines.append(f"| CPU-minutes per run, {title} | " + " | ".join(f"{m:.2f}" for m in minutes) + " |")
    batches = ", ".join(f"{count(k)} label{'s' if k != 1 else ''} per class {BATCHES[k]:,}" for k in BATCHES)
    lines += ["", f"{DEFAULT_BATCHES:,} batches per run ({batches}); CPU-minutes include process start-up."]
    return lines
