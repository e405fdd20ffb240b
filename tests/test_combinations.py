"""Every model x loss x regularizer trains a step; d_steps, EMA and augmentation work inside real runs;
every preset composes and runs a batch (synthetic files stand in for MNIST and CIFAR-10)."""

import itertools
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from ganforge.train import CONFIG_DIR, build
from tests.conftest import FAST_EVAL, compose_config
from tests.datafiles import write_cifar10, write_mnist

# ssl_mlp's D is a K-class classifier for the semi-supervised GAN, whose losses are fixed (test_semisupervised.py)
MODELS = [p.stem for p in sorted((CONFIG_DIR / "model").glob("*.yaml")) if p.stem != "ssl_mlp"]
LOSSES = [p.stem for p in sorted((CONFIG_DIR / "loss").glob("*.yaml"))]
REGULARIZERS = [p.stem for p in sorted((CONFIG_DIR / "regularizer").glob("*.yaml"))]
ONE_STEP = (
    "data.image_size=32",  # a size every architecture supports
    "data.batch_size=4",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.log_every_n_steps=1",  # this one step is logged
    "trainer.enable_checkpointing=false",
    "~callbacks",
    "~logger",
)


def fit(cfg: DictConfig):
    gan, datamodule, trainer = build(cfg)
    before = {name: p.detach().clone() for name, p in gan.named_parameters()}
    trainer.fit(gan, datamodule=datamodule)
    return gan, trainer, before


def changed(gan, before: dict, prefix: str) -> bool:
    return any(not torch.equal(p, before[n]) for n, p in gan.named_parameters() if n.startswith(prefix))


@pytest.mark.parametrize(
    ("model", "loss", "regularizer"),
    list(itertools.product(MODELS, LOSSES, REGULARIZERS)),
    ids=["-".join(c) for c in itertools.product(MODELS, LOSSES, REGULARIZERS)],
)
def test_every_model_loss_regularizer_trains_one_step(tmp_path: Path, model: str, loss: str, regularizer: str) -> None:
    # a Wasserstein critic needs a Lipschitz constraint (else ganforge refuses the combination)
    lipschitz = ["model.discriminator.spectral_norm=true"] if loss == "wasserstein" else []
    cfg = compose_config(
        tmp_path, f"model={model}", f"loss={loss}", f"regularizer={regularizer}", *lipschitz, *ONE_STEP
    )
    gan, trainer, before = fit(cfg)
    assert trainer.global_step == 2
    assert all(torch.isfinite(v) for v in trainer.callback_metrics.values())
    if regularizer != "none":
        assert torch.isfinite(trainer.callback_metrics[f"train/{regularizer}"])
    assert changed(gan, before, "discriminator.") and changed(gan, before, "generator.")


def test_d_steps_give_each_d_update_its_own_real_batch(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, "optim.d_steps=3", *ONE_STEP, "trainer.limit_train_batches=3")
    gan, datamodule, trainer = build(cfg)
    seen: list[torch.Tensor] = []
    gan.discriminator.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    trainer.fit(gan, datamodule=datamodule)
    assert trainer.global_step == 4  # 3 D steps + 1 G step
    reals = seen[0:6:2]  # D steps judge (real, fake) in turn; the G step judges fakes last
    assert len(seen) == 7 and all(len(r) == 4 for r in reals)
    assert all(not torch.equal(a, b) for a, b in itertools.combinations(reals, 2))
    train = datamodule.train_set.samples.flatten(1)
    assert all((train == row).all(dim=1).any() for r in reals for row in r.flatten(1))  # real training images


def test_ema_augment_and_packing_in_one_run(tmp_path: Path) -> None:
    cfg = compose_config(
        tmp_path, "model=dcgan", "augment=diffaugment", "ema.decay=0.5", "model.discriminator.pack=2",
        "model.discriminator.minibatch_std=true", *ONE_STEP, "trainer.limit_train_batches=2",
    )  # fmt: skip
    gan, trainer, before = fit(cfg)
    assert trainer.global_step == 4
    assert gan.sampler is gan.generator_ema.module and gan.generator_ema.n_averaged.item() == 2
    ema, live = gan.generator_ema.module.project.weight, gan.generator.project.weight
    start = before["generator.project.weight"]
    # update 1 copies G after step 1; update 2 averages with decay min(0.5, 2/11): EMA lies between
    assert not torch.equal(ema, live) and not torch.equal(ema, start)
    assert "generator_ema.module.project.weight" in gan.state_dict()


def test_wrong_combinations_are_named(tmp_path: Path) -> None:
    from ganforge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data.batch_size=6 is not a multiple of model.discriminator.pack=4"):
        build(compose_config(tmp_path, "data.batch_size=6", "model.discriminator.pack=4"))
    with pytest.raises(ConfigError, match=r"augment=diffaugment works on images, but data=ring8"):
        build(compose_config(tmp_path, "data=ring8", "augment=diffaugment"))
    with pytest.raises(ConfigError, match=r"model=dcgan data=digits: model=dcgan makes square images of 4\*2\^k"):
        build(compose_config(tmp_path, "model=dcgan", "data.image_size=30"))


EXPERIMENTS = [p.stem for p in sorted((CONFIG_DIR / "experiment").glob("*.yaml")) if not p.stem.startswith("_")]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_preset_runs_a_batch(tmp_path: Path, experiment: str) -> None:
    write_mnist(tmp_path / "datasets")
    write_mnist(tmp_path / "datasets", folder="FashionMNIST")
    write_cifar10(tmp_path / "datasets")
    extra = []
    if experiment.startswith("ssl_"):  # a labeled subset the tiny files can give
        extra = ["data.labeled.per_class=1", "data.labeled.batch_size=4"]
    if experiment == "ssl_folder":
        from tests.test_semisupervised import write_class_folder

        write_class_folder(tmp_path / "images")
        extra.append(f"data.path={tmp_path / 'images'}")
    cfg = compose_config(
        tmp_path / "run", f"experiment={experiment}", f"paths.data_dir={tmp_path / 'datasets'}",
        "data.batch_size=4", "trainer.max_epochs=1", "trainer.log_every_n_steps=1",
        "callbacks.progress_bar=null", "callbacks.model_summary=null", *FAST_EVAL, *extra,
    )  # fmt: skip
    cfg.trainer.limit_train_batches = cfg.optim.d_steps  # one D update per batch, then the G update
    _, trainer, _ = fit(cfg)
    assert trainer.global_step == cfg.optim.d_steps + 1
