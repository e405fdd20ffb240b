"""ganforge-bench runs end to end on a tiny setting (speed itself is never asserted: machines are noisy)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganforge.lab.bench import flops_per_image, matmul_gflops, steps_for
from tests.conftest import FAST_EVAL, compose_config

BENCH = str(Path(sys.executable).parent / "ganforge-bench")


@pytest.mark.slow
def test_bench_command_prints_and_writes_the_paired_comparison(tmp_path: Path) -> None:
    result = subprocess.run(
        [BENCH, "bench.pairs=2", "bench.warmup_steps=1", "bench.seconds_per_run=0.05", "bench.batch_sizes=[16,32]",
         "data.num_samples=512", "callbacks.progress_bar=null"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ours/reference" in result.stdout and "GEMM limit" in result.stdout
    (report,) = tmp_path.glob("outputs/bench/*/*/bench.json")
    results = json.loads(report.read_text())["results"]
    assert [r["batch_size"] for r in results] == [16, 32]
    for r in results:
        assert len(r["ours"]) == len(r["reference"]) == len(r["ratios"]) == 2
        assert all(value > 0 for value in r["ours"] + r["reference"])
        assert r["ratios"][0] == pytest.approx(r["ours"][0] / r["reference"][0])


def test_flops_per_image_counts_the_reference_step(tmp_path: Path) -> None:
    import torch

    cfg = compose_config(tmp_path, "data=synthetic")
    data = torch.zeros(8, 1, 28, 28)
    # reference MLP: G 100-128-128-784, D 784-128-128-1; a step runs G once, D three times (real, fake, fake
    # for G), backward of D twice and of G once (2 FLOPs per multiply-add, backward twice the forward)
    g_macs = 100 * 128 + 128 * 128 + 128 * 784
    d_macs = 784 * 128 + 128 * 128 + 128 * 1
    forward = 2 * (g_macs + 3 * d_macs)
    # backward = 2x forward, except the input gradient of a first layer whose input needs none: D's on the
    # D step's real and detached fake inputs, G's on z
    skipped = 2 * (2 * 784 * 128 + 100 * 128)
    from hydra.utils import instantiate

    assert flops_per_image(cfg, instantiate(cfg.data), data, 8) == pytest.approx(3 * forward - skipped, rel=0.01)


def test_matmul_rate_is_positive_and_steps_are_sized_from_it() -> None:
    assert matmul_gflops(size=64, repeats=2) > 0
    assert steps_for(2.0, images_per_second=6400, batch_size=128) == 100
    assert steps_for(2.0, images_per_second=10, batch_size=128) == 3


FAULTS_PER_STEP = """
import resource, torch
from ganforge.networks import MLPDiscriminator, MLPGenerator
from ganforge.perf import reuse_freed_memory
applied = reuse_freed_memory()
torch.set_num_threads(1)
generator, discriminator = MLPGenerator((1, 28, 28)), MLPDiscriminator((1, 28, 28))
def step():  # the activations and gradients of one reference MLP step at batch 1024
    discriminator(generator(torch.randn(1024, 100))).mean().backward()
for _ in range(10):  # warm-up: the heap grows to its working size
    step()
windows = []  # faults per step in windows of 5 steps
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        step()
    windows.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
print(applied, min(windows), sum(windows) / len(windows))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_freed_activation_memory_is_reused_without_page_faults() -> None:
    """A training step's large activations come back without fresh page faults once reuse_freed_memory ran;
    with the default allocator (GANFORGE_MALLOC_TUNING=0) each step faults hundreds of pages in again."""

    def faults(tuning: str) -> tuple[str, float, float]:
        env = {**os.environ, "GANFORGE_MALLOC_TUNING": tuning}
        out = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        applied, quietest, mean = out.stdout.split()
        return applied, float(quietest), float(mean)

    tuned, default = faults("1"), faults("0")
    print(f"page faults per step (quietest, mean of 6 windows): {tuned[1:]} tuned, {default[1:]} default")
    assert tuned[0] == "True" and default[0] == "False"
    # Tuned: steady state without faults (a window may still see the heap grow once). Default: every step faults.
    assert tuned[1] < 5 and default[2] > 200


def test_whole_run_timing_separates_start_up_from_the_per_step_cost() -> None:
    from ganforge.lab.bench_run import Timing

    timing = Timing(seconds=[5.0 + 100 * 0.004, 5.0 + 500 * 0.004], steps=[100, 500])
    assert timing.per_step == pytest.approx(0.004) and timing.startup == pytest.approx(5.0)


def test_the_hand_written_loop_does_the_same_periodic_work(tmp_path: Path) -> None:
    from ganforge.lab.bench_loop import train

    steps = train(epochs=1, batch_size=128, checkpoint_every=5, grid_every=4, out=tmp_path)
    assert steps == 1617 // 128
    assert {p.name for p in tmp_path.iterdir()} == {"last.pt", "grid.png", "samples.png"}
    import torch

    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == steps


@pytest.mark.slow
def test_the_whole_run_mode_of_ganforge_bench_times_all_three_and_writes_a_report(tmp_path: Path) -> None:
    command = str(Path(sys.executable).parent / "ganforge-bench")
    result = subprocess.run(
        [command, "run", "--pairs", "1", "--epochs", "1", "3", "--output", str(tmp_path / "run.json"),
         "callbacks.progress_bar=null", *FAST_EVAL, "metrics.probe_labels=[1]", f"paths.cache_dir={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for text in ("ganforge-train", "ganforge-train + evaluation", "hand-written loop", "start-up", "evaluation adds"):
        assert text in result.stdout
    (record,) = json.loads((tmp_path / "run.json").read_text())
    assert record["ganforge-train"][0]["steps"] == record["hand-written loop"][0]["steps"] == [12, 36]
    assert len(record["ratios"]) == 1 and math.isfinite(record["ratios"][0])  # 12 vs 36 steps: too short to time
    (share,) = record["evaluation_shares"]
    assert 0 < share < 1
