"""The GAN LightningModule: orchestrates the discriminator and generator updates; owns no formulas."""

from collections.abc import Callable, Iterable

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from ganforge.losses import GANLoss

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]


class GAN(L.LightningModule):
    """Adversarial training with manual optimization: per batch one D update, then one G update.

    Step units: Lightning's ``global_step`` counts *optimizer* steps, two per batch here (so ``max_steps``
    is in those units), while the step axis of logged scalars and images counts *batches* (= G updates).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: GANLoss,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.optimizer_g = optimizer_g
        self.optimizer_d = optimizer_d

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), shape (n, latent_dim), on this module's device."""
        if generator is None:
            return torch.randn(n, self.latent_dim, device=self.device)
        return torch.randn(n, self.latent_dim, generator=generator, device=generator.device).to(self.device)

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)

    def configure_optimizers(self) -> list[Optimizer]:
        return [self.optimizer_g(self.generator.parameters()), self.optimizer_d(self.discriminator.parameters())]

    def training_step(self, real: Tensor, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        d_loss, real_logits, fake_logits = self.discriminator_step(real, opt_d)
        g_loss = self.generator_step(real.shape[0], opt_g)
        # Tensors, not floats: Lightning converts them only when it writes logs, so no host sync per step.
        self.log_dict({"train/d_loss": d_loss, "train/g_loss": g_loss}, prog_bar=True)
        self.log_dict(
            {"train/d_real": torch.sigmoid(real_logits).mean(), "train/d_fake": torch.sigmoid(fake_logits).mean()}
        )

    def discriminator_step(self, real: Tensor, optimizer: Optimizer) -> tuple[Tensor, Tensor, Tensor]:
        """One D update on real vs. detached fakes; returns (loss, real logits, fake logits), all detached."""
        with torch.no_grad():  # the same as G(z).detach(), without recording G's graph
            fake = self.generator(self.sample_noise(real.shape[0]))
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake)
        loss = self.loss.discriminator(real_logits, fake_logits)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        return loss.detach(), real_logits.detach(), fake_logits.detach()

    def generator_step(self, batch_size: int, optimizer: Optimizer) -> Tensor:
        """One G update on fresh fakes; D's parameters are frozen so no gradient is computed for them."""
        with self.toggled_optimizer(optimizer):
            fake_logits = self.discriminator(self.generator(self.sample_noise(batch_size)))
            loss = self.loss.generator(fake_logits)
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()
        return loss.detach()
