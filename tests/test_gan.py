"""The adversarial loop: each update changes only its own network, observed inside a real Trainer run."""

import lightning as L
import pytest
import torch
from torch import nn

from ganforge.train import build


def snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def grads(module: nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in module.parameters()]


def same(a: list, b: list) -> bool:
    """Element-wise equality of two lists of tensors, where None only equals None."""
    return all(x is y or (x is not None and y is not None and torch.equal(x, y)) for x, y in zip(a, b, strict=True))


class UpdateSpy(L.Callback):
    """Records, around every optimizer step, whether G and D parameters (and D's gradients) changed."""

    def __init__(self) -> None:
        self.records: list[dict[str, object]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        opt_g, opt_d = trainer.optimizers
        g, d = pl_module.generator, pl_module.discriminator
        for name, opt in (("g", opt_g), ("d", opt_d)):
            before: dict[str, list] = {}

            def pre(_opt, _args, _kwargs, before=before):
                before.update(g=snapshot(g), d=snapshot(d), d_grad=grads(d))

            def post(_opt, _args, _kwargs, before=before, name=name):
                self.records.append(
                    {
                        "optimizer": name,
                        "g_changed": not same(before["g"], snapshot(g)),
                        "d_changed": not same(before["d"], snapshot(d)),
                        "d_grad_at_step": before["d_grad"],
                    }
                )

            opt.register_step_pre_hook(pre)
            opt.register_step_post_hook(post)


def test_d_update_leaves_g_unchanged_and_g_update_leaves_d_unchanged(tiny_cfg) -> None:
    spy = UpdateSpy()
    gan, datamodule, trainer = build(tiny_cfg("trainer.max_epochs=1"), [spy])
    trainer.fit(gan, datamodule=datamodule)
    assert [r["optimizer"] for r in spy.records] == ["d", "g"] * 3  # D then G, once per batch
    for record in spy.records:
        assert record["d_changed"] == (record["optimizer"] == "d")
        assert record["g_changed"] == (record["optimizer"] == "g")
    # D is frozen during G's backward: D's gradients at G's step are still those of D's own step.
    for d_step, g_step in zip(spy.records[::2], spy.records[1::2], strict=True):
        assert same(d_step["d_grad_at_step"], g_step["d_grad_at_step"])
    assert all(p.requires_grad for p in gan.discriminator.parameters()), "D must be unfrozen after G's step"


def test_the_first_nonfinite_step_is_remembered_on_the_host_and_on_the_device() -> None:
    """The guard's CPU check (plain Python) and device check (no host sync) agree: the first step with a
    non-finite loss and its D and G losses are kept, later ones ignored, finite steps never recorded."""
    from ganforge.callbacks import NonFiniteGuard

    steps = [(0.5, 1.0), (0.3, 2.0), (float("nan"), 1.5), (0.2, float("inf")), (0.1, 0.9)]
    found = []
    for on_host in (True, False):
        guard = NonFiniteGuard()
        for step, (d_loss, g_loss) in enumerate(steps):
            outputs = {"d_loss": torch.tensor(d_loss), "g_loss": torch.tensor(g_loss)}
            if on_host:
                guard.record_on_host(step, outputs)
            else:
                guard.record_on_device(step, torch.stack(list(outputs.values())))
            if step == 1:
                assert guard.found() is None
        found.append(guard.found())
    assert found[0][0] == found[1][0] == 2 and found[0][2] == found[1][2] == 1.5
    assert torch.isnan(torch.tensor([found[0][1], found[1][1]])).all()


def test_d_accuracy_is_the_share_of_pairs_ranked_right() -> None:
    from ganforge.gan import pairs_ranked_right

    real, fake = torch.randn(300, dtype=torch.float64), torch.randn(200, dtype=torch.float64) + 0.5
    pairwise = (real[:, None] > fake[None, :]).double().mean()
    assert pairs_ranked_right(real, fake).item() == pytest.approx(pairwise.item(), abs=1e-12)
    assert pairs_ranked_right(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])).item() == 1.0
    assert pairs_ranked_right(torch.tensor([0.0, 1.0]), torch.tensor([2.0, 3.0])).item() == 0.0
