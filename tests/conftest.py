"""Shared fixtures: compose the real config once per test and shrink it to a run of seconds."""

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ganforge.train import CONFIG_DIR

# A few batches of small batches, no progress bar: the whole pipeline in seconds.
TINY = (
    "data.batch_size=16",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.log_every_n_steps=1",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
)


def compose_config(output_dir: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={output_dir}", *overrides])


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """tiny_cfg(*overrides, name="run") -> a composed config writing under tmp_path/name."""

    def make(*overrides: str, name: str = "run") -> DictConfig:
        return compose_config(tmp_path / name, *TINY, *overrides)

    return make
