"""Drives every row of docs/bad-inputs.md: reproduces the bad input and checks the documented message."""

import hashlib
import importlib
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.runs import load_gan
from ganforge.train import CONFIG_DIR, train
from tests.conftest import TINY, compose_config
from tests.datafiles import write_cifar10, write_image_folder, write_many_images, write_mnist
from tests.faults import SideEffect

CATALOGUE = CONFIG_DIR.parent / "docs" / "bad-inputs.md"


def catalogue_rows() -> dict[str, str]:
    """id -> message excerpt, from the markdown table."""
    rows = {}
    for line in CATALOGUE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("id", "---"):
            rows[cells[0]] = cells[3]
    return rows


def finished_run(root: Path, *overrides: str) -> Path:
    """A real run (1 epoch of the tiny setting); returns its last.ckpt."""
    cfg = compose_config(root, *TINY, "trainer.max_epochs=1", *overrides)
    train(cfg)
    return root / "checkpoints" / "last.ckpt"


def cut(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def folder_with(tmp: Path, *, corrupt_only: bool = False) -> Path:
    folder = tmp / "images"
    if corrupt_only:
        folder.mkdir()
        (folder / "broken.png").write_bytes(b"not a png")
    else:
        write_image_folder(folder)
    return folder


def tampered_cifar(tmp: Path) -> Path:
    write_cifar10(tmp / "datasets")
    evil = {"data": np.zeros((6, 3072), dtype=np.uint8), "labels": [0] * 6, "x": SideEffect(tmp / "pwned")}
    (tmp / "datasets" / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(evil, protocol=2))
    return tmp / "datasets"


def checkpoint_with_code(tmp: Path) -> Path:
    checkpoint = torch.load(finished_run(tmp / "source"), weights_only=True)
    checkpoint["note"] = SideEffect(tmp / "pwned")
    torch.save(checkpoint, tmp / "downloaded.ckpt")
    return tmp / "downloaded.ckpt"


def truncated_idx(tmp: Path) -> Path:
    write_mnist(tmp / "datasets", gz=False)
    cut(tmp / "datasets" / "MNIST" / "raw" / "train-images-idx3-ubyte", keep=0.9)
    return tmp / "datasets"


def taken_run_dir(tmp: Path) -> list[str]:
    (tmp / "run" / "checkpoints").mkdir(parents=True)
    (tmp / "run" / "checkpoints" / "last.ckpt").write_bytes(b"an earlier run's checkpoint")
    return []


def a_file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("not a folder")
    return tmp / "a-file"


def a_png(tmp: Path) -> Path:
    Image.new("L", (8, 8)).save(tmp / "photo.png")
    return tmp / "photo.png"


def a_tensor_file(tmp: Path) -> Path:
    torch.save(torch.zeros(3), tmp / "tensor.pt")
    return tmp / "tensor.pt"


# id -> (overrides, given tmp_path; may create files)
DRIVERS: dict[str, Callable[[Path], list[str]]] = {
    "unknown-key": lambda t: ["model.hiden_dim=256"],
    "negative-lr": lambda t: ["optim.lr_g=-1"],
    "zero-batch": lambda t: ["data.batch_size=0"],
    "text-for-number": lambda t: ["data.batch_size=abc"],
    "zero-latent": lambda t: ["model.latent_dim=0"],
    "bad-betas": lambda t: ["optim.betas=[0.5,1.0]"],
    "bad-channels": lambda t: ["data=mnist", "data.channels=2"],
    "bad-ema": lambda t: ["ema.decay=1.5"],
    "zero-epochs": lambda t: ["trainer.max_epochs=0"],
    "no-gpu": lambda t: ["trainer=gpu"],
    "model-vs-shape": lambda t: ["model=resnet"],
    "dcgan-size": lambda t: ["model=dcgan", "data.image_size=30"],
    "pack-vs-batch": lambda t: ["data.batch_size=6", "model.discriminator.pack=4"],
    "wgan-unconstrained": lambda t: ["loss=wasserstein"],
    "augment-vs-data": lambda t: ["data=ring8", "augment=diffaugment"],
    "folder-no-path": lambda t: ["data=folder"],
    "folder-missing": lambda t: ["data=folder", f"data.path={t / 'no' / 'such' / 'dir'}"],
    "folder-empty": lambda t: ["data=folder", f"data.path={t}"],
    "folder-corrupt": lambda t: ["data=folder", f"data.path={folder_with(t)}", "data.batch_size=2"],
    "folder-all-corrupt": lambda t: [
        "data=folder",
        f"data.path={folder_with(t, corrupt_only=True)}",
        "data.skip_corrupt=true",
    ],
    "dataset-absent": lambda t: ["data=mnist", "data.download=false", f"paths.data_dir={t}"],
    "download-failed": lambda t: [
        "data=mnist",
        "data._target_=tests.faults.OfflineMNIST",
        f"paths.data_dir={t}",
    ],
    "idx-truncated": lambda t: ["data=mnist", "data.download=false", f"paths.data_dir={truncated_idx(t)}"],
    "cifar-code": lambda t: ["data=cifar10", "data.download=false", f"paths.data_dir={tampered_cifar(t)}"],
    "batch-vs-dataset": lambda t: ["data.batch_size=5000"],
    "ckpt-missing": lambda t: ["ckpt_path=/no/such.ckpt"],
    "ckpt-truncated": lambda t: [f"ckpt_path={cut(finished_run(t / 'source'))}"],
    "ckpt-code": lambda t: [f"ckpt_path={checkpoint_with_code(t)}"],
    "ckpt-not-a-checkpoint": lambda t: [f"ckpt_path={a_png(t)}"],
    "ckpt-folder": lambda t: [f"ckpt_path={t}"],
    "ckpt-not-a-model": lambda t: [f"ckpt_path={a_tensor_file(t)}"],
    "ckpt-other-model": lambda t: [f"ckpt_path={finished_run(t / 'source', 'model.hidden_dim=32')}"],
    "ckpt-last-none": lambda t: ["ckpt_path=last"],
    "run-dir-taken": taken_run_dir,
    "output-unwritable": lambda t: [f"paths.output_dir={a_file(t) / 'run'}"],
    "group-removed": lambda t: ["~callbacks", "experiment=dcgan_mnist", f"paths.data_dir={t}"],
    "nonfinite-loss": lambda t: [
        "loss._target_=tests.faults.nan_after",
        "+loss.calls=2",
    ],
    "evaluator-no-labels": lambda t: ["data=folder", f"data.path={images_only(t)}", "metrics.features=evaluator"],
    "unknown-features": lambda t: ["metrics.features=pixels"],
    "inception-offline": lambda t: ["metrics.features=inception"],  # conftest's offline_inception: no network
    "inception-file-missing": lambda t: ["metrics.features=inception", "metrics.weights_path=/no/such.pth"],
}


def images_only(tmp: Path) -> Path:
    write_many_images(tmp / "images", 40)
    return tmp / "images"


def run_dir(tmp: Path) -> Path:
    """A finished tiny run (with epoch checkpoints) for ganforge-evaluate / ganforge-sample to open."""
    return finished_run(tmp / "source").parent.parent


def run_without_evaluation(tmp: Path) -> Path:
    return finished_run(tmp / "noeval", "callbacks.evaluation=null").parent.parent


def damaged_run(tmp: Path) -> Path:
    run = run_dir(tmp)
    cut(run / "checkpoints" / "last.ckpt")
    return run


def existing_folder(tmp: Path) -> Path:
    (tmp / "earlier-result").mkdir()
    (tmp / "earlier-result" / "metrics.json").write_text("{}")
    return tmp / "earlier-result"


def folder_with_checkpoint(tmp: Path, content: Callable[[Path], Path]) -> Path:
    """<tmp>/looks-like-a-run/checkpoints/last.ckpt holding ``content``'s file (not a checkpoint)."""
    checkpoint = tmp / "looks-like-a-run" / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    content(tmp).replace(checkpoint)
    return checkpoint


def a_text_file(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("my notes\n")
    return tmp / "notes.txt"


# id -> (command, overrides given tmp_path; may create files): rows of ganforge-evaluate and ganforge-sample
TOOL_DRIVERS: dict[str, tuple[str, Callable[[Path], list[str]]]] = {
    "eval-no-run": ("evaluate", lambda t: ["ckpt=/no/such/run"]),
    "eval-not-a-run": ("evaluate", lambda t: [f"ckpt={t}"]),
    "eval-image": ("evaluate", lambda t: [f"ckpt={a_png(t)}"]),
    "eval-not-a-checkpoint": ("evaluate", lambda t: [f"ckpt={folder_with_checkpoint(t, a_png).parent.parent}"]),
    "eval-no-such-checkpoint": ("evaluate", lambda t: [f"ckpt={run_dir(t)}/checkpoints/epoch9999.ckpt"]),
    "eval-damaged-checkpoint": ("evaluate", lambda t: [f"ckpt={damaged_run(t)}"]),
    "eval-ckpt-required": ("evaluate", lambda t: []),
    "eval-output-taken": ("evaluate", lambda t: [f"ckpt={run_dir(t)}", f"output_dir={existing_folder(t)}"]),
    "eval-bad-features": ("evaluate", lambda t: [f"ckpt={run_dir(t)}", "metrics.features=pixels"]),
    "eval-bad-budget": ("evaluate", lambda t: [f"ckpt={run_dir(t)}", "metrics.num_samples=abc"]),
    "eval-no-best": ("evaluate", lambda t: [f"ckpt={run_without_evaluation(t)}", "checkpoint=best"]),
    "sample-bad-checkpoint-name": ("sample", lambda t: [f"ckpt={run_dir(t)}", "checkpoint=epoch3"]),
    "sample-no-run": ("sample", lambda t: ["ckpt=/no/such/run"]),
    "sample-zero-n": ("sample", lambda t: [f"ckpt={run_dir(t)}", "n=0"]),
    "sample-text-n": ("sample", lambda t: [f"ckpt={run_dir(t)}", "n=abc"]),
    "sample-damaged-checkpoint": ("sample", lambda t: [f"ckpt={damaged_run(t)}"]),
    "sample-not-a-checkpoint": ("sample", lambda t: [f"ckpt={folder_with_checkpoint(t, a_text_file)}"]),
}


def a_sweep(tmp: Path) -> Path:
    """A sweep directory with one finished job, as ganforge-train -m writes it (the files the summary reads)."""
    job = tmp / "sweep" / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    (job / ".hydra" / "config.yaml").write_text("objective: null\n")
    (job / "metrics.json").write_text('{"metrics": {"val/fid": 1.0}}')
    return tmp / "sweep"


def empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def corrupt_images(tmp: Path) -> Path:
    (tmp / "images").mkdir()
    a_png(tmp).replace(tmp / "images" / "photo.png")
    (tmp / "images" / "broken.png").write_bytes(b"not a png")
    return tmp / "images"


# id -> (console command, its arguments given tmp_path; may create files): the other commands' rows, each run as
# its [project.scripts] entry point in this process
COMMAND_DRIVERS: dict[str, tuple[str, Callable[[Path], list[str]]]] = {
    "summary-no-dir": ("ganforge-summary", lambda t: []),
    "summary-missing": ("ganforge-summary", lambda t: ["/no/such/dir"]),
    "summary-file": ("ganforge-summary", lambda t: [str(a_png(t))]),
    "summary-one-run": ("ganforge-summary", lambda t: [str(a_sweep(t) / "0")]),
    "summary-empty": ("ganforge-summary", lambda t: [str(empty_folder(t))]),
    "summary-bad-objective": ("ganforge-summary", lambda t: [str(a_sweep(t)), "--objective", "val/nope"]),
    "results-unknown-suite": ("ganforge-results", lambda t: ["nosuch"]),
    "results-zero-jobs": ("ganforge-results", lambda t: ["digits", "--jobs", "0", "--root", str(t)]),
    "results-set-no-value": ("ganforge-results", lambda t: ["digits", "--set", "foo", "--root", str(t)]),
    "results-set-unknown-key": (
        "ganforge-results",
        lambda t: ["digits", "--set", "model.hiden_dim=256", "--root", str(t / "results")],
    ),
    "results-root-file": ("ganforge-results", lambda t: ["--root", str(a_png(t)), "digits"]),
    "results-table-no-runs": ("ganforge-results", lambda t: ["digits", "--table-only", "--root", "/no/such/dir"]),
    "bench-zero-pairs": ("ganforge-bench", lambda t: ["bench.pairs=0"]),
    "bench-text-batch": ("ganforge-bench", lambda t: ["bench.batch_sizes=abc"]),
    "bench-run-zero-pairs": ("ganforge-bench", lambda t: ["run", "--pairs", "0"]),
    "bench-run-equal-epochs": ("ganforge-bench", lambda t: ["run", "--epochs", "5", "5"]),
    "bench-run-output-folder": ("ganforge-bench", lambda t: ["run", "--output", str(empty_folder(t))]),
    "bench-run-bad-override": ("ganforge-bench", lambda t: ["run", "data.batch_size=abc"]),
    "bench-data-missing": ("ganforge-bench-data", lambda t: ["/no/such/dir"]),
    "bench-data-file": ("ganforge-bench-data", lambda t: [str(a_png(t))]),
    "bench-data-empty": ("ganforge-bench-data", lambda t: [str(empty_folder(t))]),
    "bench-data-corrupt": ("ganforge-bench-data", lambda t: [str(corrupt_images(t)), "--workers", "0"]),
    "bench-data-negative-workers": ("ganforge-bench-data", lambda t: [str(corrupt_images(t)), "--workers", "-1"]),
}
SCRIPTS = tomllib.loads((CONFIG_DIR.parent / "pyproject.toml").read_text())["project"]["scripts"]


def run_command(command: str, args: list[str]) -> int:
    """``command ARGS`` in this process, through its console entry point (argv and all); its exit status."""
    module, _, function = SCRIPTS[command].partition(":")
    entry = getattr(importlib.import_module(module), function)
    argv = sys.argv
    sys.argv = [command, *args]
    try:
        entry()
    except SystemExit as stop:
        return stop.code
    finally:
        sys.argv = argv
    return 0


def run_tool(command: str, overrides: list[str]) -> None:
    """ganforge-evaluate / ganforge-sample in-process, from their own composed config."""
    from ganforge.evaluate import evaluate
    from ganforge.sample import sample

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(command, overrides=overrides)
    {"evaluate": evaluate, "sample": sample}[command](cfg)


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.exists() else set()


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_every_row_has_a_driver_and_every_driver_a_row() -> None:
    assert set(catalogue_rows()) == set(DRIVERS) | set(TOOL_DRIVERS) | set(COMMAND_DRIVERS)
    assert len(DRIVERS) + len(TOOL_DRIVERS) + len(COMMAND_DRIVERS) == len(catalogue_rows()) and len(DRIVERS) >= 20


def test_every_console_command_has_rows() -> None:
    commands = {"ganforge-evaluate", "ganforge-sample"} | {command for command, _ in COMMAND_DRIVERS.values()}
    assert set(SCRIPTS) - commands == {"ganforge-train"}  # DRIVERS' rows


@pytest.mark.parametrize("row", list(COMMAND_DRIVERS))
def test_every_command_refuses_bad_input_in_one_line_with_status_2_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture, row: str
) -> None:
    command, driver = COMMAND_DRIVERS[row]
    args = driver(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = files_under(tmp_path)
    status = run_command(command, args)
    output = capfd.readouterr()
    lines = (output.out + output.err).strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert squash(catalogue_rows()[row].replace("`", "")) in squash(lines[0])
    written = [p for p in files_under(tmp_path) - before if p.is_file() and ".hydra" not in p.parts]
    assert [p for p in written if p.suffix != ".log"] == []  # ganforge-bench: Hydra's own .hydra/ and log only


@pytest.mark.parametrize("row", list(TOOL_DRIVERS))
def test_evaluate_and_sample_bad_input_gets_its_documented_message_and_writes_nothing(tmp_path: Path, row: str) -> None:
    command, driver = TOOL_DRIVERS[row]
    overrides = driver(tmp_path)
    before = files_under(tmp_path)
    with pytest.raises(GanforgeError) as error:  # printed as one line, exit status 2, by main()
        run_tool(command, overrides)
    assert squash(catalogue_rows()[row].replace("`", "")) in squash(str(error.value))
    assert "\n" not in str(error.value)
    assert files_under(tmp_path) == before  # no evaluations/, samples/, .hydra/ or log file


@pytest.mark.parametrize("command", ["evaluate", "sample"])
def test_a_missing_run_is_one_line_and_exit_status_2_from_the_command_line(tmp_path: Path, command: str) -> None:
    root = CONFIG_DIR.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)]), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", f"ganforge.{command}", "ckpt=/no/such/run"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    output = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 2, output
    assert len(output) == 1 and "Traceback" not in output[0], output
    assert "ckpt=/no/such/run does not exist; give a run directory or a checkpoint in one" in output[0]
    assert list(tmp_path.iterdir()) == []  # Hydra wrote no run dir, .hydra/ or log file either


@pytest.mark.parametrize("row", list(DRIVERS))
def test_bad_input_gets_its_documented_message(tmp_path: Path, row: str) -> None:
    if row == "no-gpu" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so trainer=gpu is not a bad input here")
    excerpt = catalogue_rows()[row]
    overrides = DRIVERS[row](tmp_path)
    tiny = [o for o in TINY if not o.startswith("callbacks.")] if "~callbacks" in overrides else TINY
    with pytest.raises((GanforgeError, ConfigCompositionException)) as error:
        train(compose_config(tmp_path / "run", *tiny, *overrides))
    assert squash(excerpt.replace("`", "")) in squash(str(error.value))
    if row != "unknown-key":
        assert isinstance(error.value, GanforgeError)  # printed without a traceback by ganforge-train


@pytest.mark.parametrize("row", ["cifar-code", "ckpt-code"])
def test_files_carrying_code_are_refused_without_running_it(tmp_path: Path, row: str) -> None:
    overrides = DRIVERS[row](tmp_path)
    with pytest.raises(GanforgeError, match="refusing to load"):
        train(compose_config(tmp_path / "run", *TINY, *overrides))
    assert not (tmp_path / "pwned").exists()


def test_nonfinite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    last = finished_run(tmp_path / "run")  # epoch 1 trains cleanly and is checkpointed
    good = hashlib.sha256(last.read_bytes()).hexdigest()
    resumed = compose_config(
        tmp_path / "run", *TINY, "trainer.max_epochs=3", "ckpt_path=last",
        "loss._target_=tests.faults.nan_after", "+loss.calls=1",
    )  # fmt: skip
    with pytest.raises(GanforgeError, match=r"non-finite loss at training step 4 \(train/d_loss=nan"):
        train(resumed)
    assert hashlib.sha256(last.read_bytes()).hexdigest() == good
    weights = torch.load(last, weights_only=True)["state_dict"]
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_a_finished_run_reopens_with_its_own_config(tmp_path: Path) -> None:
    finished_run(tmp_path / "run", "model.hidden_dim=32")
    cfg, gan = load_gan(tmp_path / "run")
    assert cfg.model.hidden_dim == 32 and not gan.training
    assert gan.sampler(torch.randn(3, gan.latent_dim)).shape == (3, 1, 28, 28)


def test_reopening_a_run_never_instantiates_foreign_code(tmp_path: Path) -> None:
    finished_run(tmp_path / "run")
    config = tmp_path / "run" / ".hydra" / "config.yaml"  # as ganforge-train writes it
    config.parent.mkdir()
    cfg = OmegaConf.to_container(compose_config(tmp_path / "run"))
    cfg["model"]["generator"] = {"_target_": "pathlib.Path.touch", "self": str(tmp_path / "pwned")}
    OmegaConf.save(OmegaConf.create(cfg), config)
    with pytest.raises(GanforgeError, match=r"model\.generator\._target_=pathlib\.Path\.touch\); refusing"):
        load_gan(tmp_path / "run")
    assert not (tmp_path / "pwned").exists()
