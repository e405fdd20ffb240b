"""Class metrics from the evaluator's logits: which classes the generator makes and how evenly.

- *classes covered*: classes predicted for at least 1/5 of their fair share of the samples (the capture rule
  of the mode metrics, ``modes.CAPTURE_SHARE``);
- *class KL*: KL(predicted class histogram || uniform); 0 when every class is made equally often;
- *score*: the Inception Score computed with the evaluator's classifier (exp E[KL(p(y|x) || p(y))]), up to
  the number of classes; torchmetrics' InceptionScore on precomputed logits.

And the accuracy of a classifier the run trains (the semi-supervised GAN's), on labelled images.
"""

import warnings

import torch
from torch import Tensor, nn
from torchmetrics.image import InceptionScore

from ganforge.metrics.distances import Precomputed
from ganforge.metrics.modes import CAPTURE_SHARE
from ganforge.metrics.registry import register


def class_metrics(logits: Tensor, seed: int = 0) -> dict[str, float]:
    """{"classes", "class_kl", "score"} of (N, K) classifier logits."""
    logits = logits.double()
    n, num_classes = logits.shape
    histogram = torch.bincount(logits.argmax(dim=1), minlength=num_classes).double() / n
    covered = int((histogram >= CAPTURE_SHARE / num_classes).sum())
    present = histogram[histogram > 0]
    class_kl = float((present * (present * num_classes).log()).sum())
    with warnings.catch_warnings(), torch.random.fork_rng():  # torchmetrics shuffles with the global generator
        # "will save all extracted features" (they are small) and "std of one split" (we read the mean only)
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        warnings.filterwarnings("ignore", message=r".*degrees of freedom is <= 0.*")
        metric = InceptionScore(feature=Precomputed(num_classes), splits=1)
        metric.update(logits)
        torch.manual_seed(seed)
        score, _ = metric.compute()
    return {"classes": float(covered), "class_kl": class_kl, "score": float(score)}


@register("classes", {"classes": True, "class_kl": False, "score": True}, needs=("classifier",))
def classes_metric(evaluation, samples) -> dict[str, float]:
    """Classes covered, class KL to uniform and the Inception-Score analogue, from the evaluator's logits."""
    return class_metrics(samples.logits, evaluation.seed)


@torch.no_grad()
def accuracy(classifier: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 1000) -> float:
    """The share of ``images`` that ``classifier`` (in eval mode) assigns to their label."""
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    predictions = torch.cat([classifier(batch.to(device)).argmax(dim=1).cpu() for batch in images.split(batch_size)])
    classifier.train(was_training)
    return float((predictions == labels).float().mean())


@register("accuracy", {"accuracy": True}, needs=("labels", "trained_classifier"))
def accuracy_metric(classifier: nn.Module, images: Tensor, labels: Tensor) -> dict[str, float]:
    """Accuracy of a classifier the run trains on labelled images (the semi-supervised GAN's test accuracy)."""
    return {"accuracy": accuracy(classifier, images, labels)}
