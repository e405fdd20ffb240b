"""The GAN LightningModule: the adversarial step (a D update on every batch, a G update every ``d_steps``); owns no
formulas and reads nothing of Lightning's private state."""

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from ganforge.ema import averaged_generator
from ganforge.losses import GANLoss

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]


class Regularizer(Protocol):
    """A penalty on D (see ``ganforge.regularizers``); None from a call means "not this step" (lazy)."""

    name: str
    needs_real_grad: bool
    provides_lipschitz: bool

    def __call__(
        self, discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, real_logits: Tensor, step: int
    ) -> Tensor | None: ...


class GAN(L.LightningModule):
    """Adversarial training with manual optimization: every batch is one D update (real batch vs. detached fakes);
    every ``d_steps``-th batch is also followed by one G update through the updated D, on that batch's fakes.
    ``simultaneous``: both networks update together from the gradients of one forward pass (``d_steps=1``).

    Counters, kept by the module and checkpointed: ``discriminator_updates`` (= batches trained) and
    ``generator_updates``, the step axis of everything ganforge logs. Lightning's ``global_step`` counts optimizer
    steps of both networks (``max_steps`` is in those units).
    """

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
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d
        self.regularizer = regularizer
        self.augment = augment
        self.d_steps = d_steps
        if simultaneous and d_steps != 1:
            raise ValueError(f"simultaneous updates make one D and one G update per batch; got d_steps={d_steps}")
        self.simultaneous = simultaneous
        # PacGAN: a packed D (pack=m) judges m independent samples at once; each comes from its own G batch.
        self.pack = getattr(discriminator, "pack", 1)
        # A submodule, so its weights are in every checkpoint.
        self.generator_ema = averaged_generator(generator, ema_decay, ema_warmup) if ema_decay else None
        self.generator_updates = 0
        self.discriminator_updates = 0
        # The resolved run config, stored in every checkpoint so that a checkpoint describes itself.
        self.run_config: dict[str, Any] | None = None

    @property
    def step(self) -> int:
        """The step axis of everything logged and of periodic work (checkpoints, sample grids, evaluation): G
        updates."""
        return self.generator_updates

    @property
    def optimizer_steps_per_batch(self) -> float:
        """What ``trainer.max_steps`` counts per training batch: one D step, and a G step every ``d_steps``."""
        return 1 + 1 / self.d_steps

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def sampler(self) -> nn.Module:
        """The generator to sample and evaluate with: the EMA copy when EMA is on."""
        return self.generator if self.generator_ema is None else self.generator_ema.module

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), shape (n, latent_dim), on this module's device."""
        if generator is None:
            return torch.randn(n, self.latent_dim, device=self.device)
        return torch.randn(n, self.latent_dim, generator=generator, device=generator.device).to(self.device)

    def forward(self, z: Tensor) -> Tensor:
        return self.sampler(z)

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
            if self.generator_ema is not None:
                self.generator_ema.update_parameters(self.generator)
            every = self.trainer.log_every_n_steps
            if every > 0 and self.generator_updates % every == 0:
                self.write_scalars({"train/g_loss": losses["g_loss"]} | {f"train/{k}": v() for k, v in scalars.items()})
        return losses

    def write_scalars(self, values: dict[str, Tensor]) -> None:
        """Send one step's scalars to the loggers (step axis: G updates), the progress bar and
        ``trainer.callback_metrics``.

        What ``self.log(on_step=True)`` does, at a fraction of its cost: Lightning moves its whole per-key
        result object to the value's device on every call (~0.6 ms per value here, ~8% of a reference MLP step
        at batch 128). One host transfer for all values, only on the steps that are written.
        """
        numbers = dict(zip(values, torch.stack([v.float() for v in values.values()]).tolist(), strict=True))
        for logger in self.loggers:
            logger.log_metrics(numbers | {"epoch": self.current_epoch}, step=self.step)
        self.trainer.callback_metrics.update({name: torch.tensor(value) for name, value in numbers.items()})
        shown = ("train/d_loss", "train/g_loss")
        self.trainer.progress_bar_metrics.update({name: numbers[name] for name in shown if name in numbers})

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ganforge_counters"] = {
            "generator_updates": self.generator_updates,
            "discriminator_updates": self.discriminator_updates,
        }
        if self.run_config is not None:
            checkpoint["ganforge_config"] = self.run_config

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        counters = checkpoint.get("ganforge_counters", {})
        self.generator_updates = counters.get("generator_updates", 0)
        self.discriminator_updates = counters.get("discriminator_updates", 0)

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
