"""Adversarial losses as pure functions of discriminator outputs ("logits"), and the games they form.

Every loss sees both sides: ``d_*(real_logits, fake_logits)`` is minimised by D and ``g_*(fake_logits,
real_logits)`` by G (lucidrains' shared signature), so a relativistic loss is one more pair of functions. Inputs
are D's raw outputs, never probabilities: the ``softplus`` forms are the numerically stable equivalents of
``-log(sigmoid(.))`` and never saturate to ``log(0)``. Functions return a scalar tensor and never call
``backward``; the LightningModule owns the optimisation.

A game (``GANLoss``) declares what it needs of the training step instead of being recognised by name: whether G's
loss reads D's outputs on real data (relativistic losses: one more D forward per G update) and whether D must be
Lipschitz (the Wasserstein critic). ``conf/loss/<name>.yaml`` names one of the factories at the bottom.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor


def d_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's loss for the original GAN game: -[log D(x) + log(1 - D(G(z)))], averaged over each batch."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """G's non-saturating loss -log D(G(z)): strong gradients while D still rejects the fakes."""
    return F.softplus(-fake_logits).mean()


def g_minimax_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """G's literal minimax loss log(1 - D(G(z))); its gradient vanishes when D confidently rejects fakes."""
    return -F.softplus(fake_logits).mean()


def d_hinge_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """D's hinge loss (Lim & Ye 2017; SNGAN): mean relu(1 - D(x)) + mean relu(1 + D(G(z)))."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_hinge_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """G's loss in the hinge game and the Wasserstein game: -mean D(G(z))."""
    return -fake_logits.mean()


def d_wasserstein_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """The critic's loss (Arjovsky et al. 2017): mean D(G(z)) - mean D(x); needs a Lipschitz constraint
    (regularizer=gradient_penalty or spectral norm)."""
    return fake_logits.mean() - real_logits.mean()


def d_least_squares_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """LSGAN's D loss (Mao et al. 2017, targets 1 for real, 0 for fake): 1/2 E(D(x)-1)^2 + 1/2 E D(G(z))^2."""
    return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()


def g_least_squares_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
    """LSGAN's G loss: 1/2 E(D(G(z)) - 1)^2."""
    return 0.5 * (fake_logits - 1).square().mean()


def d_relativistic_average_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """RaGAN's D loss (Jolicoeur-Martineau 2018, with the logistic base): real samples should look more real
    than the average fake, fakes less real than the average real:
    -E log sigmoid(D(x) - E D(G(z))) - E log(1 - sigmoid(D(G(z)) - E D(x)))."""
    return F.softplus(-(real_logits - fake_logits.mean())).mean() + F.softplus(fake_logits - real_logits.mean()).mean()


def g_relativistic_average_loss(fake_logits: Tensor, real_logits: Tensor | None) -> Tensor:
    """RaGAN's G loss: D's loss with the roles of real and fake swapped (G also gains from making reals look
    less real relative to its fakes); ``real_logits`` are D's outputs on a real batch (no gradient to G)."""
    return d_relativistic_average_loss(fake_logits, _required(real_logits))


def d_relativistic_pairing_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """RpGAN's D loss (Jolicoeur-Martineau 2018; R3GAN, Huang et al. 2024): each real is compared with its
    paired fake, E softplus(D(G(z)) - D(x))."""
    return F.softplus(fake_logits - real_logits).mean()


def g_relativistic_pairing_loss(fake_logits: Tensor, real_logits: Tensor | None) -> Tensor:
    """RpGAN's G loss: E softplus(D(x) - D(G(z)))."""
    return F.softplus(_required(real_logits) - fake_logits).mean()


def _required(real_logits: Tensor | None) -> Tensor:
    if real_logits is None:
        raise ValueError("a relativistic generator loss needs D's outputs on real data (GANLoss.generator_reads_real)")
    return real_logits


@dataclass(frozen=True)
class GANLoss:
    """A pair of losses that form one adversarial game, with what it needs of the training step.

    ``discriminator(real_logits, fake_logits)`` is minimised by D, ``generator(fake_logits, real_logits)`` by G;
    ``generator_reads_real``: G's loss uses D's outputs on real data (else it is given None and no D forward on
    real data is spent on it); ``needs_lipschitz``: D's outputs grow without bound unless D is Lipschitz (a
    gradient penalty or spectral norm provides that; validation reads this).
    """

    discriminator: Callable[[Tensor, Tensor], Tensor]
    generator: Callable[[Tensor, Tensor | None], Tensor]
    generator_reads_real: bool = False
    needs_lipschitz: bool = False


def nonsaturating() -> GANLoss:
    """D maximises log D(x) + log(1 - D(G(z))); G minimises -log D(G(z)) (Goodfellow et al. 2014)."""
    return GANLoss(d_logistic_loss, g_nonsaturating_loss)


def minimax() -> GANLoss:
    """The literal minimax game: G minimises log(1 - D(G(z))); its gradient vanishes early in training."""
    return GANLoss(d_logistic_loss, g_minimax_loss)


def hinge() -> GANLoss:
    """Hinge loss (Lim & Ye 2017), as in SNGAN and BigGAN."""
    return GANLoss(d_hinge_loss, g_hinge_loss)


def wasserstein() -> GANLoss:
    """Wasserstein critic (Arjovsky et al. 2017): needs a gradient penalty (WGAN-GP) or spectral norm."""
    return GANLoss(d_wasserstein_loss, g_hinge_loss, needs_lipschitz=True)


def lsgan() -> GANLoss:
    """Least squares (Mao et al. 2017)."""
    return GANLoss(d_least_squares_loss, g_least_squares_loss)


def relativistic() -> GANLoss:
    """Relativistic average GAN, RaGAN (Jolicoeur-Martineau 2018)."""
    return GANLoss(d_relativistic_average_loss, g_relativistic_average_loss, generator_reads_real=True)


def rpgan() -> GANLoss:
    """Relativistic pairing GAN, RpGAN (Jolicoeur-Martineau 2018), the loss of R3GAN (Huang et al. 2024)."""
    return GANLoss(d_relativistic_pairing_loss, g_relativistic_pairing_loss, generator_reads_real=True)


# --- the semi-supervised GAN (Salimans et al. 2016): D is a K-class classifier ----------------------------------


def real_fake_logit(class_logits: Tensor) -> Tensor:
    """The real/fake logit of a K-class D whose fake class has the fixed logit 0: log Z with Z = sum_k exp(l_k),
    so that D(x) = sigmoid(log Z) = Z / (Z + 1) (Salimans et al. 2016, section 5)."""
    return class_logits.logsumexp(dim=1)


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """G's feature-matching loss: the mean squared difference of the batch means of D's features on real and
    generated samples, ||E f(x) - E f(G(z))||^2 / d (Salimans et al. 2016, section 3.1)."""
    return (real_features.mean(dim=0) - fake_features.mean(dim=0)).square().mean()
