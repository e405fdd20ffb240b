"""Reopen a finished (or interrupted) run: its saved config and its checkpointed weights, loaded safely."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganforge.checkpoints import LAST, CheckpointError, check_compatible, read_checkpoint
from ganforge.errors import DataError
from ganforge.gan import GAN

# What a run's config may instantiate when it is reopened: our own classes and torch's, nothing else, so
# an edited or downloaded config cannot name an arbitrary callable (os.system, subprocess.run, ...).
TRUSTED_TARGETS = ("ganforge.", "torch.")
# The parts of a run config that rebuild its GAN.
GAN_PARTS = ("model", "loss", "optim", "regularizer", "augment")


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
        return OmegaConf.load(path)
    if checkpoint is not None and "ganforge_config" in checkpoint:
        return OmegaConf.create(checkpoint["ganforge_config"])
    raise DataError(f"{run_dir} is not a ganforge run directory: {path} is missing.")


def load_gan(run_dir: Path, checkpoint: str = LAST) -> tuple[DictConfig, GAN]:
    """The run's GAN with the weights of ``checkpoints/<checkpoint>``, in eval mode.

    The checkpoint is read with ``weights_only=True`` (tensors and plain containers only, never code), and
    the config may only instantiate ganforge's and torch's own classes.
    """
    from ganforge.train import build_gan  # train imports this package's modules; avoid an import cycle

    path = Path(run_dir) / "checkpoints" / checkpoint
    state = read_checkpoint(path)
    cfg = run_config(run_dir, state)
    # resolved in place: their interpolations point elsewhere in the run config (e.g. ${data.shape})
    parts = {part: OmegaConf.to_container(cfg[part], resolve=True) for part in GAN_PARTS if part in cfg}
    untrusted = untrusted_targets(parts)
    if untrusted:
        raise CheckpointError(
            f"{run_dir}'s config names code outside ganforge and torch ({', '.join(untrusted)}); refusing to "
            "instantiate it. Check where this run came from."
        )
    gan = build_gan(cfg)
    check_compatible(state, gan, path)
    gan.load_state_dict(state["state_dict"])
    return cfg, gan.eval()
