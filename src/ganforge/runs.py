"""Reopen a finished (or interrupted) run: its saved config and its checkpointed weights, loaded safely."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganforge.build import build_task, data_source
from ganforge.checkpoints import BEST, LAST, CheckpointError, check_compatible, read_checkpoint
from ganforge.errors import DataError
from ganforge.tasks import AdversarialTask

# What a run's config may instantiate when it is reopened: our own classes and torch's, nothing else, so
# an edited or downloaded config cannot name an arbitrary callable (os.system, subprocess.run, ...).
TRUSTED_TARGETS = ("ganforge.", "torch.")
# The parts of a run config that rebuild its task, and its data.
GAN_PARTS = ("module", "model", "loss", "optim", "regularizer", "augment")
DATA_PARTS = ("data",)


def untrusted_targets(node: Any, where: str = "") -> list[str]:
    """``key=_target_`` of every ``_target_`` under ``node`` that is not ganforge's or torch's."""
    found = []
    if isinstance(node, dict):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(TRUSTED_TARGETS):
            found.append(f"{where}._target_={target}".lstrip("."))
        for key, value in node.items():
            found += untrusted_targets(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += untrusted_targets(value, f"{where}[{i}]")
    return found


def run_config(run_dir: Path, checkpoint: dict[str, Any] | None = None) -> DictConfig:
    """The config a run saved in ``<run_dir>/.hydra/config.yaml``, else the copy inside its checkpoint."""
    path = Path(run_dir) / ".hydra" / "config.yaml"
    if path.is_file():
        return upgraded(OmegaConf.load(path))
    if checkpoint is not None and "ganforge_config" in checkpoint:
        return upgraded(OmegaConf.create(checkpoint["ganforge_config"]))
    raise DataError(f"{run_dir} is not a ganforge run directory: {path} is missing.")


def upgraded(cfg: DictConfig) -> DictConfig:
    """A config saved before tasks were modules (no ``module``; the semi-supervised settings under ``ssl``) in
    today's keys, so that earlier runs still reopen."""
    if "module" in cfg:
        return cfg
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)
    ssl = cfg.pop("ssl", None)
    if ssl is None:
        cfg.module = {"_target_": "ganforge.gan.GAN"}
        return cfg
    cfg.module = {"_target_": "ganforge.semisupervised.SemiSupervisedGAN", "generator": ssl.generator,
                  "unsupervised_weight": ssl.unsupervised_weight, "supervised_weight": ssl.supervised_weight,
                  "entropy_weight": ssl.get("entropy_weight", 0.0), "classifier_ema": ssl.classifier_ema}  # fmt: skip
    cfg.data.labeled = {"per_class": ssl.labels_per_class, "draw": ssl.draw, "batch_size": ssl.labeled_batch_size,
                        "validation_size": ssl.get("validation_size")}  # fmt: skip
    return cfg


def locate(ckpt: str | Path, checkpoint: str = "last") -> tuple[Path, Path]:
    """(run dir, checkpoint file) for ``ckpt``: a run dir (its ``checkpoint``: last, best, or a file name in its
    checkpoints/) or a checkpoint inside one; both checked to exist, so a bad ``ckpt`` is one message naming it and
    the fix."""
    path = Path(ckpt).expanduser()
    example = "e.g. ckpt=outputs/<date>/<time> or ckpt=outputs/<date>/<time>/checkpoints/best.ckpt"
    if path.is_dir():
        if not (path / "checkpoints" / LAST).is_file():
            raise DataError(
                f"ckpt={ckpt} is not a ganforge run directory: it has no checkpoints/{LAST}; give a run directory "
                f"that ganforge-train wrote, or a checkpoint file in one ({example})."
            )
        name = {"last": LAST, "best": BEST}.get(checkpoint, checkpoint)
        if not (path / "checkpoints" / name).is_file():
            have = ", ".join(sorted(p.name for p in (path / "checkpoints").glob("*.ckpt")))
            raise DataError(
                f"checkpoint={checkpoint}: {path / 'checkpoints'} has no {name} (it has: {have}); give "
                "checkpoint=last, checkpoint=best (a run with evaluation keeps one) or one of those file names."
            )
        return path, path / "checkpoints" / name
    if path.parent.name != "checkpoints" or not path.parent.is_dir():
        reason = "does not exist" if not path.exists() else "is neither a run directory nor a checkpoint in one"
        raise DataError(f"ckpt={ckpt} {reason}; give a run directory or a checkpoint in one ({example}).")
    if not path.is_file():
        have = sorted(p.name for p in path.parent.glob("*.ckpt")) or ["no checkpoints"]
        raise DataError(
            f"ckpt={ckpt} does not exist; {path.parent} has: {', '.join(have)}. Give one of those (or the run "
            "directory, for its last.ckpt)."
        )
    return path.parent.parent, path


def result_dir(run_dir: Path, kind: str, checkpoint: Path) -> Path:
    """A new folder ``<run_dir>/<kind>/<checkpoint>-<time>``, created now; never an existing one (an earlier
    result is never written over)."""
    import datetime

    parent = Path(run_dir) / kind
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    for attempt in range(100):
        path = parent / (f"{checkpoint.stem}-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise DataError(f"could not create a new folder under {parent}; remove old results there.")


def check_trusted(cfg: DictConfig, parts: tuple[str, ...], run_dir: Path) -> None:
    """Refuse a run config whose ``parts`` name code other than ganforge's and torch's."""
    # resolved in place: their interpolations point elsewhere in the run config (e.g. ${seed})
    resolved = {part: OmegaConf.to_container(cfg[part], resolve=True) for part in parts if part in cfg}
    untrusted = untrusted_targets(resolved)
    if untrusted:
        raise CheckpointError(
            f"{run_dir}'s config names code outside ganforge and torch ({', '.join(untrusted)}); refusing to "
            "instantiate it. Check where this run came from."
        )


def load_datamodule(cfg: DictConfig, run_dir: Path) -> Any:
    """The run's data source, rebuilt from its config (after the same allow-list check as the task)."""
    check_trusted(cfg, DATA_PARTS, run_dir)
    return data_source(cfg)


def load_gan(run_dir: Path, checkpoint: str | Path = LAST) -> tuple[DictConfig, AdversarialTask]:
    """The run's task (its GAN) with the weights of ``checkpoints/<checkpoint>`` (or a checkpoint path), in eval mode.

    The checkpoint is read with ``weights_only=True`` (tensors and plain containers only, never code), and
    the config may only instantiate ganforge's and torch's own classes.
    """
    path = Path(run_dir) / "checkpoints" / checkpoint
    state = read_checkpoint(path, key="ckpt")
    cfg = run_config(run_dir, state)
    check_trusted(cfg, GAN_PARTS, run_dir)
    gan = build_task(cfg, load_datamodule(cfg, run_dir))  # the datamodule gives the sample shape; no data is read
    check_compatible(state, gan, path)
    gan.load_state_dict(state["state_dict"])
    gan.on_load_checkpoint(state)
    return cfg, gan.eval()


def latest_run(log_dir: str | Path = "outputs") -> Path:
    """The most recently started run under ``log_dir`` (the one whose checkpoints changed last)."""
    candidates = [path.parent.parent for path in Path(log_dir).glob("**/checkpoints/last.ckpt")]
    if not candidates:
        raise DataError(f"no run with a checkpoint under {log_dir}; train one first (make train).")
    return max(candidates, key=lambda run: (run / "checkpoints" / LAST).stat().st_mtime)


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar the run logged to TensorBoard: tag -> [(step, value), ...] in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(Path(run_dir) / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's ``metrics.json`` (written when training ends with evaluation on)."""
    import json

    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise DataError(f"{path} does not exist: the run has not finished, or ran with callbacks.evaluation=null.")
    return json.loads(path.read_text())
