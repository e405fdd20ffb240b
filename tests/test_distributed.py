"""trainer=ddp with 2 CPU processes (gloo), started as a subprocess: never in-process DDP inside pytest."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganforge.train import CONFIG_DIR
from tests.conftest import FAST_EVAL

TRAIN = str(Path(sys.executable).parent / "ganforge-train")


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = [
        TRAIN, f"hydra.run.dir={run_dir}", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
        "data.batch_size=16", "trainer.max_epochs=2", "trainer.limit_train_batches=3", "trainer.log_every_n_steps=1",
        "callbacks.progress_bar=null", "callbacks.model_summary=null", "callbacks.evaluation.every_n_steps=3",
        *FAST_EVAL,
        "+callbacks.noise_probe._target_=tests.faults.NoiseProbe", f"+callbacks.noise_probe.path={tmp_path / 'noise'}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(CONFIG_DIR.parent), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # two processes, each drawing its own noise
    noise = [(tmp_path / f"noise.rank{rank}").read_text() for rank in (0, 1)]
    assert noise[0] != noise[1]
    # gradients averaged over the ranks before every step: the ranks' weights stay identical
    weights = [(tmp_path / f"noise.weights.rank{rank}").read_text() for rank in (0, 1)]
    assert weights[0] == weights[1]
    assert "effective batch 16 x 2 = 32" in result.stdout + result.stderr
    # one set of logs: one event file, one metrics.json, one samples.png, one checkpoint dir
    assert len(list((run_dir / "tensorboard").glob("events.*"))) == 1
    assert (run_dir / "metrics.json").is_file() and (run_dir / "samples.png").is_file()
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2 * 3 * 2  # per process: 3 batches x 2 epochs x 2 optimizer steps
    assert not list(run_dir.glob("**/.hydra/*rank*")) and len(list(run_dir.glob("**/.hydra"))) == 1
