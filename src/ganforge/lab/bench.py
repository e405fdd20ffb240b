"""``ganforge-bench``: ganforge's training loop against a plain PyTorch loop of the same networks, side by side.

    ganforge-bench                                         # reference MLP, batch 128, 1 thread
    ganforge-bench bench.batch_sizes=[128,1024]
    ganforge-bench model=dcgan data.image_size=32 bench.batch_sizes=[64]
    ganforge-bench run --pairs 5                           # whole runs as a user starts them (bench_run.py)

Each pair runs ours, then the reference (A B A B ...), each from fresh networks and optimizers; the first
``bench.warmup_steps`` steps of every run are not timed. *Ours* is the real GAN LightningModule and Trainer as
``ganforge-train`` builds them, with the default logger and logging interval and the per-step callbacks; the
epoch-level artefacts (checkpoints, sample grids, evaluation) are left out, because their cost is per epoch, not
per step (their cost per epoch is printed separately). *Reference* is a loop written the way most people write it:
randperm slicing of the in-memory training tensor, ``torch.optim.Adam`` with its default implementation, one G
forward whose output is detached for the D step and reused for the G step, D step then G step.

The GEMM limit is this machine's measured matmul rate (a large square float32 matmul) divided by the FLOPs of one
training step per image (counted by torch's FlopCounterMode on a reference step): the speed of a loop that did
nothing but its matrix multiplies at full speed.
"""

import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.table import Table
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from ganforge.build import build_task
from ganforge.config import rules_for, validate
from ganforge.data import GANDataModule
from ganforge.errors import GanforgeError
from ganforge.perf import reuse_freed_memory, skip_nvml_probe_without_gpu
from ganforge.rules import Rule, at_least, integer, list_of, positive
from ganforge.train import CONFIG_DIR, build

log = logging.getLogger(__name__)

# Left out of "ours": their cost is per epoch (and shown separately), not per training step.
EPOCH_LEVEL_CALLBACKS = ("last_checkpoint", "periodic_checkpoint", "sample_grid", "evaluation")


class StepTimer(L.Callback):
    """Wall time from the start of training step ``warmup`` to the end of training."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.end: float | None = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Tensor, i: int) -> None:
        if self.start is None and pl_module.step == self.warmup:
            self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.end = time.perf_counter()


def loop_config(cfg: DictConfig, batch_size: int, steps: int, output_dir: Path) -> DictConfig:
    """The training config for one timed run of ours: ``steps`` training steps at ``batch_size``."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.data.batch_size = batch_size
        cfg.steps = steps
        cfg.trainer.max_epochs = -1
        cfg.trainer.enable_model_summary = False
        cfg.trainer.enable_checkpointing = False  # else Lightning adds its own per-epoch checkpoint
        cfg.paths.output_dir = str(output_dir)
        for name in EPOCH_LEVEL_CALLBACKS:
            cfg.callbacks[name] = None
        cfg.callbacks.model_summary = None
    return cfg


def time_ours(cfg: DictConfig, batch_size: int, warmup: int, steps: int) -> float:
    """Images per second of ganforge's loop (seconds measured after ``warmup`` steps)."""
    with tempfile.TemporaryDirectory(prefix="ganforge-bench-") as tmp:
        run_cfg = loop_config(cfg, batch_size, warmup + steps, Path(tmp))
        L.seed_everything(cfg.seed, verbose=False)
        timer = StepTimer(warmup)
        gan, datamodule, trainer = build(run_cfg, extra_callbacks=[timer])
        trainer.fit(gan, datamodule=datamodule)
    return steps * gan.batches_per_step * batch_size / (timer.end - timer.start)  # real images D saw


def reference_step(generator, discriminator, loss, opt_g, opt_d, real: Tensor, latent_dim: int) -> None:
    """One D step then one G step, the usual way: one G forward, detached for D, reused for G."""
    fake = generator(torch.randn(len(real), latent_dim))
    d_loss = loss.discriminator(discriminator(real), discriminator(fake.detach()))
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = loss.generator(discriminator(fake))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()


def reference_parts(cfg: DictConfig, datamodule: GANDataModule) -> tuple:
    gan = build_task(cfg, datamodule)
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=cfg.optim.lr_g, betas=tuple(cfg.optim.betas))
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=cfg.optim.lr_d, betas=tuple(cfg.optim.betas))
    return gan.generator, gan.discriminator, gan.loss, opt_g, opt_d


def time_reference(
    cfg: DictConfig, datamodule: GANDataModule, data: Tensor, batch_size: int, warmup: int, steps: int
) -> float:
    """Images per second of the plain loop over the same in-memory training tensor."""
    torch.manual_seed(cfg.seed)
    parts = reference_parts(cfg, datamodule)
    latent_dim = parts[0].latent_dim
    done, start = 0, None
    while done < warmup + steps:
        order = torch.randperm(len(data))
        for i in range(0, len(data) - batch_size + 1, batch_size):
            if done == warmup:
                start = time.perf_counter()
            if done == warmup + steps:
                break
            reference_step(*parts, data[order[i : i + batch_size]], latent_dim)
            done += 1
    return steps * batch_size / (time.perf_counter() - start)


def flops_per_image(cfg: DictConfig, datamodule: GANDataModule, data: Tensor, batch_size: int) -> float:
    """FLOPs of one reference training step (D step + G step), per image, counted by torch."""
    parts = reference_parts(cfg, datamodule)
    counter = FlopCounterMode(display=False)
    with counter:
        reference_step(*parts, data[:batch_size], parts[0].latent_dim)
    return counter.get_total_flops() / batch_size


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """This machine's float32 matmul rate in GFLOP/s (best of ``repeats`` square ``size`` matmuls)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


@dataclass
class Result:
    model: str
    shape: tuple[int, ...]
    batch_size: int
    threads: int
    pairs: int
    steps: int
    ours: list[float]
    reference: list[float]
    ratios: list[float]
    gflops: float
    flops_per_image: float

    @property
    def limit(self) -> float:
        return self.gflops * 1e9 / self.flops_per_image

    def row(self) -> dict[str, str]:
        def spread(values: list[float]) -> str:
            return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"

        ours = statistics.median(self.ours)
        return {
            "model": f"{self.model} {'x'.join(map(str, self.shape))}",
            "batch": str(self.batch_size),
            "ours img/s median (min-max)": spread(self.ours),
            "reference img/s": spread(self.reference),
            "ours/reference (median of pairs)": f"{statistics.median(self.ratios):.3f}",
            "us per image (ours)": f"{1e6 / ours:.1f}",
            "GEMM limit img/s": f"{self.limit:,.0f}",
            "ours / limit": f"{ours / self.limit:.1%}",
        }


def steps_for(seconds: float, images_per_second: float, batch_size: int, minimum: int = 3) -> int:
    return max(minimum, round(seconds * images_per_second / batch_size))


def bench_one(cfg: DictConfig, batch_size: int) -> Result:
    settings = cfg.bench
    probe_cfg = loop_config(cfg, batch_size, 1, Path(tempfile.gettempdir()))
    datamodule = build(probe_cfg)[1]
    datamodule.setup("fit")
    data = datamodule.train_set[list(range(len(datamodule.train_set)))]
    # Size every run from a short measurement, so each lasts about bench.seconds_per_run.
    rate = time_reference(cfg, datamodule, data, batch_size, warmup=1, steps=2)
    steps = steps_for(settings.seconds_per_run, rate, batch_size)
    ours, reference = [], []
    for _ in range(settings.pairs):
        ours.append(time_ours(cfg, batch_size, settings.warmup_steps, steps))
        reference.append(time_reference(cfg, datamodule, data, batch_size, settings.warmup_steps, steps))
    return Result(
        model=cfg.model.name, shape=tuple(data.shape[1:]), batch_size=batch_size, threads=torch.get_num_threads(),
        pairs=settings.pairs, steps=steps, ours=ours, reference=reference,
        ratios=[a / b for a, b in zip(ours, reference, strict=True)],
        gflops=matmul_gflops(), flops_per_image=flops_per_image(cfg, datamodule, data, batch_size),
    )  # fmt: skip


def print_results(results: list[Result]) -> None:
    rows = [result.row() for result in results]
    table = Table(*rows[0], title=f"ganforge-bench ({results[0].threads} thread(s), {results[0].pairs} pairs)")
    for row in rows:
        table.add_row(*row.values())
    Console(width=200).print(table)
    for result in results:
        print(
            f"{result.model} batch {result.batch_size}: paired ratios "
            + " ".join(f"{r:.3f}" for r in result.ratios)
            + f"; matmul {result.gflops:.1f} GFLOP/s, {result.flops_per_image / 1e6:.3f} MFLOP per image per step"
        )


# conf/bench.yaml's own keys; the rest of its config is ganforge-train's, checked by train's rules.
RULES = (
    Rule("bench.batch_sizes", "a list of integers >= 1", "[128]", list_of(at_least(1)), ("abc", "[0]")),
    integer("bench.pairs", 1, "5"), integer("bench.warmup_steps", 0, "10"), positive("bench.seconds_per_run", "2.0"),
    integer("bench.threads", 1, "1"),
)  # fmt: skip


def bench(cfg: DictConfig) -> list[dict]:
    """Every batch size of ``cfg.bench``, printed as a table and written to bench.json; returns the records."""
    torch.set_num_threads(cfg.bench.threads)
    # As ganforge-train does; both are process-wide, so the reference loop gains the same.
    skip_nvml_probe_without_gpu()
    reuse_freed_memory()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    results = [bench_one(cfg, batch_size) for batch_size in cfg.bench.batch_sizes]
    print_results(results)
    output = Path(cfg.paths.output_dir) / "bench.json"
    records = [asdict(r) | {"limit": r.limit} for r in results]
    output.write_text(json.dumps({"config": OmegaConf.to_container(cfg.bench), "results": records}, indent=2))
    log.info("written to %s", output)
    return records


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="bench")
def main(cfg: DictConfig) -> list[dict]:
    try:
        validate(cfg, [*rules_for(cfg), *RULES], one_line=True)
        return bench(cfg)
    except GanforgeError as error:
        log.error("%s", error)
        sys.exit(2)


def cli() -> None:
    """``ganforge-bench run ...``: whole runs (``bench_run``); anything else: the step benchmark (Hydra)."""
    if sys.argv[1:2] == ["run"]:
        from ganforge.lab import bench_run

        bench_run.main(sys.argv[2:])
    else:
        main()


if __name__ == "__main__":
    cli()
