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

from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.distributions import Categorical
from torch.optim import Optimizer

from ganforge.build import adversarial_parts
from ganforge.ema import averaged_generator
from ganforge.losses import feature_matching_loss, nonsaturating, real_fake_logit
from ganforge.metrics.names import MetricName
from ganforge.rules import Rule, boolean, fraction, is_number, non_negative
from ganforge.tasks import Accepts, AdversarialTask, OptimizerFactory


def weight_problems(generator: bool, unsupervised: float, supervised: float) -> list[str]:
    """The loss weights that cannot train a classifier (for the config check and for the constructor)."""
    found = []
    if not generator and unsupervised > 0:
        found.append(f"module.generator=false but module.unsupervised_weight={unsupervised}: the unlabeled loss "
                     "compares real images with G's samples; set module.unsupervised_weight=0 (the supervised-only "
                     "baseline) or module.generator=true.")  # fmt: skip
    if unsupervised == 0 and supervised == 0:
        found.append("module.supervised_weight=0 and module.unsupervised_weight=0: the classifier would learn "
                     "nothing; set one of them > 0.")  # fmt: skip
    return found


class SemiSupervisedGAN(AdversarialTask):
    """The semi-supervised classifier (``module=ssl``). ``batch``: ``{"labeled": (images, labels), "unlabeled":
    images, "matched": images}`` (see ``SemiSupervisedData``, served when ``data.labeled`` is set). The step axis is
    the batch count (one D update each, and one G update when there is a G)."""

    name: ClassVar[str] = "ssl"
    accepts: ClassVar[Accepts] = Accepts(
        losses=("ganforge.losses.nonsaturating",), regularizers=False, schedules=False, labeled_data=True,
        classifier_d=True,
    )  # fmt: skip
    # conf/module/ssl.yaml's keys
    rules: ClassVar[tuple[Rule, ...]] = (
        boolean("generator"),
        non_negative("unsupervised_weight", "1.0"),
        non_negative("supervised_weight", "1.0"),
        non_negative("entropy_weight", "1.0"),
        fraction("classifier_ema", "0.999", null="off"),
    )

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
        problems = weight_problems(generator is not None, unsupervised_weight, supervised_weight)
        if problems:
            raise ValueError(" ".join(problems))
        super().__init__(generator, ema_decay, ema_warmup)
        self.discriminator = discriminator
        self.loss = nonsaturating()
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.augment = augment
        self.unsupervised_weight, self.supervised_weight = unsupervised_weight, supervised_weight
        self.entropy_weight = entropy_weight
        self.classifier_ema = (
            averaged_generator(discriminator, classifier_ema_decay, ema_warmup) if classifier_ema_decay else None
        )

    @classmethod
    def from_config(cls, cfg: DictConfig, datamodule: Any, speedups: bool | None = None) -> "SemiSupervisedGAN":
        generator, discriminator, _, _, augment = adversarial_parts(cfg, datamodule, speedups)
        module = cfg.module
        # an unsupervised GAN of these networks (supervised_weight=0) reads no training label at all
        datamodule.uses_labels = module.supervised_weight > 0
        return cls(
            generator=generator if module.generator else None,
            discriminator=discriminator,
            optimizer_g=instantiate(cfg.optim.generator),
            optimizer_d=instantiate(cfg.optim.discriminator),
            unsupervised_weight=module.unsupervised_weight,
            supervised_weight=module.supervised_weight,
            entropy_weight=module.entropy_weight,
            classifier_ema_decay=module.classifier_ema,
            augment=augment,
            ema_decay=cfg.ema.decay,
            ema_warmup=cfg.ema.warmup,
        )

    @classmethod
    def problems(cls, cfg: DictConfig) -> list[str]:
        found = []
        module, labeled = cfg.module, cfg.data.get("labeled")
        unsupervised, supervised = module.get("unsupervised_weight"), module.get("supervised_weight")
        if is_number(unsupervised) and is_number(supervised):  # else their rules report them
            found += weight_problems(module.get("generator") is not False, unsupervised, supervised)
        validation = labeled.get("validation_size") if isinstance(labeled, DictConfig) else None
        if cfg.data.get("holdout_fraction") == 0 and validation is None:
            found.append(
                "data.holdout_fraction=0 leaves the semi-supervised classifier no test split to measure; "
                "set it > 0 (the digits preset holds out 0.5) or data.labeled.validation_size=N images."
            )
        objective = cfg.get("objective")
        if isinstance(objective, str) and "/" in objective and MetricName.parse(objective).split == "test":
            found.append(f"objective={objective} would tune on the test split; choose settings on "
                         "validation/accuracy with data.labeled.validation_size=N.")  # fmt: skip
        return found

    @property
    def step(self) -> int:
        return self.discriminator_updates

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
            self.update_generator_ema()
        if self.log_due():
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
            fake = self.generator(self.sample_noise(len(unlabeled)))
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
                real_features = self.discriminator.embed(self.seen(matched))
            fake = self.generator(self.sample_noise(len(matched)))
            loss = feature_matching_loss(real_features, self.discriminator.embed(self.seen(fake)))
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
        return loss.detach()

    def seen(self, samples: Tensor) -> Tensor:
        """Samples as D sees them: through the augmentation when one is configured."""
        return samples if self.augment is None else self.augment(samples)

    def judge(self, samples: Tensor) -> Tensor:
        """D's class logits for samples, seen through the augmentation."""
        return self.discriminator(self.seen(samples))


def class_entropy(class_logits: Tensor) -> Tensor:
    """The mean entropy of the class distributions softmax(l) over a batch (in nats): minimised on unlabeled images
    it pushes D's class boundaries away from the data (Grandvalet & Bengio 2005; Dai et al. 2017 use it beside the
    semi-supervised GAN's loss)."""
    return Categorical(logits=class_logits).entropy().mean()
