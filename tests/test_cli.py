"""The `ganforge-train` command as users run it (subprocesses: Hydra owns the process)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ganforge.lab.bench_data import main as bench_data
from tests.conftest import FAST_EVAL
from tests.datafiles import write_many_images
from tests.test_train import events, logged_hparams

BIN = Path(sys.executable).parent
TRAIN = str(BIN / "ganforge-train")
QUIET = ("callbacks.progress_bar=null", "callbacks.model_summary=null", *FAST_EVAL)


def run(cwd: Path, *args: str, command: str = TRAIN) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def run_dirs(root: Path) -> list[Path]:
    return sorted(path.parent.parent for path in root.glob("**/.hydra/config.yaml"))


@pytest.mark.slow
def test_overrides_are_used_saved_and_shown_in_hparams(tmp_path: Path) -> None:
    result = run(
        tmp_path, "model.hidden_dim=256", "optim.lr_d=1e-4", "data.batch_size=64", "trainer.max_epochs=2",
        "callbacks.sample_grid.every_n_steps=25", *QUIET,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path / "outputs")
    assert run_dir.parent.parent == tmp_path / "outputs"  # outputs/<date>/<time>/
    saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert (saved["model"]["hidden_dim"], saved["optim"]["lr_d"], saved["data"]["batch_size"]) == (256, 1e-4, 64)
    hparams = logged_hparams(events(run_dir))
    assert hparams["model/hidden_dim"] == 256 and hparams["data/batch_size"] == 64
    assert hparams["optim/lr_d"] == pytest.approx(1e-4)
    # what a person set, not plumbing: the group choices and their values, at most 40 columns
    assert hparams["choice/model"] == "mlp" and hparams["choice/data"] == "digits"
    assert len(hparams) <= 40, sorted(hparams)
    plumbing = [k for k in hparams if k.rsplit("/", 1)[-1].startswith("_") or k.startswith(("paths/", "callbacks/"))]
    assert plumbing == [] and not any(k.endswith(("_dir", "root", "path")) for k in hparams)
    assert len(events(run_dir).Images("samples/fixed_noise")) == 2


@pytest.mark.slow
def test_multirun_runs_one_job_per_value(tmp_path: Path) -> None:
    result = run(
        tmp_path, "-m", "optim.lr_g=1e-4,2e-4", "trainer.max_epochs=1", "trainer.limit_train_batches=2", *QUIET
    )
    assert result.returncode == 0, result.stderr
    jobs = run_dirs(tmp_path / "outputs" / "multirun")
    assert [job.name for job in jobs] == ["0", "1"]
    lrs = [yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["optim"]["lr_g"] for job in jobs]
    assert lrs == [1e-4, 2e-4]
    assert all((job / "checkpoints" / "last.ckpt").is_file() for job in jobs)


def test_invalid_values_stop_before_training_with_the_allowed_ranges(tmp_path: Path) -> None:
    result = run(tmp_path, "optim.lr_g=-1", "data.batch_size=0", "model.latent_dim=0")
    assert result.returncode == 2
    for message in (
        "optim.lr_g=-1 is invalid: it must be a finite number > 0",
        "data.batch_size=0 is invalid: it must be an integer >= 1",
        "model.latent_dim=0 is invalid: it must be an integer >= 1",
    ):
        assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("outputs/**/checkpoints")) and not list(tmp_path.glob("outputs/**/tensorboard"))


def test_unknown_override_is_refused_by_name(tmp_path: Path) -> None:
    result = run(tmp_path, "model.hiden_dim=256")
    assert result.returncode != 0
    assert "Could not override 'model.hiden_dim'" in result.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_trains_one_epoch_on_a_folder_of_images(tmp_path: Path) -> None:
    write_many_images(tmp_path / "pile", 300)
    args = ("data=folder", f"data.path={tmp_path / 'pile'}", "trainer.max_epochs=1", "trainer.log_every_n_steps=1")
    result = run(tmp_path, *args, *QUIET)
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path / "outputs")
    assert "300 image files, 3.5 MB decoded: cached in memory" in (run_dir / "train.log").read_text()
    assert len(events(run_dir).Scalars("train/d_loss")) > 0


@pytest.mark.slow
@pytest.mark.parametrize("data", ["ring8", "grid25"])
def test_trains_one_epoch_on_a_toy_mixture_and_draws_a_scatter_plot(tmp_path: Path, data: str) -> None:
    result = run(
        tmp_path, f"data={data}", "trainer.max_epochs=1", "trainer.log_every_n_steps=50",
        "callbacks.sample_grid.every_n_steps=500", *QUIET,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run_dir,) = run_dirs(tmp_path / "outputs")
    grids = events(run_dir).Images("samples/fixed_noise")
    assert all((grid.width, grid.height) == (400, 400) for grid in grids)  # 4x4-inch scatter plots, not image grids
    assert [grid.step for grid in grids] == [500, 781]  # one in the 781 steps of 100,000 points' epoch, one at its end


def test_folder_benchmark_prints_throughput_per_worker_count(tmp_path: Path, capsys) -> None:
    write_many_images(tmp_path / "pile", 40, size=16)
    rows = bench_data([str(tmp_path / "pile"), "--image-size", "16", "--workers", "0", "1", "--max-images", "40"])
    assert [(workers, seen) for workers, seen, _ in rows] == [(0, 40), (1, 40)]
    assert all(rate > 0 for _, _, rate in rows)
    assert "decoded images/s" in capsys.readouterr().out
