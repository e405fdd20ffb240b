"""The GAN LightningModule: the adversarial step (a D update on every batch, a G update every ``d_steps``); owns no
formulas and reads nothing of Lightning's private state."""

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.optim import Optimizer

from ganforge.build import adversarial_parts
from ganforge.losses import GANLoss
from ganforge.rules import boolean, integer
from ganforge.tasks import Accepts, AdversarialTask, OptimizerFactory

# The keys of the optim group that set this task's schedule (read by ``GAN.from_config``).
RULES = (integer("optim.d_steps", 1, "1"), boolean("optim.simultaneous"))


class Regularizer(Protocol):
    """A penalty on D (see ``ganforge.regularizers``); None from a call means "not this step" (lazy)."""

    name: str
    needs_real_grad: bool
    provides_lipschitz: bool

    def __call__(
        self, discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, real_logits: Tensor, step: int
    ) -> Tensor | None: ...


class GAN(AdversarialTask):
    """Generation (``module=gan``): adversarial training with manual optimization: every batch is one D update
    (real batch vs. detached fakes); every ``d_steps``-th batch is also followed by one G update through the updated
    D, on that batch's fakes. ``simultaneous``: both networks update together from the gradients of one forward pass
    (``d_steps=1``, checked by ``problems``). The step axis (``step``) is G updates.
    """

    name: ClassVar[str] = "gan"
    accepts: ClassVar[Accepts] = Accepts(classifier_d=False)

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: GANLoss,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        regularizer: Regularizer | None = None,
        augment: Callable[[Tensor], Tensor] | None = None,
        d_steps: int = 1,
        simultaneous: bool = False,
        ema_decay: float | None = None,
        ema_warmup: bool = True,
    ) -> None:
        super().__init__(generator, ema_decay, ema_warmup)
        self.discriminator = discriminator
        self.loss = loss
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.regularizer = regularizer
        self.augment = augment
        self.d_steps = d_steps
        self.simultaneous = simultaneous
        # PacGAN: a packed D (pack=m) judges m independent samples at once; each comes from its own G batch.
        self.pack = getattr(discriminator, "pack", 1)

    @classmethod
    def from_config(cls, cfg: DictConfig, datamodule: Any, speedups: bool | None = None) -> "GAN":
        generator, discriminator, loss, regularizer, augment = adversarial_parts(cfg, datamodule, speedups)
        return cls(
            generator=generator,
            discriminator=discriminator,
            loss=loss,
            optimizer_g=instantiate(cfg.optim.generator),
            optimizer_d=instantiate(cfg.optim.discriminator),
            regularizer=regularizer,
            augment=augment,
            d_steps=cfg.optim.d_steps,
            simultaneous=cfg.optim.simultaneous,
            ema_decay=cfg.ema.decay,
            ema_warmup=cfg.ema.warmup,
        )

    @classmethod
    def problems(cls, cfg: DictConfig) -> list[str]:
        d_steps = cfg.optim.get("d_steps", 1)
        if cfg.optim.get("simultaneous") is True and isinstance(d_steps, int) and d_steps != 1:
            return [f"optim.simultaneous=true makes one D and one G update per batch, but optim.d_steps={d_steps}; "
                    "set optim.d_steps=1, or optim.simultaneous=false to alternate."]  # fmt: skip
        return []

    @property
    def step(self) -> int:
        return self.generator_updates

    @property
    def batches_per_step(self) -> int:
        return 1 if self.simultaneous else self.d_steps

    def generate(self, z: Tensor) -> Tensor:
        """G's samples for D: G(z), or for a D that packs m samples, m separate G batches of n/m interleaved so
        that each pack holds one sample of every batch (PacGAN's m independent samples: a BatchNorm G couples
        the samples of one batch)."""
        if self.pack == 1:
            return self.generator(z)
        batches = [self.generator(part) for part in z.view(self.pack, -1, *z.shape[1:])]
        return torch.stack(batches, dim=1).flatten(0, 1)

    def judge(self, samples: Tensor) -> Tensor:
        """D's outputs for samples, seen through the augmentation when one is configured."""
        return self.discriminator(samples if self.augment is None else self.augment(samples))

    def configure_optimizers(self) -> list[Optimizer]:
        return [self.optimizer_g(self.generator.parameters()), self.optimizer_d(self.discriminator.parameters())]

    def training_step(self, real: Tensor, batch_idx: int) -> dict[str, Tensor]:
        """One D update on this batch and, every ``d_steps`` batches, one G update; returns the detached losses
        (read by the non-finite guard)."""
        opt_g, opt_d = self.optimizers()
        if self.simultaneous:
            scalars, g_loss = self.simultaneous_step(real, opt_d, opt_g)
            self.discriminator_updates += 1
            losses = {"d_loss": scalars["d_loss"](), "g_loss": g_loss}
            update_g = True
        else:
            update_g = (self.discriminator_updates + 1) % self.d_steps == 0
            scalars, fake = self.discriminator_step(real, opt_d, keep_fake=update_g)
            self.discriminator_updates += 1
            losses = {"d_loss": scalars["d_loss"]()}
            if update_g:
                losses["g_loss"] = self.generator_step(fake, real, opt_g)
        if update_g:
            self.generator_updates += 1
            self.update_generator_ema()
            if self.log_due():
                self.write_scalars({"train/g_loss": losses["g_loss"]} | {f"train/{k}": v() for k, v in scalars.items()})
        return losses

    def discriminator_step(
        self, real: Tensor, optimizer: Optimizer, keep_fake: bool = False
    ) -> tuple[dict[str, Callable[[], Tensor]], Tensor]:
        """One D update on real vs. detached fakes; returns its scalars (as functions, computed only if logged)
        and the fakes.

        With ``keep_fake`` the fakes keep G's graph for the G update that follows (the usual GAN step: one G
        forward serves both updates); otherwise they are made without recording it.
        """
        z = self.sample_noise(len(real))
        if keep_fake:
            fake_for_g = self.generate(z)
            fake = fake_for_g.detach()
        else:
            with torch.no_grad():
                fake = fake_for_g = self.generate(z)
        real, real_logits, fake_logits = self.judge_both(real, fake)
        loss, scalars = self.discriminator_loss(real, fake, real_logits, fake_logits)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        return scalars, fake_for_g

    def judge_both(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(real, D(real), D(fake)); ``real`` requires grad when the regularizer reads its gradient.

        Two forwards, not one over torch.cat([real, fake]): the copy cost more than it saved (ganforge-bench:
        ours/reference 1.02 -> 1.07 at batch 1024 without it, no difference at 128), and it would mix real and
        fake in BatchNorm and minibatch-std statistics.
        """
        if self.regularizer is not None and self.regularizer.needs_real_grad:
            real = real.detach().requires_grad_(True)
        return real, self.judge(real), self.judge(fake)

    def discriminator_loss(
        self, real: Tensor, fake: Tensor, real_logits: Tensor, fake_logits: Tensor
    ) -> tuple[Tensor, dict[str, Callable[[], Tensor]]]:
        """D's loss (the game's, plus the regularizer's penalty on steps it applies) and its scalars."""
        loss = self.loss.discriminator(real_logits, fake_logits)
        scalars = discriminator_scalars(loss, real_logits, fake_logits)
        if self.regularizer is not None:
            penalty = self.regularizer(self.judge, real, fake, real_logits, self.discriminator_updates)
            if penalty is not None:
                loss = loss + penalty
                scalars[self.regularizer.name] = penalty.detach
        return loss, scalars

    def simultaneous_step(
        self, real: Tensor, opt_d: Optimizer, opt_g: Optimizer
    ) -> tuple[dict[str, Callable[[], Tensor]], Tensor]:
        """Simultaneous gradient descent: D's and G's gradients both come from one forward pass (one G batch, one
        D pass over real and fake) and both networks step together, as in PacGAN's and ALI's code. Each backward
        reaches only its own network's parameters (``inputs=``), so neither computes the other's gradients."""
        fake = self.generate(self.sample_noise(len(real)))
        real, real_logits, fake_logits = self.judge_both(real, fake)
        d_loss, scalars = self.discriminator_loss(real, fake, real_logits, fake_logits)
        g_loss = self.loss.generator(fake_logits, real_logits.detach() if self.loss.generator_reads_real else None)
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(d_loss, inputs=list(self.discriminator.parameters()), retain_graph=True)
        self.manual_backward(g_loss, inputs=list(self.generator.parameters()))
        opt_d.step()
        opt_g.step()
        return scalars, g_loss.detach()

    def generator_step(self, fake: Tensor, real: Tensor, optimizer: Optimizer) -> Tensor:
        """One G update on ``fake`` (still attached to G's graph); D's parameters are frozen during it, so no
        gradient is computed for them. D's outputs on ``real`` are computed only for a loss that reads them."""
        with self.toggled_optimizer(optimizer):
            real_logits = None
            if self.loss.generator_reads_real:
                with torch.no_grad():
                    real_logits = self.judge(real.detach())
            loss = self.loss.generator(self.judge(fake), real_logits)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
        return loss.detach()


def discriminator_scalars(loss: Tensor, real_logits: Tensor, fake_logits: Tensor) -> dict[str, Callable[[], Tensor]]:
    """What is logged of a D update, as functions evaluated only on logging steps.

    ``d_real`` / ``d_fake``: D's mean raw output on real / generated samples, which every loss shapes (a logit, a
    hinge or least-squares score, a critic value); ``d_accuracy``: the share of (real, fake) pairs that D scores
    the right way round (real above fake), which means the same for every loss, relativistic ones included (0.5:
    D cannot tell them apart).
    """
    real, fake = real_logits.detach().flatten(), fake_logits.detach().flatten()
    return {
        "d_loss": loss.detach,
        "d_real": real.mean,
        "d_fake": fake.mean,
        "d_accuracy": lambda: pairs_ranked_right(real, fake),
    }


def pairs_ranked_right(real: Tensor, fake: Tensor) -> Tensor:
    """The share of (real, fake) pairs with real > fake (the Mann-Whitney U statistic over n_real * n_fake), from
    the ranks of all outputs: O(n log n) instead of the n^2 pairwise comparison (1M at batch 1024)."""
    ranks = torch.cat([real, fake]).argsort().argsort()[: len(real)].double()  # 0-based ranks of the reals
    n_real, n_fake = len(real), len(fake)
    return (ranks.sum() - n_real * (n_real - 1) / 2) / (n_real * n_fake)
