"""The semi-supervised GAN (Salimans et al. 2016, "Improved Techniques for Training GANs", section 5): a classifier
learned from a handful of labels and all the unlabeled images.

The labels are the point of this mode, and it is the only place a GAN in ganforge sees any: a seeded,
class-balanced subset of the training split (``data/semisupervised.py``), stored with the run.

Per batch:
- D, a K-class classifier whose fake class has the fixed logit 0, so that its real/fake logit is
  ``log sum_k exp(l_k)`` (D(x) = Z / (Z + 1)), minimises the cross-entropy of the labeled batch plus
  ``unsupervised_weight`` x (the GAN loss of an unlabeled batch (real) against G's samples (fake), plus
  ``entropy_weight`` x the mean entropy of D's class distributions on that unlabeled batch);
- G minimises feature matching: the distance of the mean of D's last hidden features on a second unlabeled batch
  and on new samples.
The classifier that is evaluated is an EMA of D's weights (``classifier``). Without G and with
``unsupervised_weight=0`` the same module is the supervised-only baseline: the same network, labels and steps;
with ``supervised_weight=0`` it is an unsupervised GAN of the same networks (no label is read).
"""

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Categorical
from torch.optim import Optimizer

from ganforge.ema import averaged_generator
from ganforge.gan import GAN
from ganforge.losses import feature_matching_loss, nonsaturating, real_fake_logit

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]


class SemiSupervisedGAN(GAN):
    """``batch``: ``{"labeled": (images, labels), "unlabeled": images, "matched": images}`` (see
    ``SemiSupervisedData``). The step axis is the batch count (one D update each, and one G update when there is a
    G)."""

    def __init__(
        self,
        generator: nn.Module | None,
        discriminator: nn.Module,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        unsupervised_weight: float = 1.0,
        supervised_weight: float = 1.0,
        entropy_weight: float = 0.0,
        classifier_ema_decay: float | None = 0.999,
        augment: Callable[[Tensor], Tensor] | None = None,
        ema_decay: float | None = None,
        ema_warmup: bool = True,
    ) -> None:
        if generator is None and unsupervised_weight:
            raise ValueError("the unlabeled loss compares real images with G's samples: it needs a generator")
        if not supervised_weight and not unsupervised_weight:
            raise ValueError("with both loss weights 0 the classifier learns nothing")
        super().__init__(
            generator, discriminator, nonsaturating(), optimizer_g, optimizer_d, augment=augment,
            ema_decay=ema_decay if generator is not None else None, ema_warmup=ema_warmup,
        )  # fmt: skip
        self.unsupervised_weight, self.supervised_weight = unsupervised_weight, supervised_weight
        self.entropy_weight = entropy_weight
        self.classifier_ema = (
            averaged_generator(discriminator, classifier_ema_decay, ema_warmup) if classifier_ema_decay else None
        )

    @property
    def step(self) -> int:
        return self.discriminator_updates

    @property
    def optimizer_steps_per_batch(self) -> float:
        return 1.0 if self.generator is None else 2.0

    @property
    def classifier(self) -> nn.Module:
        """The classifier to evaluate: the EMA of D when on, else D."""
        return self.discriminator if self.classifier_ema is None else self.classifier_ema.module

    def configure_optimizers(self) -> list[Optimizer]:
        discriminator = self.optimizer_d(self.discriminator.parameters())
        if self.generator is None:
            return [discriminator]
        return [self.optimizer_g(self.generator.parameters()), discriminator]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Tensor]:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        (labeled, labels), unlabeled = batch["labeled"], batch["unlabeled"]
        d_loss, scalars = self.classifier_loss(labeled, labels, unlabeled)
        optimizers[-1].zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        optimizers[-1].step()
        self.discriminator_updates += 1
        if self.classifier_ema is not None:
            self.classifier_ema.update_parameters(self.discriminator)
        losses = {"d_loss": d_loss.detach()}
        if self.generator is not None:
            losses["g_loss"] = scalars["train/feature_matching"] = self.feature_matching_step(
                batch["matched"], optimizers[0]
            )
            self.generator_updates += 1
            if self.generator_ema is not None:
                self.generator_ema.update_parameters(self.generator)
        every = self.trainer.log_every_n_steps
        if every > 0 and self.step % every == 0:
            self.write_scalars({"train/d_loss": losses["d_loss"]} | scalars)
        return losses

    def classifier_loss(self, labeled: Tensor, labels: Tensor, unlabeled: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Cross-entropy on the labeled batch plus the weighted GAN loss of D's real/fake logit; and its scalars."""
        loss, scalars = labeled.new_zeros(()), {}
        if self.supervised_weight:
            class_logits = self.judge(labeled)
            supervised = F.cross_entropy(class_logits, labels)
            loss = self.supervised_weight * supervised
            scalars["train/labeled_ce"] = supervised.detach()
            scalars["train/labeled_accuracy"] = (class_logits.detach().argmax(dim=1) == labels).float().mean()
        if self.generator is None:
            return loss, scalars
        with torch.no_grad():
            fake = self.generate(self.sample_noise(len(unlabeled)))
        real_classes = self.judge(unlabeled)
        real_logit, fake_logit = real_fake_logit(real_classes), real_fake_logit(self.judge(fake))
        unsupervised = self.loss.discriminator(real_logit, fake_logit)
        scalars["train/unlabeled_loss"] = unsupervised.detach()
        # the share of unlabeled real images D calls real (D(x) > 1/2) and of G's samples it calls fake
        scalars["train/real_fake_accuracy"] = ((real_logit > 0).float().mean() + (fake_logit < 0).float().mean()) / 2
        if self.entropy_weight:
            entropy = class_entropy(real_classes)
            scalars["train/unlabeled_entropy"] = entropy.detach()
            unsupervised = unsupervised + self.entropy_weight * entropy
        return loss + self.unsupervised_weight * unsupervised, scalars

    def feature_matching_step(self, matched: Tensor, optimizer: Optimizer) -> Tensor:
        """One G update by feature matching against ``matched`` (a second unlabeled batch) on new samples."""
        with self.toggled_optimizer(optimizer):
            with torch.no_grad():
                real_features = self.discriminator.embed(self._seen(matched))
            fake = self.generate(self.sample_noise(len(matched)))
            loss = feature_matching_loss(real_features, self.discriminator.embed(self._seen(fake)))
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
        return loss.detach()

    def _seen(self, samples: Tensor) -> Tensor:
        return samples if self.augment is None else self.augment(samples)


def class_entropy(class_logits: Tensor) -> Tensor:
    """The mean entropy of the class distributions softmax(l) over a batch (in nats): minimised on unlabeled images
    it pushes D's class boundaries away from the data (Grandvalet & Bengio 2005; Dai et al. 2017 use it beside the
    semi-supervised GAN's loss)."""
    return Categorical(logits=class_logits).entropy().mean()
