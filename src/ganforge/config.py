"""One validation layer: user-set config values (before anything is built) and the combinations of the
built networks with the data and the other settings (before any data is read).

Hydra already rejects unknown keys (the configs are in struct mode); this checks the values of known keys.
Every rule names its key, what is allowed and an example override, so a message says how to fix the run.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from ganforge.errors import ConfigError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda value: _is_int(value) and value >= low


def _positive_number(value: Any) -> bool:
    return _is_number(value) and value > 0


def _non_negative_number(value: Any) -> bool:
    return _is_number(value) and value >= 0


def _adam_betas(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple, ListConfig))
        and len(value) == 2
        and all(_is_number(b) and 0 <= b < 1 for b in value)
    )


def _one_of(*allowed: Any) -> Callable[[Any], bool]:
    return lambda value: any(value == a and type(value) is type(a) for a in allowed)


def _fraction(value: Any) -> bool:
    return _is_number(value) and 0 <= value < 1


def _unit_interval(value: Any) -> bool:
    return _is_number(value) and 0 < value <= 1


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _epochs(value: Any) -> bool:
    return _is_int(value) and (value >= 1 or value == -1)


@dataclass(frozen=True)
class Rule:
    """What a config key allows: checked before anything is built. ``bad`` holds a value of the wrong type and
    one out of range (as command-line overrides): the test that walks every key sets both and expects this rule
    to refuse them."""

    key: str
    allowed: str
    example: str
    check: Callable[[Any], bool]
    bad: tuple[str, str] = ("abc", "-5")


def _seed(value: Any) -> bool:
    return _is_int(value) and 0 <= value < 2**32  # numpy's and Lightning's seed range


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _list_of(check: Callable[[Any], bool], min_length: int = 1) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, (list, ListConfig)) and len(value) >= min_length and all(map(check, value))


def _registered_metric(value: Any) -> bool:
    from ganforge.metrics import REGISTRY

    return value in REGISTRY


def _diffaugment_policy(value: Any) -> bool:
    from ganforge.augment import POLICIES

    return value in POLICIES


def _limit_batches(value: Any) -> bool:
    return (_is_int(value) and value >= 1) or (isinstance(value, float) and 0 < value <= 1)


def _code_count(value: Any) -> bool:
    return _is_int(value) and (value == 0 or value >= 2)


def _devices(value: Any) -> bool:
    return (_is_int(value) and value >= 1) or value == "auto"


def _boolean(key: str, example: str = "true") -> Rule:
    return Rule(key, "true or false", example, _one_of(True, False), ("maybe", "2"))


def _int(key: str, low: int, example: str, allowed: str | None = None) -> Rule:
    return Rule(key, allowed or f"an integer >= {low}", example, _int_at_least(low), ("abc", str(min(low - 1, -5))))


def _enum(key: str, values: tuple[Any, ...], example: str, out_of_range: str, null: str = "") -> Rule:
    """One of ``values`` (None written as ``null``, explained by ``null``)."""
    names = [f"null{null}" if v is None else str(v) for v in values]
    return Rule(key, ", ".join(names[:-1]) + " or " + names[-1], example, _one_of(*values), ("[1]", out_of_range))


def _names(key: str, what: str, example: str, known: Callable[[Any], bool]) -> Rule:
    """A list (possibly empty) of known names."""
    return Rule(
        key, f"a list of {what}", example, _list_of(known, min_length=0), (example.strip("[]").split(",")[0], "[nope]")
    )


def _positive(key: str, example: str, out_of_range: str = "-1") -> Rule:
    return Rule(key, "a finite number > 0", example, _positive_number, ("abc", out_of_range))


def _non_negative(key: str, example: str, allowed: str = "a finite number >= 0") -> Rule:
    return Rule(key, allowed, example, _non_negative_number, ("abc", "-1"))


def _optional_text(key: str, allowed: str, example: str) -> Rule:
    return Rule(key, allowed, example, _optional(_non_empty_string), ("[1]", "''"))


def _text(key: str, allowed: str, example: str) -> Rule:
    return Rule(key, allowed, example, _non_empty_string, ("[1]", "''"))


BOOLEAN_KEYS = (
    "ema.warmup",
    "optim.fused",
    "optim.simultaneous",
    "optim.generator.fused",
    "optim.discriminator.fused",
    "speedups",
    "model.discriminator.spectral_norm",
    "model.discriminator.minibatch_std",
    "model.discriminator.batch_norm",
    "model.generator.batch_norm",
    "data.download",
    "data.skip_corrupt",
    "data.class_subfolders",
    "ssl.generator",
    "model.discriminator.use_weight_norm",
    "trainer.deterministic",
    "trainer.enable_checkpointing",
    "trainer.detect_anomaly",
    "callbacks.periodic_checkpoint.at_end",
)
SEED_KEYS = ("seed", "data.shuffle_seed", "callbacks.sample_grid.seed")
TEXT_KEYS = {
    "model.name": ("a non-empty name", "mlp"),
    "data.name": ("a non-empty name", "ring8"),
    "regularizer.name": ("a non-empty name", "r1"),
    "augment.name": ("a non-empty name", "diffaugment"),
    "paths.log_dir": ("a folder for run outputs", "outputs"),
    "paths.data_dir": ("a folder for the dataset files", "data"),
    "paths.cache_dir": ("a folder for cached evaluator networks", "~/.cache/ganforge"),
    # keys that repeat another value (interpolations) but can still be set on their own
    "trainer.default_root_dir": ("a folder", "outputs/run"),
    "logger.tensorboard.save_dir": ("a folder", "outputs/run"),
    "callbacks.evaluation.output_dir": ("a folder", "outputs/run"),
    "callbacks.sample_grid.output_dir": ("a folder", "outputs/run"),
    "callbacks.classifier.output_dir": ("a folder", "outputs/run"),
    "callbacks.last_checkpoint.dirpath": ("a folder", "outputs/run/checkpoints"),
    "callbacks.periodic_checkpoint.dirpath": ("a folder", "outputs/run/checkpoints"),
    "metrics.cache_dir": ("a folder", "~/.cache/ganforge"),
    "data.path": ("a folder of images", "/data/my_images"),
    "data.root": ("a folder for the dataset files", "data"),
}

RULES: tuple[Rule, ...] = (
    *(Rule(key, "an integer in [0, 2^32)", "0", _seed, ("abc", "-1")) for key in SEED_KEYS),
    _positive("optim.lr_g", "2e-4", "-1"),
    _positive("optim.lr_d", "2e-4", "0"),
    _positive("optim.generator.lr", "2e-4", "-1"),
    _positive("optim.discriminator.lr", "2e-4", "0"),
    *(
        Rule(key, "two numbers in [0, 1)", "[0.5,0.999]", _adam_betas, ("0.5", "[0.5,1.0]"))
        for key in ("optim.betas", "optim.generator.betas", "optim.discriminator.betas")
    ),
    _int("optim.d_steps", 1, "1"),
    _enum("trainer.precision", ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true"), "bf16-mixed", "8-true"),
    Rule("ema.decay", "null (off) or a number in [0, 1)", "0.999", _optional(_fraction), ("abc", "1.5")),
    _non_negative("regularizer.gamma", "10"),
    _int("regularizer.every", 1, "16"),
    _non_negative("regularizer.weight", "10"),
    _names(
        "augment.policy",
        "DiffAugment policies (color, translation, cutout)",
        "[color,translation]",
        _diffaugment_policy,
    ),
    _int("model.width", 1, "64"),
    _int("model.generator.width", 1, "256"),
    _int("model.discriminator.width", 1, "128"),
    _int("model.discriminator.pack", 1, "2"),
    _enum("model.generator.output_activation", (None, "tanh", "linear"), "tanh", "relu", " (what the data calls for)"),
    _int("data.batch_size", 1, "128"),
    _int("data.image_size", 8, "28"),
    Rule("data.channels", "1 (grey) or 3 (RGB)", "3", _one_of(1, 3), ("abc", "2")),
    _int("data.num_workers", 0, "0"),
    Rule("data.holdout_fraction", "a number in [0, 1)", "0.1", _fraction, ("abc", "1.0")),
    _int("data.split_seed", 0, "0"),
    _names(
        "data.metrics", "registered metric names (src/ganforge/metrics/registry.py)", "[fid,kid]", _registered_metric
    ),
    _int("data.preview.num_samples", 1, "64"),
    _non_negative("data.cache_limit_mb", "2048", "a finite number >= 0 (0: never cache)"),
    _int("data.num_samples", 1, "100000"),
    _positive("data.std", "0.01", "0"),
    _int("data.centers.num_modes", 1, "8"),
    _positive("data.centers.radius", "1.0", "-1"),
    Rule("data.centers.values", "a list of numbers", "[-4,-2,0,2,4]", _list_of(_is_number), ("4", "[]")),
    _int("model.generator.hidden_dim", 1, "400"),
    _enum("model.generator.activation", ("relu", "softplus"), "relu", "sigmoid"),
    _int("model.generator.num_layers", 1, "4"),
    Rule("model.generator.codes", "0 (no code) or an integer >= 2", "25", _code_count, ("abc", "1")),
    _positive("model.generator.code_scale", "4"),
    _positive("model.generator.bn_eps", "1e-4"),
    Rule("model.generator.bn_momentum", "a number in (0, 1]", "0.05", _unit_interval, ("abc", "1.5")),
    _int("model.discriminator.hidden_dim", 1, "200"),
    _int("model.discriminator.num_layers", 1, "3"),
    _int("model.discriminator.pieces", 1, "5"),
    *(
        Rule(key, "null (PyTorch's default) or a finite number > 0", "0.02", _optional(_positive_number), ("abc", "0"))
        for key in ("model.generator.init_std", "model.discriminator.init_std")
    ),
    Rule("data.tuples", "null (plain samples) or an integer >= 1", "2", _optional(_int_at_least(1)), ("abc", "0")),
    _int("model.latent_dim", 1, "100"),
    Rule(
        "ssl.labels_per_class", "null (every label) or an integer >= 1", "10", _optional(_int_at_least(1)), ("abc", "0")
    ),
    _int("ssl.draw", 0, "0"),
    _int("ssl.labeled_batch_size", 1, "100"),
    _non_negative("ssl.unsupervised_weight", "1.0"),
    _non_negative("ssl.supervised_weight", "1.0"),
    _non_negative("ssl.entropy_weight", "1.0"),
    Rule("ssl.classifier_ema", "null (off) or a number in [0, 1)", "0.999", _optional(_fraction), ("abc", "1.5")),
    Rule(
        "ssl.validation_size",
        "null (the test split) or an integer >= 1",
        "300",
        _optional(_int_at_least(1)),
        ("abc", "0"),
    ),
    Rule(
        "model.discriminator.num_classes",
        "null (the data's) or an integer >= 2",
        "10",
        _optional(_int_at_least(2)),
        ("abc", "1"),
    ),
    Rule(
        "model.discriminator.hidden_dims",
        "a list of integers >= 1",
        "[500,250]",
        _list_of(_int_at_least(1)),
        ("500", "[0]"),
    ),
    _non_negative("model.discriminator.input_noise", "0.3"),
    _non_negative("model.discriminator.hidden_noise", "0.5"),
    _int("model.generator.latent_dim", 1, "100"),
    _non_negative("model.generator.negative_slope", "0.2"),
    _non_negative("model.discriminator.negative_slope", "0.2"),
    _int("callbacks.nonfinite_guard.check_every_n_steps", 1, "6"),
    _int("model.hidden_dim", 1, "128"),
    _int("model.num_layers", 1, "2"),
    _non_negative("model.negative_slope", "0.2"),
    Rule("trainer.max_epochs", "an integer >= 1, or -1 for no limit", "25", _epochs, ("abc", "0")),
    Rule("trainer.max_steps", "an integer >= 1, or -1 for no limit (optimizer steps)", "-1", _epochs, ("abc", "0")),
    _int("trainer.log_every_n_steps", 1, "10"),
    Rule(
        "trainer.limit_train_batches",
        "a fraction in (0, 1] or a number of batches >= 1",
        "1.0",
        _limit_batches,
        ("abc", "0"),
    ),
    _int("trainer.num_sanity_val_steps", 0, "0"),
    _enum("trainer.accelerator", ("auto", "cpu", "gpu", "cuda", "mps", "tpu"), "cpu", "abacus"),
    Rule("trainer.devices", "an integer >= 1, or auto", "1", _devices, ("[abc]", "0")),
    _int("trainer.num_nodes", 1, "1"),
    _enum(
        "trainer.strategy.process_group_backend",
        (None, "nccl", "gloo", "mpi"),
        "gloo",
        "carrier-pigeon",
        " (nccl on GPUs, gloo on CPUs)",
    ),
    _int("callbacks.sample_grid.every_n_steps", 1, "250"),
    _int("callbacks.last_checkpoint.every_n_steps", 1, "1000"),
    _int("callbacks.periodic_checkpoint.every_n_steps", 1, "5000"),
    _text("callbacks.periodic_checkpoint.filename", "a file name, {step} for the step", "step{step:07d}.ckpt"),
    _int("callbacks.evaluation.every_n_steps", 1, "500"),
    _int("callbacks.classifier.every_n_steps", 1, "250"),
    Rule("callbacks.lr_decay.start", "a number in [0, 1)", "0.5", _fraction, ("abc", "1.0")),
    _optional_text(
        "callbacks.evaluation.monitor", "null (the data's first metric) or a reported value such as fid", "fid"
    ),
    _int("callbacks.progress_bar.refresh_rate", 0, "5", "an integer >= 0 (0: no updates)"),
    _int("callbacks.model_summary.max_depth", -1, "2", "an integer >= -1 (-1: every layer)"),
    _enum("metrics.features", ("auto", "evaluator", "labelfree", "inception"), "auto", "vgg"),
    _enum("metrics.labelfree.method", ("random", "contrastive"), "random", "pca"),
    _int("metrics.labelfree.num_features", 1, "256"),
    _int("metrics.labelfree.width", 1, "32"),
    _int("metrics.labelfree.steps", 1, "300"),
    _int("metrics.labelfree.batch_size", 2, "128"),
    _positive("metrics.labelfree.lr", "1e-3", "-1"),
    _positive("metrics.labelfree.temperature", "0.2", "0"),
    _int("metrics.labelfree.seed", 0, "0"),
    _optional_text("metrics.weights_path", "null or the path of a weights file", "/data/pt_inception.pth"),
    Rule(
        "metrics.num_samples",
        "null (the held-out set's size) or an integer >= 2",
        "1000",
        _optional(_int_at_least(2)),
        ("abc", "1"),
    ),
    _int("metrics.precision_k", 1, "3"),
    _int("metrics.density_k", 1, "5"),
    _int("metrics.kid_subsets", 1, "100"),
    Rule("metrics.probe_labels", "a list of integers >= 1", "[1,10,100]", _list_of(_int_at_least(1)), ("10", "[0]")),
    _int("metrics.probe_draws", 1, "5"),
    _int("metrics.seed", 0, "0"),
    _int("metrics.evaluator.feature_dim", 1, "64"),
    _int("metrics.evaluator.steps", 1, "600"),
    _int("metrics.evaluator.batch_size", 1, "128"),
    _positive("metrics.evaluator.lr", "1e-3", "-1"),
    _int("metrics.evaluator.seed", 0, "0"),
    _optional_text("ckpt_path", "null, last, or the path of a .ckpt file", "last"),
    _optional_text("objective", "null or a metric name (e.g. best/fid180)", "best/fid180"),
    Rule(
        "compare_metrics",
        "a list of metric names",
        "[train/d_loss]",
        _list_of(_non_empty_string, 0),
        ("train/d_loss", "['']"),
    ),
    *(_boolean(key) for key in BOOLEAN_KEYS),
    *(_text(key, allowed, example) for key, (allowed, example) in TEXT_KEYS.items()),
)

_ABSENT = object()


def validate(cfg: DictConfig, rules: tuple[Rule, ...] = RULES, one_line: bool = False) -> None:
    """Raise ConfigError listing every rule the config breaks; keys a config does not have are skipped.
    ``one_line``: the problems in one line (ganforge-evaluate and ganforge-sample log one line per error)."""
    problems = []
    for rule in rules:
        parent, _, name = rule.key.rpartition(".")
        node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
        # `name in node` is False for a required ("???") value; its keys() still list it
        if isinstance(node, DictConfig) and name in node.keys() and OmegaConf.is_missing(node, name):  # noqa: SIM118
            problems.append(
                f"{rule.key} is required: set it to {rule.allowed} (for example {rule.key}={rule.example})."
            )
            continue
        value = OmegaConf.select(cfg, rule.key, default=_ABSENT)
        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value)
        if value is not _ABSENT and not rule.check(value):
            problems.append(
                f"{rule.key}={value!r} is invalid: it must be {rule.allowed} (for example {rule.key}={rule.example})."
            )
    d_steps = OmegaConf.select(cfg, "optim.d_steps", default=1)
    if OmegaConf.select(cfg, "optim.simultaneous", default=False) is True and _is_int(d_steps) and d_steps != 1:
        problems.append(
            f"optim.simultaneous=true makes one D and one G update per batch, but optim.d_steps={d_steps}; "
            "set optim.d_steps=1, or optim.simultaneous=false to alternate."
        )
    problems += _ssl_combinations(cfg)
    accelerator = OmegaConf.select(cfg, "trainer.accelerator", default=None)
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        problems.append(
            f"trainer.accelerator={accelerator} but no CUDA GPU is visible on this machine; use trainer=cpu "
            "(or trainer.accelerator=auto)."
        )
    if problems:
        raise ConfigError(
            " ".join(problems) if one_line else "Invalid configuration, nothing was run:\n  " + "\n  ".join(problems)
        )


def _ssl_combinations(cfg: DictConfig) -> list[str]:
    """The semi-supervised GAN's settings that are valid alone but not together (every one found)."""
    ssl = OmegaConf.select(cfg, "ssl", default=None)
    discriminator = OmegaConf.select(cfg, "model.discriminator", default=None)
    classifier = isinstance(discriminator, DictConfig) and "num_classes" in discriminator
    model = OmegaConf.select(cfg, "model.name", default="?")
    if not isinstance(ssl, DictConfig):
        if classifier:
            return [f"model={model} has a K-class classifier D, made for the semi-supervised GAN; use an "
                    "experiment=ssl_* preset (or ssl=default), or another model."]  # fmt: skip
        return []
    problems = []
    if not classifier:
        problems.append(f"the semi-supervised GAN needs a K-class classifier D, but model={model} has a one-logit "
                        "D; use model=ssl_mlp (or an experiment=ssl_* preset).")  # fmt: skip
    unsupervised, supervised = ssl.get("unsupervised_weight"), ssl.get("supervised_weight")
    if _is_number(unsupervised) and _is_number(supervised):  # else the rules above report them
        if ssl.get("generator") is False and unsupervised > 0:
            problems.append(f"ssl.generator=false but ssl.unsupervised_weight={unsupervised}: the unlabeled loss "
                            "compares real images with G's samples; set ssl.unsupervised_weight=0 (the "
                            "supervised-only baseline) or ssl.generator=true.")  # fmt: skip
        if unsupervised == 0 and supervised == 0:
            problems.append("ssl.supervised_weight=0 and ssl.unsupervised_weight=0: the classifier would learn "
                            "nothing; set one of them > 0.")  # fmt: skip
    if OmegaConf.select(cfg, "regularizer._target_", default=None) is not None:
        problems.append("the semi-supervised GAN takes no regularizer; use regularizer=none.")
    loss = OmegaConf.select(cfg, "loss._target_", default=None)
    if loss != "ganforge.losses.nonsaturating":
        problems.append(f"the semi-supervised GAN's losses are fixed (labeled cross-entropy, logistic real/fake, "
                        f"feature matching), but loss={loss} was set; use loss=nonsaturating.")  # fmt: skip
    if OmegaConf.select(cfg, "optim.d_steps", default=1) != 1 or OmegaConf.select(cfg, "optim.simultaneous") is True:
        problems.append("the semi-supervised GAN updates D then G once per batch; optim.d_steps and "
                        "optim.simultaneous do not apply: use optim.d_steps=1 optim.simultaneous=false.")  # fmt: skip
    if OmegaConf.select(cfg, "data.holdout_fraction", default=None) == 0 and ssl.get("validation_size") is None:
        problems.append("data.holdout_fraction=0 leaves the semi-supervised GAN no test split to measure; set "
                        "it > 0 (the digits preset holds out 0.5) or use ssl.validation_size=N images.")  # fmt: skip
    objective = OmegaConf.select(cfg, "objective", default=None)
    if isinstance(objective, str) and objective.startswith("test/"):
        problems.append(f"objective={objective} would tune on the test split; choose settings on "
                        "validation/accuracy with ssl.validation_size=N.")  # fmt: skip
    return problems


def check_shapes(generator: nn.Module, discriminator: nn.Module, data_shape: tuple[int, ...], names: str) -> None:
    """Fail before training if G cannot produce the data's samples or D cannot judge them."""
    if tuple(generator.out_shape) != data_shape or tuple(discriminator.in_shape) != data_shape:
        raise ConfigError(
            f"{names}: the data's samples have shape {data_shape}, but the generator makes "
            f"{tuple(generator.out_shape)} and the discriminator takes {tuple(discriminator.in_shape)}. "
            "Choose a model that supports this sample shape, or change data.image_size / data.channels."
        )


def check_combinations(
    cfg: DictConfig, datamodule: Any, discriminator: nn.Module, loss: Any, regularizer: Any, augment: Any
) -> None:
    """Values that are valid alone but not together, read from what the built objects declare (checked once the
    networks exist, before any data is read)."""
    pack = getattr(discriminator, "pack", 1)
    if datamodule.tuples is not None and datamodule.tuples != pack:
        raise ConfigError(
            f"data.tuples={datamodule.tuples} but model.discriminator.pack={pack}: the real batches hold tuples of "
            f"{datamodule.tuples} samples for a D that packs {pack}. Set data.tuples=${{model.discriminator.pack}} "
            "(the PacGAN presets do), or data.tuples=null."
        )
    if datamodule.samples_per_batch % pack:
        raise ConfigError(
            f"data.batch_size={datamodule.batch_size} is not a multiple of model.discriminator.pack={pack}: D judges "
            f"groups of {pack} samples. Choose a batch size divisible by {pack}."
        )
    lipschitz = getattr(regularizer, "provides_lipschitz", False) or getattr(discriminator, "lipschitz", False)
    if loss.needs_lipschitz and not lipschitz:
        raise ConfigError(
            f"loss={_choice(cfg, 'loss')} needs a Lipschitz constraint on D, or its critic values grow without bound: "
            "add regularizer=gradient_penalty (WGAN-GP) or model.discriminator.spectral_norm=true."
        )
    if augment is not None and datamodule.kind not in augment.kinds:
        raise ConfigError(
            f"augment={cfg.augment.name} works on {', '.join(augment.kinds)}, but data={datamodule.name} gives "
            f"{datamodule.kind} of shape {datamodule.shape}; use augment=none."
        )


def _choice(cfg: DictConfig, group: str) -> str:
    """The option a group was given (``loss=wasserstein``), where Hydra recorded it; else its target's name."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get().runtime.choices[group]
    except ValueError:  # composed outside a Hydra app (tests, notebooks)
        return str(OmegaConf.select(cfg, f"{group}._target_", default=group)).rpartition(".")[2]
