"""The stability toolbox, one property each: penalties on a linear D, EMA arithmetic, DiffAugment, packing,
minibatch std and spectral norm."""

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from ganforge.augment import DiffAugment, brightness, cutout, translation
from ganforge.ema import averaged_generator, ema_decay
from ganforge.networks import MinibatchStd, MLPDiscriminator, apply_spectral_norm, pack, unpack
from ganforge.regularizers import R1, GradientPenalty

# --- gradient penalty and R1 on D(x) = w.x + b, whose input gradient is w everywhere --------------------


@pytest.fixture
def linear_d() -> nn.Linear:
    torch.manual_seed(0)
    d = nn.Linear(12, 1)
    with torch.no_grad():
        d.weight.copy_(torch.tensor([[0.5, -1.0, 2.0] * 4]))
    return d


def judge(d: nn.Linear):
    return lambda x: d(x.flatten(1))


def test_gradient_penalty_is_closed_form_on_a_linear_d(linear_d: nn.Linear) -> None:
    real, fake = torch.randn(6, 3, 2, 2), torch.randn(6, 3, 2, 2)
    w = linear_d.weight.detach().flatten()
    penalty = GradientPenalty(weight=10.0)(judge(linear_d), real, fake, real_logits=torch.empty(0), step=0)
    assert penalty.item() == pytest.approx(10 * (w.norm().item() - 1) ** 2, rel=1e-5)
    penalty.backward()  # the penalty is differentiable in D's weights: d/dw 10(|w|-1)^2 = 20(|w|-1) w/|w|
    expected = 20 * (w.norm() - 1) * w / w.norm()
    assert torch.allclose(linear_d.weight.grad.flatten(), expected, rtol=1e-4)


def test_r1_is_closed_form_and_lazy_r1_is_scaled(linear_d: nn.Linear) -> None:
    real = torch.randn(5, 3, 2, 2, requires_grad=True)
    logits = judge(linear_d)(real)
    w2 = linear_d.weight.detach().square().sum().item()
    assert R1(gamma=10.0)(judge(linear_d), real, real, logits, step=7).item() == pytest.approx(5 * w2, rel=1e-5)
    lazy = R1(gamma=10.0, every=4)
    assert [lazy(judge(linear_d), real, real, logits, step) is None for step in range(5)] == [
        False, True, True, True, False,
    ]  # fmt: skip
    assert lazy(judge(linear_d), real, real, logits, 8).item() == pytest.approx(4 * 5 * w2, rel=1e-5)


# --- EMA -------------------------------------------------------------------------------------------------


def test_ema_update_arithmetic() -> None:
    net = nn.Linear(2, 2)
    ema = averaged_generator(net, decay=0.9, warmup=False)
    start = net.weight.detach().clone()
    ema.update_parameters(net)  # the first update copies
    expected = start.clone()
    for value in (1.0, 3.0, -2.0):
        with torch.no_grad():
            net.weight.fill_(value)
        ema.update_parameters(net)
        expected = 0.9 * expected + 0.1 * value
    assert torch.allclose(ema.module.weight, expected)


def test_ema_warmup_decay_grows_to_its_ceiling() -> None:
    decays = [ema_decay(torch.tensor(n), 0.99, warmup=True).item() for n in (1, 10, 100, 10_000)]
    assert decays[0] == pytest.approx(2 / 11) and decays[1] == pytest.approx(11 / 20)
    assert decays[2] == pytest.approx(101 / 110) and decays[3] == pytest.approx(0.99)
    assert ema_decay(torch.tensor(1), 0.99, warmup=False).item() == pytest.approx(0.99)


def test_ema_copies_integer_buffers() -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = averaged_generator(net, decay=0.5)
    for _ in range(3):
        net(torch.randn(4, 3))
        ema.update_parameters(net)
    assert ema.module[1].num_batches_tracked.item() == 3


# --- DiffAugment -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [["color"], ["translation"], ["cutout"], ["color", "translation", "cutout"]])
def test_diffaugment_is_differentiable(policy: list[str]) -> None:
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    DiffAugment(policy)(x).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_diffaugment_with_no_ops_is_the_identity() -> None:
    x = torch.randn(4, 3, 8, 8)
    assert torch.equal(DiffAugment([])(x), x)


def test_translation_moves_whole_pixels_and_fills_zeros() -> None:
    torch.manual_seed(1)
    x = torch.arange(1, 2 * 64 + 1, dtype=torch.float32).view(2, 1, 8, 8)
    y = translation(x, ratio=0.25)
    for sample in range(2):
        values = set(y[sample].flatten().tolist()) - {0.0}
        assert values <= set(x[sample].flatten().tolist())  # shifted copies, nothing blended
        assert len(values) >= 36  # at most 2 rows and 2 columns shifted out


def test_cutout_zeros_one_square() -> None:
    torch.manual_seed(2)
    y = cutout(torch.ones(64, 1, 16, 16), ratio=0.5)
    zeros = (y == 0).flatten(1).sum(dim=1)
    assert zeros.max() == 64 and zeros.min() > 0  # an 8x8 square, clipped at the borders


def test_brightness_shifts_each_sample_by_one_constant() -> None:
    x = torch.randn(5, 3, 4, 4)
    shift = brightness(x) - x  # (x + c) - x is c up to x's rounding (~1e-7), whatever c's size: an absolute tolerance
    assert torch.allclose(shift, shift[:, :1, :1, :1].expand_as(shift), rtol=0, atol=1e-6)
    assert shift.abs().max() <= 0.5


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match=r"policy=\['colour'\] is invalid: it must be a list of DiffAugment policies"):
        DiffAugment(["colour"])


# --- packing, minibatch std, spectral norm -------------------------------------------------------------------


def test_packing_puts_m_samples_in_one_input_and_back() -> None:
    x = torch.randn(6, 2, 4, 4)
    packed = pack(x, 3)
    assert packed.shape == (2, 6, 4, 4)
    assert torch.equal(packed[1, 2:4], x[4])  # packed input k, slot j = sample k*m + j
    assert torch.equal(unpack(packed, 3), x)
    with pytest.raises(ValueError, match="cannot be packed in groups of 4"):
        pack(x, 4)


def test_packed_discriminator_gives_one_logit_per_pack() -> None:
    d = MLPDiscriminator((2,), hidden_dim=8, pack=4)
    assert d.features[1].in_features == 8 and d(torch.randn(12, 2)).shape == (3, 1)


def test_minibatch_std_appends_the_group_std() -> None:
    x = torch.randn(8, 3, 2, 2)
    y = MinibatchStd(group_size=4)(x)
    assert y.shape == (8, 4, 2, 2) and torch.equal(y[:, :3], x)
    group = x[[0, 2, 4, 6]]  # samples i, i + N/G, ... form a group (here N/G = 2)
    expected = group.std(dim=0, unbiased=False).mean()
    assert torch.allclose(y[0, 3], expected.expand(2, 2), atol=1e-6)
    same = MinibatchStd()(torch.ones(4, 5))
    assert same.shape == (4, 6) and same[:, 5].max() < 1e-3  # identical samples: no spread


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_spectral_norm_makes_the_largest_singular_value_one(kind: str) -> None:
    # The layer is built here, after seeding: built at collection time its spectrum depended on whatever drew from
    # the global RNG first, and for some draws 30 power iterations (error ~ (s2/s1)^(2k)) left it 3.5% off.
    torch.manual_seed(0)
    layer = nn.Linear(20, 30) if kind == "linear" else nn.Conv2d(3, 8, 3)
    with torch.no_grad():
        layer.weight.mul_(10)
    model = apply_spectral_norm(nn.Sequential(layer))
    x = torch.randn(2, 20) if kind == "linear" else torch.randn(2, 3, 8, 8)
    for _ in range(300):  # each training-mode forward runs one power iteration
        model(x)
    with torch.no_grad():
        normalised = torch.linalg.matrix_norm(model[0].weight.flatten(1), ord=2).item()
        original = torch.linalg.matrix_norm(model[0].parametrizations.weight.original.flatten(1), ord=2).item()
    assert normalised == pytest.approx(1.0, abs=1e-3)
    assert original > 5  # the raw weight is still large: the normalisation did the work


def test_the_linear_learning_rate_decay_holds_then_falls_to_zero_and_reaches_both_optimizers(tiny_cfg) -> None:
    from ganforge.callbacks import LinearLRDecay
    from ganforge.train import build

    decay = LinearLRDecay(start=0.5)
    decay.total = 10
    assert [decay.factor(b) for b in (0, 5, 6, 8, 10)] == pytest.approx([1.0, 1.0, 0.8, 0.4, 0.0])
    seen: list[tuple[float, float]] = []

    class Spy(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            seen.append(tuple(opt.param_groups[0]["lr"] for opt in trainer.optimizers))

    cfg = tiny_cfg("trainer.max_epochs=4", "callbacks.lr_decay={_target_:ganforge.callbacks.LinearLRDecay,start:0.5}")
    gan, datamodule, trainer = build(cfg, [Spy()])
    trainer.fit(gan, datamodule=datamodule)
    lr_g, lr_d = cfg.optim.lr_g, cfg.optim.lr_d  # 12 batches: 6 constant, then 5/6 ... 0 of the rate
    assert seen[:6] == [(lr_g, lr_d)] * 6
    assert [g / lr_g for g, _ in seen[6:]] == pytest.approx([1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    # resumed for 2 more epochs (18 batches in all): batch 12 is at 12/18 of the run, 2/3 of the configured rate —
    # not 2/3 of the checkpoint's already decayed rate
    seen.clear()
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    more = tiny_cfg("trainer.max_epochs=6", "callbacks.lr_decay={_target_:ganforge.callbacks.LinearLRDecay,start:0.5}")
    gan, datamodule, trainer = build(more, [Spy()])
    trainer.fit(gan, datamodule=datamodule, ckpt_path=last, weights_only=True)
    assert [g / lr_g for g, _ in seen] == pytest.approx([2 / 3, 5 / 9, 4 / 9, 3 / 9, 2 / 9, 1 / 9])
