"""The rules of the keys ``ganforge-train`` reads itself (``train.py``): the run's seed, length, resume and
objective, its paths, Lightning's Trainer and the optimizers (``optim.generator``/``optim.discriminator``, which the
tasks instantiate). Other libraries' classes are keyed by target (keys relative to their node); the rest by full
key."""

from dataclasses import replace

from ganforge.rules import (
    Rule,
    any_of,
    at_least,
    boolean,
    enum,
    folder,
    integer,
    is_fraction,
    is_unit_interval,
    list_of,
    one_of,
    optional_integer,
    optional_text,
    positive,
    seed,
)

LR = positive("lr", "2e-4")
BETAS = Rule(
    "betas",
    "two numbers in [0, 1)",
    "[0.5,0.999]",
    lambda value: list_of(is_fraction)(value) and len(value) == 2,
    ("0.5", "[0.5,1.0]"),
)
FUSED = boolean("fused")

RULES = (
    seed("seed"),
    optional_integer("steps", 1, "9600", "no limit by steps"),
    optional_text("ckpt_path", "null, last, or the path of a .ckpt file", "last"),
    optional_text("objective", "null or a metric name (e.g. best/fid180)", "best/fid180"),
    folder("paths.log_dir", "outputs", "a folder for run outputs"),
    folder("paths.data_dir", "data", "a folder for the dataset files"),
    folder("paths.cache_dir", "~/.cache/ganforge", "a folder for cached evaluator networks"),
    # optim.generator and optim.discriminator read these (interpolations), and can be set on their own too
    replace(LR, key="optim.lr_g"),
    replace(LR, key="optim.lr_d"),
    BETAS.at("optim"),
    FUSED.at("optim"),
)

TARGET_RULES = {
    "torch.optim.Adam": (LR, BETAS, FUSED),
    "lightning.pytorch.Trainer": (
        folder("default_root_dir"),
        enum("accelerator", ("auto", "cpu", "gpu", "cuda", "mps", "tpu"), "cpu", "abacus"),
        Rule("devices", "an integer >= 1, or auto", "1", any_of(at_least(1), one_of("auto")), ("[abc]", "0")),
        integer("num_nodes", 1, "1"),
        Rule("max_epochs", "an integer >= 1, or -1 for no limit", "25", any_of(at_least(1), one_of(-1)), ("abc", "0")),
        Rule("max_steps", "-1 (not used: the run's length is steps=N)", "-1", one_of(-1), ("abc", "1000")),
        integer("log_every_n_steps", 1, "10"),
        integer("num_sanity_val_steps", 0, "0"),
        boolean("enable_checkpointing"),
        Rule(
            "limit_train_batches",
            "a fraction in (0, 1] or a number of batches >= 1",
            "1.0",
            any_of(at_least(1), lambda value: isinstance(value, float) and is_unit_interval(value)),
            ("abc", "0"),
        ),
        boolean("deterministic"),
        boolean("detect_anomaly"),
        enum("precision", ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true"), "bf16-mixed", "8-true"),
    ),
}
