"""Shapes and ranges of the reference networks, for several sample shapes."""

import pytest
import torch
from torch import nn

from ganforge.networks import MLPDiscriminator, MLPGenerator
from ganforge.perf import FastTanh, _SigmoidTanh, fast_tanh

SHAPES = [
    pytest.param((1, 28, 28), id="digits-1x28x28"),
    pytest.param((3, 32, 32), id="cifar-3x32x32"),
    pytest.param((2,), id="toy-2d"),
]


@pytest.mark.parametrize("shape", SHAPES)
def test_generator_output_shape_and_range(shape: tuple[int, ...]) -> None:
    generator = MLPGenerator(shape, latent_dim=16, hidden_dim=32)
    samples = generator(torch.randn(5, 16) * 100)  # huge z still lands inside tanh's range
    assert samples.shape == (5, *shape)
    assert samples.min() >= -1 and samples.max() <= 1


@pytest.mark.parametrize("shape", SHAPES)
def test_discriminator_gives_one_logit_per_sample(shape: tuple[int, ...]) -> None:
    logits = MLPDiscriminator(shape, hidden_dim=32)(torch.randn(7, *shape))
    assert logits.shape == (7, 1)


def test_reference_architecture_is_the_classic_mlp() -> None:
    generator, discriminator = MLPGenerator((1, 28, 28)), MLPDiscriminator((1, 28, 28))
    g_linears = [m for m in generator.modules() if isinstance(m, nn.Linear)]
    d_linears = [m for m in discriminator.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linears] == [(100, 128), (128, 128), (128, 784)]
    assert [(m.in_features, m.out_features) for m in d_linears] == [(784, 128), (128, 128), (128, 1)]
    slopes = {m.negative_slope for m in [*generator.modules(), *discriminator.modules()] if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    assert type(list(generator.net)[-1]) is nn.Tanh  # the definition reads like the paper; perf.py swaps kernels


def test_width_and_depth_are_configurable() -> None:
    generator = MLPGenerator((1, 8, 8), latent_dim=10, hidden_dim=64, num_layers=4)
    linears = [m for m in generator.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 5 and linears[0].in_features == 10 and linears[1].in_features == 64


def test_discriminator_names_both_shapes_on_mismatch() -> None:
    with pytest.raises(ValueError, match=r"expects samples of shape \(1, 28, 28\), got \(3, 32, 32\)"):
        MLPDiscriminator((1, 28, 28))(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize(
    "kwargs", [{"latent_dim": 0}, {"hidden_dim": 0}, {"num_layers": 0}], ids=["latent", "hidden", "layers"]
)
def test_invalid_sizes_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        MLPGenerator((1, 8, 8), **kwargs)


def test_fast_tanh_replaces_every_tanh_and_nothing_else() -> None:
    generator = MLPGenerator((1, 8, 8), latent_dim=4, hidden_dim=8)
    before = generator.state_dict()
    fast_tanh(generator)
    assert [type(m) for m in generator.modules() if isinstance(m, nn.Tanh)] == [FastTanh]
    assert before.keys() == generator.state_dict().keys()  # no weights: checkpoints are unchanged


def test_output_tanh_matches_torch_tanh_values_and_gradients() -> None:
    """perf.FastTanh (2 sigmoid(2x) - 1 on float32 CPU, for speed) against torch.tanh in float64."""
    x = [*(torch.randn(2000) * 4).tolist(), 0.0, 1e-8, -1e-8, 30.0, -30.0, 100.0, -100.0]
    exact = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    fast = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    y_exact, y_fast = torch.tanh(exact), FastTanh()(fast)
    assert y_fast.dtype == torch.float32
    assert (y_fast.double() - y_exact).abs().max() < 3e-7
    assert y_fast.min() >= -1 and y_fast.max() <= 1
    weights = torch.randn(len(x), dtype=torch.float64)
    (y_exact * weights).sum().backward()
    (y_fast * weights.float()).sum().backward()
    assert torch.allclose(fast.grad.double(), exact.grad, atol=1e-6)
    # Other dtypes (and devices) use torch.tanh itself; gradients of gradients work (regularizers need them).
    x64 = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.equal(FastTanh()(x64), torch.tanh(x64))
    assert torch.autograd.gradgradcheck(_SigmoidTanh.apply, (x64,))
