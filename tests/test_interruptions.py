"""Runs in a subprocess are stopped by SIGTERM and killed by SIGKILL at random steps, then resumed."""

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganforge.train import CONFIG_DIR
from tests.conftest import FAST_EVAL

TRAIN = str(Path(sys.executable).parent / "ganforge-train")
STEPS_PER_EPOCH = 1617 // 16  # digits' training split at batch 16
EPOCHS = 6


def launch(run_dir: Path, *extra: str) -> subprocess.Popen:
    """ganforge-train in the background; its output goes to <tmp>/output.log."""
    args = [
        TRAIN, f"hydra.run.dir={run_dir}", "data.batch_size=16", f"trainer.max_epochs={EPOCHS}",
        "callbacks.progress_bar=null", "callbacks.model_summary=null", "callbacks.sample_grid.every_n_steps=303",
        f"callbacks.last_checkpoint.every_n_steps={STEPS_PER_EPOCH}",
        "+callbacks.progress._target_=tests.faults.ProgressFile",
        f"+callbacks.progress.path={run_dir.parent / 'progress'}",
        *FAST_EVAL,
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(CONFIG_DIR.parent)}  # OMP_NUM_THREADS=1 from tests/conftest.py
    with open(run_dir.parent / "output.log", "w") as log:
        return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen, run_dir: Path) -> str:
    process.wait(timeout=300)
    return (run_dir.parent / "output.log").read_text()


def progress(run_dir: Path) -> int:
    try:
        return int((run_dir.parent / "progress").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_for_step(process: subprocess.Popen, run_dir: Path, step: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while progress(run_dir) < step:
        assert process.poll() is None, (run_dir.parent / "output.log").read_text()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    return progress(run_dir)


def saved_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]


@pytest.mark.slow
def test_sigkill_at_random_steps_loses_at_most_one_checkpoint_interval(tmp_path: Path) -> None:
    run_dir, rng = tmp_path / "run", random.Random(0)
    total = 2 * STEPS_PER_EPOCH * EPOCHS  # optimizer steps
    for attempt in range(3):
        process = launch(run_dir, *(["ckpt_path=last"] if attempt else []))
        start = saved_step(run_dir) if attempt else 0
        target = start + rng.randint(2 * STEPS_PER_EPOCH + 1, 3 * STEPS_PER_EPOCH * 2)
        reached = wait_for_step(process, run_dir, min(target, total - 2 * STEPS_PER_EPOCH))  # kill before the end
        process.send_signal(signal.SIGKILL)
        process.wait()
        kept = saved_step(run_dir)  # the checkpoint loads: the kill never tore it
        assert reached - kept <= 2 * STEPS_PER_EPOCH, f"lost {reached - kept} steps, more than one epoch"
    process = launch(run_dir, "ckpt_path=last")
    output = finish(process, run_dir)
    assert process.returncode == 0, output
    assert saved_step(run_dir) == total


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = launch(run_dir)
    # mid-epoch in the second epoch (progress counts optimizer steps, two per batch): past the first epoch's checkpoint
    signalled_at = wait_for_step(process, run_dir, 2 * (STEPS_PER_EPOCH + 20))
    process.send_signal(signal.SIGTERM)
    output = finish(process, run_dir)
    assert process.returncode == 128 + signal.SIGTERM, output
    assert "Stopped by SIGTERM at training step" in output and "ckpt_path=last" in output
    assert "Traceback" not in output
    # saved where it stopped (the batch in which the signal landed; how many batches ran between reading the
    # progress file and the signal depends on scheduling, so the check reads the step the run reports), mid-epoch
    stopped = re.search(r"Stopped by SIGTERM at training step (\d+)", output)
    assert stopped is not None, output
    assert saved_step(run_dir) == 2 * int(stopped.group(1))  # two optimizer steps per training step
    assert signalled_at <= saved_step(run_dir) < 2 * 2 * STEPS_PER_EPOCH  # after the signal, within the second epoch
    resumed = launch(run_dir, "ckpt_path=last", "trainer.max_epochs=2")
    output = finish(resumed, run_dir)
    assert resumed.returncode == 0, output
    assert saved_step(run_dir) == 2 * STEPS_PER_EPOCH * 2
