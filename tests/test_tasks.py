"""Tasks are modules: ``module=<name>`` selects the LightningModule; train.py never asks which; each task declares what
it accepts and the config check reads the declaration; one clock (``steps``) for every task."""

import re
from pathlib import Path

import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

from ganforge.config import validate
from ganforge.errors import ConfigError
from ganforge.gan import GAN
from ganforge.runs import upgraded
from ganforge.semisupervised import SemiSupervisedGAN
from ganforge.tasks import Accepts, AdversarialTask
from ganforge.train import CONFIG_DIR, build, train
from tests.conftest import TINY, compose_config

SOURCE = Path(__file__).resolve().parents[1] / "src" / "ganforge"


def test_train_py_never_branches_on_the_task() -> None:
    text = (SOURCE / "train.py").read_text()
    assert not re.search(r"ssl|semisupervised|SemiSupervised", text, flags=re.IGNORECASE)
    assert "GAN(" not in text and "isinstance(task" not in text


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONFIG_DIR / "module").glob("*.yaml")))
def test_every_module_option_names_a_task_that_declares_what_it_accepts(tmp_path: Path, option: str) -> None:
    cfg = compose_config(tmp_path, f"module={option}")
    task = get_class(cfg.module._target_)
    assert issubclass(task, AdversarialTask) and isinstance(task.accepts, Accepts)
    validate(cfg)  # each option composes into a valid run as it is
    built, _, _ = build(cfg)
    assert type(built) is task


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("module=ssl", "model=mlp"), r"module=ssl needs a K-class classifier D, but model=mlp has a one-logit D"),
        (("module=ssl", "loss=hinge"), r"module=ssl plays its own losses, but loss=ganforge.losses.hinge was set"),
        (("module=ssl", "regularizer=r1"), r"module=ssl takes no regularizer; use regularizer=none"),
        (("module=ssl", "optim.d_steps=2"), r"optim.d_steps and optim.simultaneous do not apply"),
        (("module=ssl", "~data.labeled"), r"module=ssl needs data.labeled"),
        (("model=ssl_mlp",), r"model=ssl_mlp has a K-class classifier D, made for the semi-supervised task"),
        (("+data.labeled={per_class:1,draw:0,batch_size:4,validation_size:null}",), r"module=gan reads no labels"),
        (("optim.simultaneous=true", "optim.d_steps=2"), r"optim.simultaneous=true makes one D and one G update"),
        (("module=ssl", "module.generator=false"), r"module.generator=false but module.unsupervised_weight=1.0"),
        (("module=ssl", "objective=test/accuracy"), r"objective=test/accuracy would tune on the test split"),
        (("trainer.max_steps=10",), r"trainer.max_steps=10 is invalid: it must be -1 \(not used: the run's length is"),
        (("module._target_=torch.nn.Linear",), r"module._target_=torch.nn.Linear is not a task"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, tuple) else "",
)
def test_what_a_task_does_not_accept_is_refused_before_anything_is_built(
    tmp_path: Path, overrides: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(compose_config(tmp_path, *overrides))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        validate(compose_config(tmp_path, "module=ssl", "loss=hinge", "regularizer=r1", "optim.d_steps=3"))
    assert str(refused.value).count("\n") >= 3


@pytest.mark.parametrize(
    ("overrides", "steps", "d_updates"),
    [((), 7, 7), (("optim.d_steps=2",), 5, 10), (("experiment=ssl_digits", "data.labeled.per_class=2"), 6, 6)],
    ids=["gan", "gan-d_steps2", "ssl"],
)
def test_steps_is_the_run_length_on_the_tasks_own_clock(
    tiny_cfg, overrides: tuple[str, ...], steps: int, d_updates: int
) -> None:
    cfg = tiny_cfg(*overrides, f"steps={steps}", "trainer.max_epochs=-1", "callbacks.evaluation=null")
    task, datamodule, trainer = build(cfg)
    trainer.fit(task, datamodule=datamodule)
    assert task.step == steps and task.discriminator_updates == d_updates


def test_a_run_that_ends_at_its_steps_resumes_exactly_to_more_steps(tiny_cfg, tmp_path: Path) -> None:
    import torch

    length = ("trainer.max_epochs=-1", "callbacks.evaluation=null")
    train(tiny_cfg(*length, "steps=12", name="straight"))
    train(tiny_cfg(*length, "steps=6", name="resumed"))  # two epochs of 3 batches
    train(tiny_cfg(*length, "steps=12", "ckpt_path=last", name="resumed"))
    straight, resumed = (
        torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True) for name in ("straight", "resumed")
    )
    assert straight["ganforge_counters"] == resumed["ganforge_counters"] == {
        "generator_updates": 12, "discriminator_updates": 12,
    }  # fmt: skip
    for name, value in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), name


def test_a_finished_run_resumed_at_its_steps_trains_nothing_more(tiny_cfg, tmp_path: Path) -> None:
    import torch

    length = ("trainer.max_epochs=-1", "callbacks.evaluation=null")
    train(tiny_cfg(*length, "steps=6"))
    before = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    train(tiny_cfg(*length, "steps=6", "ckpt_path=last"))
    after = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert after["ganforge_counters"] == before["ganforge_counters"] == {
        "generator_updates": 6, "discriminator_updates": 6,
    }  # fmt: skip


def test_module_ssl_alone_is_measured_by_its_classifier(tiny_cfg, tmp_path: Path) -> None:
    """The task's option brings what it is measured by: the classifier's test accuracy, not G's samples."""
    import json

    results = train(tiny_cfg("module=ssl", "data.labeled.per_class=2", "steps=3"))
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["step"] == 3 and "test/accuracy" in report["metrics"] and "test/accuracy" in results
    assert not any(name.startswith("val/") for name in report["metrics"])


def test_the_semi_supervised_constructor_refuses_weights_that_train_nothing() -> None:
    import functools

    import torch

    from ganforge.networks.classifier import NoisyMLPClassifier

    classifier = NoisyMLPClassifier((1, 8, 8), 10, hidden_dims=(8,))
    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    with pytest.raises(ValueError, match=r"module\.generator=false but module\.unsupervised_weight=1\.0"):
        SemiSupervisedGAN(None, classifier, adam, adam)
    with pytest.raises(ValueError, match="the classifier would learn nothing"):
        SemiSupervisedGAN(None, classifier, adam, adam, unsupervised_weight=0.0, supervised_weight=0.0)


def test_a_run_saved_before_tasks_were_modules_reopens_as_its_task() -> None:
    old_gan = OmegaConf.create({"data": {"batch_size": 8}, "ssl": None})
    assert upgraded(old_gan).module._target_ == "ganforge.gan.GAN"
    old_ssl = OmegaConf.create({
        "data": {"batch_size": 8},
        "ssl": {"labels_per_class": 5, "draw": 2, "labeled_batch_size": 50, "unsupervised_weight": 1.0,
                "supervised_weight": 0.0, "generator": True, "classifier_ema": None},
    })  # fmt: skip
    cfg = upgraded(old_ssl)
    assert cfg.module._target_ == "ganforge.semisupervised.SemiSupervisedGAN" and "ssl" not in cfg
    assert cfg.module.supervised_weight == 0.0 and cfg.module.entropy_weight == 0.0
    assert OmegaConf.to_container(cfg.data.labeled) == {
        "per_class": 5, "draw": 2, "batch_size": 50, "validation_size": None,
    }  # fmt: skip
    assert get_class(cfg.module._target_) is SemiSupervisedGAN


def test_the_default_tiny_run_is_a_gan(tmp_path: Path) -> None:
    task, _, _ = build(compose_config(tmp_path, *TINY))
    assert type(task) is GAN and task.stop_at == 9600
