"""Checkpoints: written atomically, read safely, checked against the model before any work starts."""

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ganforge.errors import GanforgeError

LAST = "last.ckpt"
BEST = "best.ckpt"  # the training state when the monitored metric was best (callbacks.evaluation)


class CheckpointError(GanforgeError, ValueError):
    """A checkpoint is missing, damaged, untrusted or belongs to another model."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the target's own folder, fsyncs it, then renames it over
    the target: a kill at any moment leaves either the old or the new checkpoint, never a torn one.

    Lightning's default goes through fsspec, whose local "transaction" writes the temporary file to the system
    temp dir and then moves it; across filesystems (a local /tmp, a network outputs/) that move is a copy,
    which a kill can interrupt half way.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any | None = None
    ) -> None:
        atomic_save(checkpoint, Path(path))


def atomic_save(obj: Any, target: Path) -> None:
    """``torch.save`` to a temporary file beside ``target``, fsync, then rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes 0600; keep the usual permissions
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# The first bytes of what torch.save writes: a zip archive (since torch 1.6, what Lightning writes), or, before that,
# a pickled magic number (protocol 2). A file starting otherwise is no checkpoint at all (an image, a text file).
ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0]


def _hint(key: str) -> str:
    if key == "ckpt_path":
        return "give the path of a .ckpt file (e.g. outputs/<date>/<time>/checkpoints/last.ckpt), or ckpt_path=last"
    return f"give a run directory or a checkpoint in one (e.g. {key}=outputs/<date>/<time>)"


def _not_a_torch_file(path: Path) -> str | None:
    """Why ``path`` cannot be a file torch.save wrote (its first bytes, or a zip archive without torch's data.pkl);
    None when it may be one. Truncated archives are left to torch.load, which reports them as damaged."""
    with path.open("rb") as file:
        head = file.read(len(LEGACY_MAGIC))
    if not head or head.startswith(LEGACY_MAGIC):  # an empty file: torch.load calls it damaged
        return None
    if not head.startswith(ZIP_MAGIC):
        return "it is not a file torch.save wrote"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return None
    if not any(name.endswith("/data.pkl") for name in names):
        return "it is a zip archive, but not one torch.save wrote"
    return None


def read_checkpoint(path: Path, key: str = "ckpt_path") -> dict[str, Any]:
    """Load a checkpoint as data only (``weights_only=True``): tensors and plain containers, never code.

    ``key``: the setting that named the file (ckpt_path for ganforge-train, ckpt for evaluate and sample), named
    in the messages. A file that is no checkpoint at all (an image, a text file, another archive), one that is
    damaged, and one that carries code are three different messages."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{key}={path} is a folder, not a checkpoint file; {_hint(key)}.")
    if not path.is_file():
        hint = " (or ckpt_path=last)" if key == "ckpt_path" else ""
        raise CheckpointError(f"{key}={path} does not exist; give the path of a .ckpt file{hint}.")
    if (reason := _not_a_torch_file(path)) is not None:
        raise CheckpointError(
            f"{key}={path} is not a ganforge checkpoint (a .ckpt written by ganforge-train): {reason}; {_hint(key)}."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{key}={path} holds Python objects other than tensors and plain data, which could run code when "
            f"loaded; refusing to load it. ({_first_line(error)}) Only resume from checkpoints you made "
            "or trust, and never load them with weights_only=False."
        ) from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(
            f"{key}={path} is truncated or damaged ({type(error).__name__}: {_first_line(error) or 'it ends early'}); "
            "use another checkpoint of the run (checkpoints/stepNNNNNNN.ckpt, or best.ckpt)."
        ) from error
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointError(
            f"{key}={path} is not a ganforge checkpoint (a .ckpt written by ganforge-train): it is a PyTorch file "
            f"without a model's state_dict; {_hint(key)}."
        )
    return checkpoint


def check_compatible(checkpoint: dict[str, Any], model: torch.nn.Module, path: Path) -> None:
    """Fail before training if the checkpoint's weights do not fit ``model`` (another architecture or size)."""
    saved = checkpoint["state_dict"]  # read_checkpoint made sure there is one
    expected = model.state_dict()
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    mismatched = [k for k in expected if k in saved and tuple(saved[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        saved_model = checkpoint.get("ganforge_config", {}).get("model", {}).get("name", "an unknown model")
        details = []
        if mismatched:
            k = mismatched[0]
            details.append(f"{k} is {tuple(saved[k].shape)} there but {tuple(expected[k].shape)} here")
        if missing:
            details.append(f"{len(missing)} weights missing (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected weights (e.g. {unexpected[0]})")
        raise CheckpointError(
            f"ckpt_path={path} was saved from {saved_model} with other shapes: {'; '.join(details)}. Resume with "
            "the run's own settings (its .hydra/config.yaml), or start a new run without ckpt_path."
        )
