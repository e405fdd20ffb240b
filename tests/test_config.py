"""Every config in conf/ composes and instantiates; invalid values fail before any work with a clear message."""

from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ganforge.config import declared_rules, rules_for, validate
from ganforge.errors import ConfigError
from ganforge.train import CONFIG_DIR, build
from tests.conftest import compose_config

GROUPS = (
    "module", "model", "loss", "regularizer", "augment", "optim", "data", "trainer", "logger", "callbacks", "metrics",
    "experiment", "hparams_search",
)  # fmt: skip
OPTIONS = [
    pytest.param(group, path.stem, id=f"{group}={path.stem}")
    for group in GROUPS
    for path in sorted((CONFIG_DIR / group).glob("*.yaml"))
    if not path.stem.startswith("_")  # a family's shared base (data/_images.yaml), not an option
]


def test_every_group_has_options() -> None:
    assert {p.values[0] for p in OPTIONS} == set(GROUPS)


# Values a user must give for an option to compose (nothing is read at build time).
REQUIRED = {
    ("data", "folder"): ["data.path=/any/folder"],
    ("model", "ssl_mlp"): ["module=ssl"],  # a classifier D: the semi-supervised task's
    ("model", "resnet"): ["data.image_size=32"],
    ("loss", "wasserstein"): ["regularizer=gradient_penalty"],
}


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_config_composes_and_instantiates(tmp_path: Path, group: str, option: str) -> None:
    required = REQUIRED.get((group, option), [])
    if (group, option) == ("experiment", "ssl_folder"):  # its classes are the folder's sub-folders
        for name in ("cat", "dog"):
            (tmp_path / "images" / name).mkdir(parents=True)
        required = [f"data.path={tmp_path / 'images'}"]
    cfg = compose_config(tmp_path, f"{group}={option}", *required)
    OmegaConf.resolve(cfg)  # every interpolation resolves
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"trainer\.accelerator=gpu but no CUDA GPU is visible"):
            validate(cfg)
        pytest.skip("trainer=gpu builds only where a GPU is present (its refusal here is checked above)")
    validate(cfg)
    gan, datamodule, trainer = build(cfg)
    assert gan.generator.out_shape == datamodule.shape
    assert trainer.max_epochs == cfg.trainer.max_epochs


def test_overrides_reach_the_built_objects(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, "model.hidden_dim=256", "optim.lr_d=1e-4", "data.batch_size=64")
    gan, datamodule, _ = build(cfg)
    assert gan.generator.net[0].out_features == 256
    assert datamodule.batch_size == 64
    opt_g, opt_d = gan.configure_optimizers()
    assert opt_d.param_groups[0]["lr"] == 1e-4 and opt_g.param_groups[0]["lr"] == 2e-4
    assert tuple(opt_d.param_groups[0]["betas"]) == (0.5, 0.999)


def test_reference_experiment_is_the_classic_setup(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, "experiment=reference")
    assert (cfg.data.batch_size, cfg.optim.lr_g, cfg.optim.lr_d, cfg.model.latent_dim) == (128, 2e-4, 2e-4, 100)
    assert cfg.steps == 1200 and cfg.model.hidden_dim == 128  # 100 epochs of the digits' 12 batches
    assert cfg.regularizer.name == "none" and cfg.ema.decay is None  # the classic GAN: no R1, no EMA of G


def test_the_default_run_is_the_reference_mlp_made_stable(tmp_path: Path) -> None:
    cfg, reference = compose_config(tmp_path), compose_config(tmp_path, "experiment=reference")
    assert (cfg.regularizer.name, cfg.regularizer.gamma, cfg.ema.decay) == ("r1", 10.0, 0.999)
    assert cfg.model == reference.model and cfg.optim == reference.optim and cfg.loss == reference.loss


def test_rules_only_name_keys_that_exist() -> None:
    """A rule for a key no config has would silently check nothing: every rule an owner declares by full key names
    a key of some config, and every rule a class declares names an argument that some config of that class sets."""
    configs = [compose_config(Path("unused"), f"{g}={o}") for g, o in (p.values for p in OPTIONS)]

    def has(cfg: DictConfig, key: str) -> bool:  # "???" (required) counts as present
        parent, _, name = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        return isinstance(node, DictConfig) and name in node.keys()  # noqa: SIM118 (`in` skips "???" values)

    owned = [rule.key for rule in rules_for(OmegaConf.create())]  # a config without targets: the owners' rules
    assert [key for key in owned if not any(has(cfg, key) for cfg in configs)] == []
    declared: dict[str, set[str]] = {}
    set_somewhere: set[tuple[str, str]] = set()

    def visit(node: DictConfig) -> None:
        if isinstance(target := node.get("_target_"), str):
            declared[target] = {rule.key for rule in declared_rules(target)}
            set_somewhere.update((target, key) for key in declared[target] if has(node, key))
        for key in node.keys():  # noqa: SIM118
            if not OmegaConf.is_interpolation(node, key) and isinstance(node._get_node(key), DictConfig):
                visit(node[key])

    for cfg in configs:
        visit(cfg)
    assert sorted(f"{t}: {k}" for t, keys in declared.items() for k in keys if (t, k) not in set_somewhere) == []


@pytest.mark.parametrize(
    ("data", "shape", "output"),
    [("digits", (1, 28, 28), nn.Tanh), ("cifar10", (3, 32, 32), nn.Tanh), ("ring8", (2,), nn.Identity)],
)
def test_sample_shape_and_range_flow_from_data_to_model(tmp_path: Path, data: str, shape: tuple, output: type) -> None:
    gan, datamodule, _ = build(compose_config(tmp_path, f"data={data}"))
    assert gan.generator.out_shape == gan.discriminator.in_shape == datamodule.shape == shape
    assert isinstance(gan.generator.net[-1], output)


def test_a_classifier_d_on_a_folder_without_class_sub_folders_says_how_to_give_them(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    cfg = compose_config(tmp_path, "experiment=ssl_folder", f"data.path={tmp_path / 'images'}")
    with pytest.raises(ConfigError, match=r"a classifier D needs the data's classes, but data\.path=.* has 0; give"):
        build(cfg)


def test_folder_without_a_path_says_it_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.path is required: set it to a folder of images"):
        validate(compose_config(tmp_path, "data=folder"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr_g=-1", "optim.lr_g=-1 is invalid: it must be a finite number > 0 (for example optim.lr_g=2e-4)"),
        ("optim.lr_d=0", "optim.lr_d=0 is invalid"),
        ("optim.lr_g=inf", "optim.lr_g=inf is invalid"),
        ("data.batch_size=0", "data.batch_size=0 is invalid: it must be an integer >= 1"),
        ("data.batch_size=abc", "data.batch_size='abc' is invalid"),
        ("data.batch_size=12.5", "data.batch_size=12.5 is invalid"),
        ("model.latent_dim=0", "model.latent_dim=0 is invalid: it must be an integer >= 1"),
        ("model.hidden_dim=-3", "model.hidden_dim=-3 is invalid"),
        ("optim.betas=[0.5,1.0]", "optim.betas=[0.5, 1.0] is invalid: it must be two numbers in [0, 1)"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0 is invalid: it must be an integer >= 1, or -1"),
        ("callbacks.evaluation.every_n_steps=0", "callbacks.evaluation.every_n_steps=0 is invalid: it must be an"),
        ("data.image_size=4", "data.image_size=4 is invalid: it must be an integer >= 8"),
        ("data=mnist data.channels=2", "data.channels=2 is invalid: it must be 1 (grey) or 3 (RGB)"),
        ("data.holdout_fraction=1.0", "data.holdout_fraction=1.0 is invalid: it must be a number in [0, 1)"),
        ("model=ssl_mlp", "model=ssl_mlp has a K-class classifier D, made for the semi-supervised task"),
        ("experiment=ssl_digits loss=hinge", "module=ssl plays its own losses"),
        ("experiment=ssl_digits model=mlp", "module=ssl needs a K-class classifier D"),
        ("experiment=ssl_digits optim.d_steps=2", "optim.d_steps and optim.simultaneous do not apply"),
        ("experiment=ssl_digits data.holdout_fraction=0", "no test split to measure"),
        ("experiment=ssl_digits objective=test/accuracy", "would tune on the test split"),
    ],
)
def test_invalid_values_are_named_with_the_allowed_range(tmp_path: Path, override: str, message: str) -> None:
    cfg = compose_config(tmp_path, *override.split())
    with pytest.raises(ConfigError) as error:
        validate(cfg)
    assert message in str(error.value)


def test_all_invalid_values_are_reported_at_once(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, "optim.lr_g=-1", "data.batch_size=0", "model.latent_dim=0")
    with pytest.raises(ConfigError) as error:
        validate(cfg)
    assert all(key in str(error.value) for key in ("optim.lr_g", "data.batch_size", "model.latent_dim"))


def test_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigCompositionException, match=r"model\.hiden_dim"):
        compose_config(tmp_path, "model.hiden_dim=3")


def test_networks_that_ignore_the_data_shape_are_refused_before_training() -> None:
    from ganforge.config import check_shapes
    from ganforge.networks import MLPDiscriminator, MLPGenerator

    generator, discriminator = MLPGenerator((1, 32, 32)), MLPDiscriminator((1, 28, 28))
    with pytest.raises(ConfigError, match=r"model=x data=y: the data's samples have shape \(1, 28, 28\)"):
        check_shapes(generator, discriminator, (1, 28, 28), "model=x data=y")


def test_the_slurm_launcher_preset_asks_for_the_trainer_devices(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train", overrides=["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"],
            return_hydra_config=True,
        )  # fmt: skip
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.nodes) == (4, 4, 2)
