"""Losses against values computed by hand, and the signs (and saturation) of their gradients."""

import math

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ganforge.losses import (
    GANLoss,
    d_hinge_loss,
    d_least_squares_loss,
    d_logistic_loss,
    d_relativistic_average_loss,
    d_relativistic_pairing_loss,
    d_wasserstein_loss,
    g_hinge_loss,
    g_least_squares_loss,
    g_minimax_loss,
    g_nonsaturating_loss,
    g_relativistic_average_loss,
    g_relativistic_pairing_loss,
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


PRESETS = sorted(p.stem for p in (CONFIG_DIR / "loss").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_loss_preset_is_one_target_that_builds_a_game(preset: str) -> None:
    """A loss option is one line (its factory); the game sees both sides and declares what it needs."""
    node = OmegaConf.load(CONFIG_DIR / "loss" / f"{preset}.yaml")
    assert set(node) == {"_target_"}
    loss = instantiate(node)
    assert isinstance(loss, GANLoss)
    real, fake = torch.randn(8, 1), torch.randn(8, 1)
    assert loss.discriminator(real, fake).shape == ()
    assert loss.generator(fake, real if loss.generator_reads_real else None).shape == ()
    assert loss.needs_lipschitz == (preset == "wasserstein")
    assert loss.generator_reads_real == (preset in ("relativistic", "rpgan"))


# --- relativistic losses: values by hand ------------------------------------------------------------------------


def test_relativistic_average_losses_by_hand() -> None:
    real, fake = logits(2.0, 0.0), logits(-1.0, 1.0)  # mean real 1, mean fake 0
    # D: softplus(-(r - 0)) for r in (2, 0) and softplus(f - 1) for f in (-1, 1), each averaged
    d_expected = (softplus(-2) + softplus(0)) / 2 + (softplus(-2) + softplus(0)) / 2
    assert d_relativistic_average_loss(real, fake).item() == pytest.approx(d_expected, rel=1e-12)
    # G: the same with the roles swapped: softplus(-(f - 1)) and softplus(r - 0)
    g_expected = (softplus(2) + softplus(0)) / 2 + (softplus(2) + softplus(0)) / 2
    assert g_relativistic_average_loss(fake, real).item() == pytest.approx(g_expected, rel=1e-12)
    # equal outputs everywhere: D cannot tell real from fake, both losses are 2 log 2
    same = logits(0.3, 0.3)
    assert d_relativistic_average_loss(same, same).item() == pytest.approx(2 * LOG2)
    fake_grad = grad_of(lambda f: g_relativistic_average_loss(f, real.detach()), logits(-1.0, 1.0))[0]
    assert (fake_grad < 0).all()  # G pushes its fakes' scores up


def test_relativistic_pairing_losses_by_hand() -> None:
    real, fake = logits(2.0, 0.0), logits(-1.0, 1.0)  # pairs (2, -1) and (0, 1)
    d_expected = (softplus(-3) + softplus(1)) / 2
    g_expected = (softplus(3) + softplus(-1)) / 2
    assert d_relativistic_pairing_loss(real, fake).item() == pytest.approx(d_expected, rel=1e-12)
    assert g_relativistic_pairing_loss(fake, real).item() == pytest.approx(g_expected, rel=1e-12)
    # the loss depends only on the difference of each pair: shifting both sides changes nothing
    assert d_relativistic_pairing_loss(real + 5, fake + 5).item() == pytest.approx(d_expected, rel=1e-12)
    real_grad, fake_grad = grad_of(d_relativistic_pairing_loss, logits(2.0, 0.0), logits(-1.0, 1.0))
    assert torch.allclose(real_grad, -fake_grad)  # D moves each pair apart, symmetrically


def test_a_relativistic_generator_loss_without_real_outputs_is_refused() -> None:
    with pytest.raises(ValueError, match="needs D's outputs on real data"):
        g_relativistic_pairing_loss(logits(0.0), None)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))
