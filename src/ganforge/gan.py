"""The GAN LightningModule: orchestrates the discriminator and generator updates; owns no formulas."""

import math
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

    def __call__(
        self, discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, real_logits: Tensor, step: int
    ) -> Tensor | None: ...


class GAN(L.LightningModule):
    """Adversarial training with manual optimization: per training step, ``d_steps`` D updates (each on its own
    real batch), then one G update.

    Step units: a training step consumes ``d_steps`` batches. Lightning's ``global_step`` counts *optimizer*
    steps, ``d_steps + 1`` per training step (so ``max_steps`` is in those units), while the step axis of
    logged scalars and images counts *training steps* (= G updates).
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
        # A submodule, so its weights are in every checkpoint.
        self.generator_ema = averaged_generator(generator, ema_decay, ema_warmup) if ema_decay else None
        # The resolved run config, stored in every checkpoint so that a checkpoint describes itself.
        self.run_config: dict[str, Any] | None = None
        # The first training step with a non-finite loss, and its losses; updated on the device, read only
        # every few steps by NonFiniteGuard, so detection costs no host sync per step.
        self.register_buffer("first_nonfinite_step", torch.tensor(-1), persistent=False)
        self.register_buffer("first_nonfinite_losses", torch.zeros(2), persistent=False)

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

    def judge(self, samples: Tensor) -> Tensor:
        """D's outputs for samples, seen through the augmentation when one is configured."""
        return self.discriminator(samples if self.augment is None else self.augment(samples))

    def configure_optimizers(self) -> list[Optimizer]:
        return [self.optimizer_g(self.generator.parameters()), self.optimizer_d(self.discriminator.parameters())]

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        step = self.global_step // (self.d_steps + 1)
        log_now = self.logging_step()
        d_losses = []
        reals = batch.chunk(self.d_steps)
        for i, real in enumerate(reals):
            last = i == len(reals) - 1
            d_metrics, fake = self.discriminator_step(real, opt_d, step * self.d_steps + i, keep_fake=last)
            d_losses.append(d_metrics["d_loss"])
        g_loss = self.generator_step(fake, opt_g)
        if self.generator_ema is not None:
            self.generator_ema.update_parameters(self.generator)
        self.track_nonfinite(step, d_losses, g_loss)
        if log_now:
            values = {"train/d_loss": d_metrics.pop("d_loss"), "train/g_loss": g_loss}
            values |= {f"train/{name}": value() if callable(value) else value for name, value in d_metrics.items()}
            self.write_scalars(values)

    def write_scalars(self, values: dict[str, Tensor]) -> None:
        """Send one training step's scalars to the loggers, the progress bar and ``trainer.callback_metrics``.

        What ``self.log(on_step=True)`` does, at a fraction of its cost: Lightning moves its whole per-key
        result object to the value's device on every call (~0.6 ms per value here, ~8% of a reference MLP step
        at batch 128). One host transfer for all values, only on the steps that are written.
        """
        numbers = dict(zip(values, torch.stack([v.float() for v in values.values()]).tolist(), strict=True))
        step = self.trainer.fit_loop.epoch_loop._batches_that_stepped + 1  # Lightning's step axis after this step
        for logger in self.loggers:
            logger.log_metrics(numbers | {"epoch": self.current_epoch}, step=step)
        self.trainer.callback_metrics.update({name: torch.tensor(value) for name, value in numbers.items()})
        self.trainer.progress_bar_metrics.update({name: numbers[name] for name in ("train/d_loss", "train/g_loss")})

    def logging_step(self) -> bool:
        """Whether the logger writes this training step (Lightning's own rule: every log_every_n_steps)."""
        every = self.trainer.log_every_n_steps
        step = self.trainer.fit_loop.epoch_loop._batches_that_stepped + 1
        return every > 0 and (step % every == 0 or self.trainer.should_stop)

    def track_nonfinite(self, step: int, d_losses: list[Tensor], g_loss: Tensor) -> None:
        """Remember the first step whose losses are not all finite.

        On the CPU reading a loss costs nothing, so the check is plain Python (~1 us); on an accelerator it stays
        on the device with no host sync (``track_nonfinite_on_device``: a dozen tiny ops, ~20 us per step on the
        CPU, ~0.4% of a batch-128 MLP step, which is why the CPU does not use it).
        """
        if g_loss.device.type != "cpu":
            self.track_nonfinite_on_device(step, d_losses, g_loss)
            return
        values = [float(loss) for loss in (*d_losses, g_loss)]
        if not all(map(math.isfinite, values)) and int(self.first_nonfinite_step) < 0:
            self.first_nonfinite_step.fill_(step)
            self.first_nonfinite_losses.copy_(torch.tensor(values[-2:]))

    def track_nonfinite_on_device(self, step: int, d_losses: list[Tensor], g_loss: Tensor) -> None:
        """``track_nonfinite`` without leaving the device (no sync, in place)."""
        losses = torch.stack([*d_losses, g_loss]).to(self.first_nonfinite_losses.dtype)
        first = losses.isfinite().all().logical_not_() & (self.first_nonfinite_step < 0)
        self.first_nonfinite_step.copy_(torch.where(first, step, self.first_nonfinite_step))
        self.first_nonfinite_losses.copy_(torch.where(first, losses[-2:], self.first_nonfinite_losses))

    def nonfinite(self) -> tuple[int, float, float] | None:
        """(step, d_loss, g_loss) of the first non-finite step, or None; reads the device flag (a sync)."""
        step = int(self.first_nonfinite_step)
        if step < 0:
            return None
        d_loss, g_loss = self.first_nonfinite_losses.tolist()
        return step, d_loss, g_loss

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.run_config is not None:
            checkpoint["ganforge_config"] = self.run_config

    def discriminator_step(
        self, real: Tensor, optimizer: Optimizer, update: int, keep_fake: bool = False
    ) -> tuple[dict[str, Tensor | Callable[[], Tensor]], Tensor]:
        """One D update on real vs. detached fakes; returns its metrics (loss and penalty as detached tensors,
        mean D probabilities as functions, computed only if logged) and the fakes.

        With ``keep_fake`` the fakes keep G's graph for the G update that follows (the usual GAN step: one G
        forward serves both updates); otherwise they are made without recording it.
        """
        z = self.sample_noise(len(real))
        if keep_fake:
            fake_for_g = self.generator(z)
            fake = fake_for_g.detach()
        else:
            with torch.no_grad():
                fake = fake_for_g = self.generator(z)
        if self.regularizer is not None and self.regularizer.needs_real_grad:
            real = real.detach().requires_grad_(True)
        # Two forwards, not one over torch.cat([real, fake]): the copy cost more than it saved (ganforge-bench:
        # ours/reference 1.02 -> 1.07 at batch 1024 without it, no difference at 128), and it would mix real and
        # fake in BatchNorm and minibatch-std statistics.
        real_logits, fake_logits = self.judge(real), self.judge(fake)
        loss = self.loss.discriminator(real_logits, fake_logits)
        real_logits_, fake_logits_ = real_logits.detach(), fake_logits.detach()
        metrics: dict[str, Tensor | Callable[[], Tensor]] = {
            "d_loss": loss.detach(),
            "d_real": lambda: torch.sigmoid(real_logits_).mean(),
            "d_fake": lambda: torch.sigmoid(fake_logits_).mean(),
        }
        if self.regularizer is not None:
            penalty = self.regularizer(self.judge, real, fake, real_logits, update)
            if penalty is not None:
                loss = loss + penalty
                metrics[self.regularizer.name] = penalty.detach()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self.average_gradients(self.discriminator)
        optimizer.step()
        return metrics, fake_for_g

    def generator_step(self, fake: Tensor, optimizer: Optimizer) -> Tensor:
        """One G update on ``fake`` (still attached to G's graph); D's parameters are frozen during it, so no
        gradient is computed for them."""
        with self.toggled_optimizer(optimizer):
            loss = self.loss.generator(self.judge(fake))
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            self.average_gradients(self.generator)
            optimizer.step()
        return loss.detach()

    def average_gradients(self, module: nn.Module) -> None:
        """Under ``trainer=ddp`` (GradientAllReduceDDP), average ``module``'s gradients over the ranks."""
        average = getattr(self.trainer.strategy, "average_gradients", None)
        if average is not None:
            average(module)
