"""``ganforge-evaluate ckpt=<run dir or checkpoint>``: measure a trained GAN, rebuilt from the run's saved config.

ganforge-evaluate ckpt=outputs/2026-11-24/10-00-00-000000                      # its last.ckpt
ganforge-evaluate ckpt=outputs/2026-11-24/10-00-00-000000 checkpoint=best      # its best generator
ganforge-evaluate ckpt=outputs/.../checkpoints/best.ckpt metrics.num_samples=1000

Results go to <run dir>/evaluations/<checkpoint>-<time>/metrics.json (never over an earlier evaluation) and are
printed as a table. The metrics settings are this command's (conf/metrics/), the model and data the run's.
"""

import json
import logging
import sys
import time
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from ganforge.callbacks.evaluation import random_discriminator
from ganforge.config import validate
from ganforge.errors import ConfigError, GanforgeError
from ganforge.runs import load_datamodule, load_gan, locate, result_dir
from ganforge.train import CONFIG_DIR

log = logging.getLogger(__name__)


def checked_ckpt(cfg: DictConfig, command: str) -> tuple[Path, Path]:
    """(run dir, checkpoint) of ``cfg.ckpt``, or a GanforgeError naming the bad value and the fix."""
    if OmegaConf.is_missing(cfg, "ckpt") or cfg.ckpt in (None, ""):
        raise ConfigError(f"ckpt is required: {command} ckpt=outputs/<date>/<time> (a run directory) or a checkpoint.")
    checkpoint = cfg.get("checkpoint") or "last"
    if not isinstance(checkpoint, str):
        raise ConfigError(f"checkpoint={checkpoint!r} is invalid: it must be last, best or a checkpoint file name.")
    return locate(str(cfg.ckpt), checkpoint)


def check_output_dir(cfg: DictConfig) -> None:
    """Refuse an output_dir that exists before any work is done (nothing is ever written over)."""
    if cfg.get("output_dir") and Path(cfg.output_dir).expanduser().exists():
        raise ConfigError(
            f"output_dir={cfg.output_dir} already exists; nothing was overwritten. Leave output_dir unset (a new "
            "folder inside the run) or name a folder that does not exist yet."
        )


def output_folder(cfg: DictConfig, run_dir: Path, kind: str, checkpoint: Path) -> Path:
    """cfg.output_dir (created now) when set, else a new <run>/<kind>/<checkpoint>-<time>/; made only once the
    results exist, so a failed command leaves nothing behind."""
    if not cfg.get("output_dir"):
        return result_dir(run_dir, kind, checkpoint)
    check_output_dir(cfg)
    path = Path(cfg.output_dir).expanduser()
    try:
        path.mkdir(parents=True)
    except OSError as error:
        raise ConfigError(
            f"output_dir={cfg.output_dir} cannot be created ({error}); choose a folder you can write."
        ) from error
    return path


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Every metric of the checkpoint's sampler (EMA when the run used it), the floor and the linear probe."""
    validate(cfg, one_line=True)  # the metrics settings, by ganforge-train's rules
    run_dir, checkpoint = checked_ckpt(cfg, "ganforge-evaluate")
    check_output_dir(cfg)
    run_cfg, gan = load_gan(run_dir, checkpoint.name)
    evaluation = instantiate(cfg.metrics).prepare(load_datamodule(run_cfg, run_dir))
    if not evaluation.ready:
        return {}
    start = time.perf_counter()
    values = evaluation.measure(gan)
    seconds = time.perf_counter() - start
    values |= evaluation.floor()
    run_config = OmegaConf.to_container(run_cfg, resolve=True)
    baseline = random_discriminator(run_config, gan.discriminator, evaluation.seed + 1)
    values |= evaluation.at_end({"d": gan.discriminator}, {} if baseline is None else {"random_d": baseline})
    report = {
        "checkpoint": str(checkpoint),
        "budget": evaluation.budget,
        "features": evaluation.features_name,
        "evaluator_heldout_accuracy": evaluation.evaluator_accuracy,
        "seconds_per_evaluation": seconds,
        "metrics": values,
        "higher_is_better": {name: up for name, up in evaluation.directions().items() if name in values},
    }
    output = output_folder(cfg, run_dir, "evaluations", checkpoint) / "metrics.json"
    output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(values, f"{checkpoint} ({seconds:.2f} s per evaluation)")
    log.info("written to %s", output)
    return values


def print_table(values: dict[str, float], title: str) -> None:
    table = Table("metric", "value", title=title)
    for name, value in values.items():
        table.add_row(name, f"{value:.4g}")
    Console().print(table)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    try:
        values = evaluate(cfg)
    except GanforgeError as error:
        log.error("%s", error)
        sys.exit(2)
    return values.get(cfg.objective) if cfg.get("objective") else None


if __name__ == "__main__":
    main()
