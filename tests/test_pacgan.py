"""PacGAN's 2-D experiment: its networks, its real m-tuples, m independent G batches per packed fake, and
simultaneous updates (PacGAN's protocol itself is tested in test_metrics.py)."""

import copy
import functools
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from ganforge.data import GaussianMixtureDataModule, ring_centers
from ganforge.data.toy import TupleSamples
from ganforge.errors import ConfigError
from ganforge.gan import GAN
from ganforge.losses import nonsaturating, rpgan
from ganforge.networks import BatchNormMLPGenerator, DiscreteCode, Maxout, MaxoutDiscriminator
from ganforge.perf import FastMaxout, fast_maxout
from ganforge.train import build
from tests.conftest import compose_config


def test_maxout_is_the_max_over_each_outputs_pieces() -> None:
    layer = Maxout(3, 2, pieces=5)
    x = torch.randn(7, 3)
    units = layer.linear(x)  # (7, 10): units 0, 2, 4, 6, 8 are output 0's pieces; 1, 3, 5, 7, 9 output 1's
    expected = torch.stack([units[:, 0::2].max(dim=1).values, units[:, 1::2].max(dim=1).values], dim=1)
    assert layer(x).shape == (7, 2) and torch.equal(layer(x), expected)


def test_the_fast_maxout_equals_the_stock_layer_forward_backward_and_double_backward() -> None:
    torch.manual_seed(0)
    stock = Maxout(3, 4, pieces=5).double()
    fast = fast_maxout(copy.deepcopy(stock))
    assert type(fast) is FastMaxout and type(stock) is Maxout
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.equal(fast(x), stock(x))
    (g_fast,), (g_stock,) = (torch.autograd.grad(m(x).square().sum(), x) for m in (fast, stock))
    assert torch.allclose(g_fast, g_stock)
    assert torch.autograd.gradcheck(fast, (x,)) and torch.autograd.gradgradcheck(fast, (x,))


@pytest.mark.parametrize("m", [1, 2, 4], ids=lambda m: f"pack{m}")
def test_maxout_discriminator_takes_m_samples_and_has_pacgans_layers(m: int) -> None:
    d = MaxoutDiscriminator((2,), pack=m)
    assert d(torch.randn(12 * m, 2)).shape == (12, 1)
    linears = [layer for layer in d.modules() if isinstance(layer, nn.Linear)]
    assert [(x.in_features, x.out_features) for x in linears] == [(2 * m, 1000), (200, 1000), (200, 1000), (200, 1)]
    assert not any(isinstance(layer, (nn.BatchNorm1d, nn.Dropout)) for layer in d.modules())


def test_discrete_code_is_the_one_hot_of_the_argmax_and_keeps_the_rest() -> None:
    z = torch.tensor([[0.1, 2.0, -1.0, 0.5, -0.3], [3.0, -2.0, 1.0, -0.5, 0.7]])
    expected = torch.tensor([[0.0, 1.0, 0.0, 0.5, -0.3], [1.0, 0.0, 0.0, -0.5, 0.7]])
    assert torch.equal(DiscreteCode(3)(z), expected)
    expected[:, :3] *= 4
    assert torch.equal(DiscreteCode(3, scale=4.0)(z), expected)


def test_discrete_code_of_gaussian_z_is_uniform_over_the_codes() -> None:
    codes = DiscreteCode(25)(torch.randn(200_000, 27, generator=torch.Generator().manual_seed(0)))[:, :25]
    share = codes.mean(dim=0)  # each 1/25 = 0.04; binomial std sqrt(0.04 * 0.96 / 200000) = 0.00044
    assert torch.allclose(share, torch.full((25,), 0.04), atol=0.002)
    assert torch.equal(codes.sum(dim=1), torch.ones(200_000))


def test_batchnorm_generator_with_codes_reads_the_code_and_the_continuous_rest() -> None:
    g = BatchNormMLPGenerator((2,), latent_dim=27, hidden_dim=16, codes=25)
    assert isinstance(g.net[0], DiscreteCode) and g.net[1].in_features == 27
    assert g(torch.randn(10, 27)).shape == (10, 2)
    for latent_dim, codes in ((25, 25), (3, 1)):
        with pytest.raises(ValueError, match="codes="):
            BatchNormMLPGenerator((2,), latent_dim=latent_dim, codes=codes)


def test_batchnorm_generator_is_bias_free_with_blocks_batchnorm_and_a_linear_output() -> None:
    g = BatchNormMLPGenerator((2,))
    linears = [layer for layer in g.modules() if isinstance(layer, nn.Linear)]
    norms = [layer for layer in g.modules() if isinstance(layer, nn.BatchNorm1d)]
    assert [(x.in_features, x.out_features) for x in linears] == [(2, 400)] + [(400, 400)] * 3 + [(400, 2)]
    assert [x.bias is None for x in linears] == [True] * 4 + [False]
    assert [(n.eps, n.momentum, n.num_features) for n in norms] == [(1e-4, 0.05, 400)] * 4
    assert isinstance(g.net[-2], nn.Linear) and isinstance(g.net[-1], nn.Identity)  # a linear output: unbounded
    z = torch.randn(100, 2)
    assert g(z).shape == (100, 2) and g.eval()(z * 50).abs().max() > 0  # eval mode: running statistics


def test_without_batchnorm_the_generator_has_biases_and_a_sample_ignores_its_batch() -> None:
    g = BatchNormMLPGenerator((2,), latent_dim=4, hidden_dim=16, init_std=None, batch_norm=False)
    linears = [layer for layer in g.modules() if isinstance(layer, nn.Linear)]
    assert [x.bias is not None for x in linears] == [True] * 5
    assert not any(isinstance(layer, nn.BatchNorm1d) for layer in g.modules())
    z = torch.randn(8, 4)
    with torch.no_grad():  # training mode: the first sample alone, with others (up to the kernels' rounding), and
        assert torch.allclose(g.train()(z[:1]), g(z)[:1], rtol=1e-5, atol=1e-7)  # in eval mode are the same
        assert torch.equal(g(z), g.eval()(z)) and g(z).abs().min() > 0


def test_weights_are_normal_with_std_002_and_biases_zero() -> None:
    torch.manual_seed(0)
    g, d = BatchNormMLPGenerator((2,)), MaxoutDiscriminator((2,))
    weights = torch.cat([x.weight.detach().flatten() for x in [*g.modules(), *d.modules()] if isinstance(x, nn.Linear)])
    assert weights.mean().abs() < 1e-3 and float(weights.std()) == pytest.approx(0.02, rel=0.01)
    biases = [x.bias for x in [*g.modules(), *d.modules()] if isinstance(x, nn.Linear) and x.bias is not None]
    assert all(torch.equal(b, torch.zeros_like(b)) for b in biases)
    assert all(torch.equal(n.weight, torch.ones(400)) for n in g.modules() if isinstance(n, nn.BatchNorm1d))


def test_real_tuples_are_m_independent_resamples_of_a_fixed_pool() -> None:
    pool = torch.arange(1000, dtype=torch.float32).view(500, 2)
    tuples = TupleSamples(pool, 3, torch.Generator().manual_seed(0))
    batch = tuples.__getitems__(torch.tensor([4, 9]))
    assert batch.shape == (6, 2) and torch.equal(tuples.samples, pool)
    # each row of the batch is a row of the pool: the tuple's members, side by side
    assert torch.equal(batch, pool[tuples.members[[4, 9]].flatten()])
    columns = tuples.members.T
    assert not torch.equal(columns[0], columns[1])  # independent resamples, not one shuffle
    assert 0.55 < columns[0].unique().numel() / 500 < 0.7  # with replacement: ~1 - 1/e of the pool per column
    data = GaussianMixtureDataModule(ring_centers(), 0.01, num_samples=1000, batch_size=10, tuples=2)
    data.setup()
    loader = data.train_dataloader()
    assert len(loader) == 100 and next(iter(loader)).shape == (20, 2)  # 10 tuples of 2 per step, 1,000 tuples


def counting_generator(calls: list[int]) -> BatchNormMLPGenerator:
    g = BatchNormMLPGenerator((2,), hidden_dim=8, num_layers=1)
    g.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    return g


@pytest.mark.parametrize("m", [2, 4], ids=lambda m: f"pack{m}")
def test_a_packed_fake_holds_one_sample_of_each_of_m_independent_g_batches(m: int) -> None:
    calls: list[int] = []
    g = counting_generator(calls)
    gan = GAN(g, MaxoutDiscriminator((2,), hidden_dim=4, pack=m), nonsaturating(), torch.optim.Adam, torch.optim.Adam)
    z = torch.randn(10 * m, 2)
    fake = gan.generate(z)
    assert calls == [10] * m  # m G batches of 10: BatchNorm statistics of each batch alone
    batches = [g(part) for part in z.view(m, 10, 2)]  # the same batches again (training mode: batch statistics)
    for i in range(10):  # pack i = sample i of batch 0, ..., sample i of batch m-1
        assert torch.allclose(fake[i * m : (i + 1) * m], torch.stack([b[i] for b in batches]))


class FixedNoiseGAN(GAN):
    """A GAN whose noise is given (so a test can recompute its step)."""

    def __init__(self, noise: torch.Tensor, **kwargs) -> None:
        super().__init__(**kwargs)
        self.noise = noise

    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.noise[:n]


@pytest.mark.parametrize("loss", [nonsaturating, rpgan], ids=["nonsaturating", "rpgan"])
def test_a_simultaneous_update_applies_the_gradients_of_one_forward_pass(loss) -> None:
    torch.manual_seed(0)
    g, d = BatchNormMLPGenerator((2,), hidden_dim=16, num_layers=2), MaxoutDiscriminator((2,), hidden_dim=8)
    g_before, d_before = copy.deepcopy(g), copy.deepcopy(d)
    real, z = torch.randn(32, 2), torch.randn(32, 2)
    sgd = functools.partial(torch.optim.SGD, lr=0.1)
    gan = FixedNoiseGAN(z, generator=g, discriminator=d, loss=loss(), optimizer_g=sgd, optimizer_d=sgd,
                        simultaneous=True)  # fmt: skip
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(gan, train_dataloaders=DataLoader([real], batch_size=None))
    # by hand: one forward with the networks as they were, each network's gradient of its own loss
    fake = g_before(z)
    real_logits, fake_logits = d_before(real), d_before(fake)
    game = loss()
    d_grads = torch.autograd.grad(game.discriminator(real_logits, fake_logits), list(d_before.parameters()),
                                  retain_graph=True)  # fmt: skip
    g_grads = torch.autograd.grad(game.generator(fake_logits, real_logits), list(g_before.parameters()))
    for net, before, grads_ in ((d, d_before, d_grads), (g, g_before, g_grads)):
        for after, start, grad in zip(net.parameters(), before.parameters(), grads_, strict=True):
            assert torch.allclose(after, start - 0.1 * grad, atol=1e-6)
    assert (gan.generator_updates, gan.discriminator_updates, trainer.global_step) == (1, 1, 2)


def test_the_pacgan_presets_are_pacgans_settings(tmp_path: Path) -> None:
    for data, modes in (("ring8", 8), ("grid25", 25)):
        cfg = compose_config(tmp_path, f"experiment=pacgan_{data}", "model.discriminator.pack=4")
        gan, datamodule, _ = build(cfg)
        assert cfg.data.name == data and len(datamodule.centers) == modes
        assert gan.simultaneous and gan.pack == 4 and datamodule.tuples == 4 and datamodule.batch_size == 100
        assert gan.regularizer is None and gan.generator_ema is None
        opt_g, opt_d = gan.configure_optimizers()
        assert opt_g.defaults["lr"] == opt_d.defaults["lr"] == 1e-4 and opt_g.defaults["betas"] == (0.8, 0.999)
        datamodule.setup()
        assert len(datamodule.train_dataloader()) == 1000 and cfg.steps == 400_000  # 400 epochs


def test_the_ring8_recipe_is_pacgans_loop_with_its_changes_within_40000_steps(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, "experiment=ring8")
    gan, datamodule, trainer = build(cfg)
    assert gan.simultaneous and gan.pack == 2 and datamodule.tuples == 2 and gan.generator_ema is not None
    assert datamodule.batch_size == 400 and cfg.model.generator.hidden_dim == cfg.model.discriminator.hidden_dim == 128
    assert any(type(c).__name__ == "LinearLRDecay" and c.start == 0.5 for c in trainer.callbacks)
    assert gan.stop_at == 40_000 and trainer.max_epochs == -1  # 40,000 G updates, 160 epochs of 250 batches
    assert cfg.callbacks.evaluation.monitor == "swd"


def test_the_grid25_recipe_is_the_ring8_recipe_with_a_discrete_code_and_a_wider_d(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, "experiment=grid25")
    gan, datamodule, trainer = build(cfg)
    assert cfg.data.name == "grid25" and gan.simultaneous and gan.pack == 2 and datamodule.tuples == 2
    assert gan.generator_ema is not None and datamodule.batch_size == 400
    code = gan.generator.net[0]
    assert isinstance(code, DiscreteCode) and (code.codes, code.scale) == (25, 4.0)
    assert gan.latent_dim == 27 and cfg.model.generator.hidden_dim == 128 and cfg.model.discriminator.hidden_dim == 256
    assert any(type(c).__name__ == "LinearLRDecay" and c.start == 0.5 for c in trainer.callbacks)
    assert gan.stop_at == 20_000 and trainer.max_epochs == -1
    assert cfg.callbacks.evaluation.monitor == "swd"


def test_tuples_that_do_not_match_the_packing_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.tuples=2 but model.discriminator.pack=4"):
        build(compose_config(tmp_path, "experiment=pacgan_ring8", "model.discriminator.pack=4", "data.tuples=2"))
