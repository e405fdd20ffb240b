"""Linear probe: how much a network learned about classes without ever seeing a label.

Features of a frozen network are fed to a logistic regression fitted on only ``n`` labelled samples per class;
its accuracy on the held-out labels measures how linearly the features separate the classes. Labels are used
here, by evaluation, and never by the GAN. Reported as mean ± std over several random label draws.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn

from ganforge.metrics.registry import register

PROBE_VERSION = 1  # bump when the probe's recipe changes: cached results are then not reused
# What the probe reads: the trained D, a randomly initialised D of the same architecture, raw pixels.
SOURCES = ("d", "random_d", "pixels")
COMPARED_LABELS = 10  # the label count whose means compare runs (the other counts and the stds are logged only)


def few_labels(labels: Tensor, n_per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n_per_class`` random samples of every class."""
    labels_np = labels.numpy()
    picks = [rng.choice(np.flatnonzero(labels_np == c), n_per_class, replace=False) for c in np.unique(labels_np)]
    return np.concatenate(picks)


def probe_accuracy(
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    n_per_class: int,
    draws: int = 5,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) test accuracy of a logistic regression on standardised features over ``draws`` label draws."""
    (train_x, train_y), (test_x, test_y) = train, test
    rng = np.random.default_rng(seed)
    train_x_np, test_x_np, test_y_np = train_x.double().numpy(), test_x.double().numpy(), test_y.numpy()
    accuracies = []
    for _ in range(draws):
        index = few_labels(train_y, n_per_class, rng)
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        classifier.fit(train_x_np[index], train_y.numpy()[index])
        accuracies.append(float((classifier.predict(test_x_np) == test_y_np).mean()))
    return float(np.mean(accuracies)), float(np.std(accuracies))


def usable_label_counts(labels: Tensor, wanted: tuple[int, ...]) -> tuple[int, ...]:
    """The ``wanted`` labels-per-class counts that every class has enough samples for."""
    smallest = int(torch.bincount(labels).min())
    return tuple(n for n in wanted if n <= smallest)


@register("probe", {f"{source}_{COMPARED_LABELS}labels": True for source in SOURCES}, needs=("labels",), at_end=True)
def probe_metric(
    evaluation, discriminators: dict[str, nn.Module], fixed: dict[str, nn.Module] | None = None
) -> dict[str, float]:
    """Linear-probe accuracy on the held-out labels with n labels per class, for raw pixels and for each named
    (frozen) discriminator's features: ``probe/<name>_<n>labels`` (mean over label draws) and ``..._std``.

    ``fixed`` networks (the randomly initialised baseline D) and raw pixels do not change between runs of the same
    data and settings, so their results are cached under ``evaluation.cache_dir`` by a hash of the data, the probe
    settings and the network's weights: two thirds of the probe's cost (~6.5 of 9.7 s on the digits) is paid once.
    """
    results = {}
    for name, network in discriminators.items():
        results |= _probe(evaluation, name, embedding(network))
    for name, network in {"pixels": None, **(fixed or {})}.items():
        embed = (lambda x: x.flatten(1)) if network is None else embedding(network)
        results |= cached(evaluation, name, network, lambda name=name, embed=embed: _probe(evaluation, name, embed))
    return results


def _probe(evaluation, name: str, embed) -> dict[str, float]:
    train_labels, test_labels = evaluation.labels
    train = (evaluation.embed_all(embed, evaluation.train_images), train_labels)
    test = (evaluation.embed_all(embed, evaluation.heldout_images), test_labels)
    results = {}
    for n in evaluation.probe_counts:
        mean, std = probe_accuracy(train, test, n, evaluation.probe_draws, evaluation.seed)
        results[f"{name}_{n}labels"] = mean
        results[f"{name}_{n}labels_std"] = std
    return results


def cached(evaluation, name: str, network: nn.Module | None, compute) -> dict[str, float]:
    """``compute()``, read from / written to ``<cache_dir>/probe-<hash>.json`` (data, settings, weights)."""
    digest = hashlib.sha256(f"{PROBE_VERSION} {name} {evaluation.probe_counts} {evaluation.probe_draws} "
                            f"{evaluation.seed}".encode())  # fmt: skip
    for tensor in (evaluation.train_images, evaluation.heldout_images, *evaluation.labels):
        digest.update(tensor.contiguous().numpy().tobytes())
    for key, tensor in ({} if network is None else network.state_dict()).items():
        digest.update(key.encode() + tensor.detach().cpu().contiguous().numpy().tobytes())
    path = Path(evaluation.cache_dir) / f"probe-{digest.hexdigest()[:16]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    results = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(results))
    temporary.replace(path)  # atomic: a concurrent run reads the whole file or none
    return results


def embedding(discriminator: nn.Module):
    """Frozen D's per-sample features (``Discriminator.embed``), in eval mode, on D's device, returned on the CPU."""
    device = next(discriminator.parameters()).device

    @torch.no_grad()
    def embed(x: Tensor) -> Tensor:
        was_training = discriminator.training
        discriminator.eval()
        features = discriminator.embed(x.to(device)).float().cpu()
        discriminator.train(was_training)
        return features

    return embed
