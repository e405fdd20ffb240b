"""The GAN LightningModule: orchestrates the discriminator and generator updates; owns no formulas."""

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
        d_losses = []
        for i, real in enumerate(batch.chunk(self.d_steps)):
            d_metrics = self.discriminator_step(real, opt_d, step * self.d_steps + i)
            d_losses.append(d_metrics["d_loss"])
        g_loss = self.generator_step(len(real), opt_g)
        if self.generator_ema is not None:
            self.generator_ema.update_parameters(self.generator)
        self.track_nonfinite(step, torch.stack(d_losses), g_loss)
        # Tensors, not floats: Lightning converts them only when it writes logs, so no host sync per step.
        self.log_dict({"train/d_loss": d_metrics.pop("d_loss"), "train/g_loss": g_loss}, prog_bar=True)
        self.log_dict({f"train/{name}": value for name, value in d_metrics.items()})

    def track_nonfinite(self, step: int, d_losses: Tensor, g_loss: Tensor) -> None:
        """Remember the first step whose losses are not all finite (device-side; no sync)."""
        first = ~(torch.isfinite(d_losses).all() & torch.isfinite(g_loss)) & (self.first_nonfinite_step < 0)
        self.first_nonfinite_step = torch.where(first, step, self.first_nonfinite_step)
        losses = torch.stack([d_losses[-1], g_loss]).to(self.first_nonfinite_losses.dtype)
        self.first_nonfinite_losses = torch.where(first, losses, self.first_nonfinite_losses)

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

    def discriminator_step(self, real: Tensor, optimizer: Optimizer, update: int) -> dict[str, Tensor]:
        """One D update on real vs. detached fakes; returns its (detached) loss, mean D probabilities and penalty."""
        with torch.no_grad():  # the same as G(z).detach(), without recording G's graph
            fake = self.generator(self.sample_noise(len(real)))
        if self.regularizer is not None and self.regularizer.needs_real_grad:
            real = real.detach().requires_grad_(True)
        real_logits, fake_logits = self.judge(real), self.judge(fake)
        loss = self.loss.discriminator(real_logits, fake_logits)
        metrics = {
            "d_loss": loss.detach(),
            "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }
        if self.regularizer is not None:
            penalty = self.regularizer(self.judge, real, fake, real_logits, update)
            if penalty is not None:
                loss = loss + penalty
                metrics[self.regularizer.name] = penalty.detach()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        return metrics

    def generator_step(self, batch_size: int, optimizer: Optimizer) -> Tensor:
        """One G update on fresh fakes; D's parameters are frozen so no gradient is computed for them."""
        with self.toggled_optimizer(optimizer):
            loss = self.loss.generator(self.judge(self.generator(self.sample_noise(batch_size))))
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
        return loss.detach()
