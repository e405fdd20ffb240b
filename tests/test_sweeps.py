"""Sweeps as users run them (subprocesses): the basic sweeper with its summary, Optuna, submitit_local."""

import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml

from ganforge.sweeps import summarize
from tests.conftest import FAST_EVAL

TRAIN = str(Path(sys.executable).parent / "ganforge-train")
TINY_RUN = (
    "data.batch_size=16", "trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.log_every_n_steps=1",
    "callbacks.progress_bar=null", "callbacks.model_summary=null", "callbacks.evaluation.every_n_steps=3",
    "data.metrics=[fid,kid,precision_recall,density_coverage,classes]",
    *FAST_EVAL,
)  # fmt: skip


def sweep(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [TRAIN, "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", *TINY_RUN, *args]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_a_2x2_multirun_writes_a_summary_matching_every_job(tmp_path: Path) -> None:
    result = sweep(tmp_path, "optim.lr_g=1e-4,4e-4", "seed=0,1", "objective=best/fid180")
    root = tmp_path / "sweep"
    jobs = {path.parent.name: json.loads(path.read_text())["metrics"] for path in root.glob("*/metrics.json")}
    assert len(jobs) == 4
    with (root / "summary.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["job"] for row in rows] == sorted(jobs, key=lambda job: jobs[job]["best/fid180"])
    for row in rows:
        overrides = yaml.safe_load((root / row["job"] / ".hydra" / "overrides.yaml").read_text())
        assert f"optim.lr_g={row['optim.lr_g']}" in overrides and f"seed={row['seed']}" in overrides
        for name, value in jobs[row["job"]].items():
            assert float(row[name]) == pytest.approx(value), (row["job"], name)
    markdown = (root / "summary.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert "mean ± std over seeds" in markdown and len(table) == 1 + 2  # header + one row per learning rate
    assert all(" | 2 | " in row for row in table[1:])  # two seeds each
    assert "best/fid180" in result.stdout  # the printed table
    # the command rebuilds the same table for an existing sweep dir
    assert summarize(root) == markdown


@pytest.mark.slow
def test_an_optuna_sweep_with_rdb_storage_records_the_best_parameters(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    sweep(
        tmp_path, "hparams_search=digits_optuna", "hydra.sweeper.n_trials=3", f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=test-study",
    )  # fmt: skip
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"optim.lr_g", "optim.lr_d", "ema.decay"}
    values = [json.loads(p.read_text())["metrics"]["best/fid180"] for p in (tmp_path / "sweep").glob("*/metrics.json")]
    assert len(values) == 3 and results["best_value"] == pytest.approx(min(values))
    with warnings.catch_warnings():  # optuna 2.10's SQLAlchemy 1.4 calls, pinned on purpose (sqlalchemy<2)
        warnings.filterwarnings("ignore", message="Deprecated API features detected")
        import optuna

        study = optuna.load_study(study_name="test-study", storage=storage)
    assert len(study.trials) == 3 and study.best_value == pytest.approx(min(values))


@pytest.mark.slow
def test_submitit_local_runs_a_two_job_sweep(tmp_path: Path) -> None:
    sweep(tmp_path, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "seed=0,1")
    assert len(list((tmp_path / "sweep").glob("*/metrics.json"))) == 2
    assert (tmp_path / "sweep" / "summary.md").is_file()
