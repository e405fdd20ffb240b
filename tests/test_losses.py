"""Losses against values computed by hand, and the signs (and saturation) of their gradients."""

import functools
import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganforge.losses import (
    d_hinge_loss,
    d_least_squares_loss,
    d_logistic_loss,
    d_wasserstein_loss,
    g_hinge_loss,
    g_least_squares_loss,
    g_minimax_loss,
    g_nonsaturating_loss,
)
from ganforge.train import CONFIG_DIR

LOG2 = math.log(2)
# D(x) = sigmoid(logit): logit log(3) -> 0.75, logit log(1/3) -> 0.25.
P75, P25 = math.log(3), math.log(1 / 3)


def logits(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize(
    ("real", "fake", "expected"),
    [
        pytest.param(0.0, 0.0, 2 * LOG2, id="undecided-D"),
        pytest.param(P75, P25, -math.log(0.75) - math.log(1 - 0.25), id="D-right"),
        pytest.param(P25, P75, -math.log(0.25) - math.log(1 - 0.75), id="D-wrong"),
    ],
)
def test_discriminator_loss_values(real: float, fake: float, expected: float) -> None:
    loss = d_logistic_loss(logits(real, real), logits(fake, fake))
    assert loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("fake", "nonsaturating", "minimax"),
    [
        pytest.param(0.0, LOG2, -LOG2, id="D=0.5"),
        pytest.param(P25, -math.log(0.25), math.log(1 - 0.25), id="D=0.25"),
        pytest.param(P75, -math.log(0.75), math.log(1 - 0.75), id="D=0.75"),
    ],
)
def test_generator_loss_values(fake: float, nonsaturating: float, minimax: float) -> None:
    assert g_nonsaturating_loss(logits(fake, fake)).item() == pytest.approx(nonsaturating, rel=1e-12)
    assert g_minimax_loss(logits(fake, fake)).item() == pytest.approx(minimax, rel=1e-12)


def test_discriminator_gradient_raises_real_and_lowers_fake_logits() -> None:
    real, fake = logits(0.3, -1.0), logits(0.5, 2.0)
    d_logistic_loss(real, fake).backward()
    assert (real.grad < 0).all(), "descending D's loss must push real logits up"
    assert (fake.grad > 0).all(), "descending D's loss must push fake logits down"
    # d/dr softplus(-r)/N = -(1 - sigmoid(r))/N
    expected = -(1 - torch.sigmoid(real.detach())) / 2
    assert torch.allclose(real.grad, expected)


@pytest.mark.parametrize("loss_fn", [g_nonsaturating_loss, g_minimax_loss], ids=["nonsaturating", "minimax"])
def test_generator_gradients_raise_fake_logits(loss_fn) -> None:
    fake = logits(-3.0, 0.0, 3.0)
    loss_fn(fake).backward()
    assert (fake.grad < 0).all()


def test_minimax_saturates_where_nonsaturating_does_not() -> None:
    """When D confidently rejects fakes (logit -10), the minimax gradient is ~e^-10 times the other one."""
    grads = {}
    for name, loss_fn in (("ns", g_nonsaturating_loss), ("mm", g_minimax_loss)):
        fake = logits(-10.0)
        loss_fn(fake).backward()
        grads[name] = fake.grad.item()
    assert grads["ns"] == pytest.approx(-(1 - torch.sigmoid(torch.tensor(-10.0)).item()), rel=1e-9)
    assert grads["mm"] == pytest.approx(-torch.sigmoid(torch.tensor(-10.0)).item(), rel=1e-6)
    assert abs(grads["mm"]) < 1e-4 * abs(grads["ns"])


def test_losses_stay_finite_for_extreme_logits() -> None:
    big = logits(200.0)
    assert torch.isfinite(d_logistic_loss(-big, big))
    assert d_logistic_loss(-big, big).item() == pytest.approx(400.0)
    assert torch.isfinite(g_nonsaturating_loss(-big))


# --- hinge, Wasserstein, least squares: values and gradients by hand --------------------------------------


def grad_of(loss_fn, *inputs: torch.Tensor) -> list[torch.Tensor]:
    loss_fn(*inputs).backward()
    return [x.grad for x in inputs]


def test_hinge_losses() -> None:
    real, fake = logits(0.5, 2.0), logits(-2.0, 0.5)
    # relu(1 - [0.5, 2]) = [0.5, 0] -> 0.25;  relu(1 + [-2, 0.5]) = [0, 1.5] -> 0.75
    assert d_hinge_loss(real, fake).item() == pytest.approx(1.0)
    assert g_hinge_loss(fake).item() == pytest.approx(0.75)
    real_grad, fake_grad = grad_of(d_hinge_loss, real, fake)
    assert real_grad.tolist() == [-0.5, 0.0] and fake_grad.tolist() == [0.0, 0.5]  # margins satisfied: no push


def test_wasserstein_losses() -> None:
    real, fake = logits(3.0, 1.0), logits(-1.0, 0.0)
    assert d_wasserstein_loss(real, fake).item() == pytest.approx(-0.5 - 2.0)
    real_grad, fake_grad = grad_of(d_wasserstein_loss, real, fake)
    assert real_grad.tolist() == [-0.5, -0.5] and fake_grad.tolist() == [0.5, 0.5]
    fake = logits(-1.0, 0.0)
    assert g_hinge_loss(fake).item() == pytest.approx(0.5)
    assert grad_of(g_hinge_loss, fake)[0].tolist() == [-0.5, -0.5]


def test_least_squares_losses() -> None:
    real, fake = logits(0.0, 2.0), logits(1.0, -1.0)
    # 1/2 mean([1, 1]) + 1/2 mean([1, 1]) = 1;  G: 1/2 mean([0, 4]) = 1
    assert d_least_squares_loss(real, fake).item() == pytest.approx(1.0)
    real_grad, fake_grad = grad_of(d_least_squares_loss, real, fake)
    assert real_grad.tolist() == [-0.5, 0.5] and fake_grad.tolist() == [0.5, -0.5]  # towards 1 and 0
    fake = logits(1.0, -1.0)
    assert g_least_squares_loss(fake).item() == pytest.approx(1.0)
    assert grad_of(g_least_squares_loss, fake)[0].tolist() == [0.0, -1.0]  # pushes the rejected fake up


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONFIG_DIR / "loss").glob("*.yaml")))
def test_loss_presets_call_plain_functions(preset: str) -> None:
    """Hydra's partial objects re-check their target policy on every call (~85 us, twice per training step);
    GANLoss keeps plain partials of the configured functions, which give the same values."""
    node = OmegaConf.load(CONFIG_DIR / "loss" / f"{preset}.yaml")
    loss = instantiate(node)
    configured = instantiate(node.discriminator), instantiate(node.generator)
    assert type(loss.discriminator) is functools.partial and type(loss.generator) is functools.partial
    assert loss.discriminator.func is configured[0].func and loss.generator.func is configured[1].func
    real, fake = torch.randn(8, 1), torch.randn(8, 1)
    assert torch.equal(loss.discriminator(real, fake), configured[0](real, fake))
    assert torch.equal(loss.generator(fake), configured[1](fake))
