"""Every key a user can set is validated: a wrong type or an out-of-range value stops `ganforge-train` with exit
status 2 and a message naming the key, before anything but Hydra's own files is written.

The walk covers every leaf of the composed train config, for the default and for each option of every group, and
finds the rule of each leaf as validation does (``rules_for``: what the leaf's class, or the module that reads it,
declares). It runs the real command in-process (Hydra's main, argv and all), which costs a fraction of a subprocess
per value.
"""

import re
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from ganforge.config import rules_for
from ganforge.rules import Rule
from ganforge.train import CONFIG_DIR, main

GROUPS = (
    "module", "model", "loss", "regularizer", "augment", "optim", "data", "trainer", "logger", "callbacks", "metrics",
    "experiment", "hparams_search",
)  # fmt: skip
# Values an option needs before it composes (validation happens before anything is read or downloaded).
REQUIRED = {"data=folder": ["data.path=/any/folder"], "loss=wasserstein": ["regularizer=gradient_penalty"]}


def leaves(node: DictConfig, prefix: str = "") -> list[str]:
    """User-settable leaves: not ``_target_``-style keys. An interpolation repeats another value, but it can be set
    on its own, so it is a leaf too, unless it stands for a whole group (``evaluation: ${metrics}``)."""
    found = []
    for key in node.keys():  # noqa: SIM118 (keys() lists required "???" values too)
        if str(key).startswith("_"):
            continue
        if OmegaConf.is_interpolation(node, key):
            target = str(OmegaConf.to_container(node, resolve=False)[key])[2:-1]
            resolver = target.split(":")[0] in ("hydra", "oc.env")
            if not resolver and isinstance(OmegaConf.select(node._get_root(), target), DictConfig):
                continue
            found.append(f"{prefix}{key}")
            continue
        value = None if OmegaConf.is_missing(node, key) else node[key]
        if value is None and prefix in ("callbacks.", "logger."):
            continue  # an entry switched off (callbacks.evaluation: null), not a value
        found += leaves(value, f"{prefix}{key}.") if isinstance(value, DictConfig) else [f"{prefix}{key}"]
    return found


def where_each_key_lives() -> tuple[dict[str, list[str]], dict[str, Rule], list[str], list[str]]:
    """key -> the overrides of the first option (default first) whose composed config has it; key -> its rule
    there; the leaves (``option: key``) that no rule checks, and the keys that two rules check."""
    options = [[]] + [
        [f"{group}={path.stem}"]
        for group in GROUPS
        for path in sorted((CONFIG_DIR / group).glob("*.yaml"))
        if not path.stem.startswith("_")
    ]
    found: dict[str, list[str]] = {}
    rule_of: dict[str, Rule] = {}
    unchecked: set[str] = set()
    twice: set[str] = set()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for option in options:
            overrides = option + REQUIRED.get(option[0] if option else "", [])
            cfg = compose("train", overrides=[*overrides, "paths.output_dir=unused"])
            rules = rules_for(cfg)
            twice |= {rule.key for rule in rules if [r.key for r in rules].count(rule.key) > 1}
            rules_here = {rule.key: rule for rule in rules}
            for key in leaves(cfg):
                if key not in ("paths.output_dir", "hydra") and not key.startswith("hydra."):
                    if key not in rules_here:
                        unchecked.add(f"{'+'.join(option) or 'default'}: {key}")
                        continue
                    found.setdefault(key, overrides)
                    rule_of.setdefault(key, rules_here[key])
    return found, rule_of, sorted(unchecked), sorted(twice)


KEYS, RULE_OF, UNCHECKED, TWICE = where_each_key_lives()


def test_every_user_settable_key_has_a_rule() -> None:
    assert len(KEYS) > 80
    assert UNCHECKED == []


def test_no_key_is_checked_by_two_rules() -> None:
    assert TWICE == []


def run_train(*args: str) -> int:
    """`ganforge-train ARGS` in this process; its exit status (0 when it returns)."""
    argv = sys.argv
    sys.argv = ["ganforge-train", *args]
    try:
        main()
    except SystemExit as stop:
        return stop.code
    finally:
        sys.argv = argv
    return 0


def grouped_cases() -> list:
    """One case per (option, kind of bad value): every key that first appears under that option gets its wrong-type
    value (or its out-of-range value) in the same run, since validation reports every problem at once."""
    groups: dict[tuple[tuple[str, ...], int], list[str]] = {}
    for key in sorted(KEYS):
        for index in range(len(RULE_OF[key].bad)):
            groups.setdefault((tuple(KEYS[key]), index), []).append(key)
    return [
        pytest.param(list(option), index, keys, id=f"{'+'.join(option) or 'default'}-{('type', 'range')[index]}")
        for (option, index), keys in groups.items()
    ]


@pytest.mark.parametrize(("option", "index", "keys"), grouped_cases())
def test_wrong_types_and_out_of_range_values_stop_before_any_work(
    tmp_path: Path, capfd: pytest.CaptureFixture, option: list[str], index: int, keys: list[str]
) -> None:
    run_dir = tmp_path / "run"
    overrides = [o for o in option if o.split("=")[0] not in keys]
    bad = [f"{key}={RULE_OF[key].bad[index]}" for key in keys]
    status = run_train(*overrides, *bad, f"hydra.run.dir={run_dir}", "hydra.job.chdir=false")
    output = capfd.readouterr()
    log = (run_dir / "train.log").read_text()
    assert status == 2, output.out + output.err
    unnamed = [key for key in keys if not re.search(rf"(^|\s){re.escape(key)}(=| is required)", log)]
    assert unnamed == [], log
    assert "Traceback" not in output.out + output.err + log
    assert sorted(path.name for path in run_dir.iterdir()) == [".hydra", "train.log"]
