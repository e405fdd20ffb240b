"""Shared fixtures: compose the real config once per test and shrink it to a run of seconds."""

import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from ganforge.train import CONFIG_DIR

# One thread in this process and in the runs tests start (OMP_NUM_THREADS is inherited): results of trained networks
# do not depend on the machine's core count (reductions split by thread differ in rounding), and `make test`'s two
# pytest-xdist workers use two cores, no more. Set before any fixture, session-scoped ones included, trains anything.
torch.set_num_threads(1)
os.environ["OMP_NUM_THREADS"] = "1"

# Evaluation at test scale: an evaluator network of a few steps, one probe draw, few KID subsets.
FAST_EVAL = ("metrics.evaluator.steps=20", "metrics.probe_draws=1", "metrics.kid_subsets=10")
# A few batches of small batches, no progress bar: the whole pipeline in seconds.
TINY = (
    *FAST_EVAL,
    "data.batch_size=16",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.log_every_n_steps=1",
    "callbacks.sample_grid.every_n_steps=3",  # one grid per epoch of 3 batches
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
)


@pytest.fixture(scope="session", autouse=True)
def evaluator_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Evaluator networks trained by tests go to a session folder (shared by subprocesses), not ~/.cache."""
    path = tmp_path_factory.mktemp("ganforge-cache")
    previous = os.environ.get("GANFORGE_CACHE")
    os.environ["GANFORGE_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("GANFORGE_CACHE", None)
    else:
        os.environ["GANFORGE_CACHE"] = previous


@pytest.fixture(autouse=True)
def same_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from the same global random state, whatever ran before it (and in whichever pytest-xdist
    worker): a test's outcome must not depend on test order."""
    for name in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):  # left in os.environ by Lightning's seed_everything
        monkeypatch.delenv(name, raising=False)
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


@pytest.fixture(autouse=True)
def offline_inception(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test downloads the Inception weights: torch-fidelity's download fails as it does offline (a test that
    needs another answer patches it again)."""
    import urllib.error

    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    def offline(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(f"tests never touch the network ({url})")

    monkeypatch.setattr(fidelity, "load_state_dict_from_url", offline)


def compose_config(output_dir: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={output_dir}", *overrides])


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """tiny_cfg(*overrides, name="run") -> a composed config writing under tmp_path/name."""

    def make(*overrides: str, name: str = "run") -> DictConfig:
        return compose_config(tmp_path / name, *TINY, *overrides)

    return make
