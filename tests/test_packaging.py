"""ganforge installs as a package: the wheel carries the configs, and `ganforge-train` runs from anywhere."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_list_names_every_package_under_src() -> None:
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT / "src").parts) for init in (ROOT / "src").glob("**/__init__.py")}
    assert declared == found | {"ganforge.conf"}


@pytest.mark.slow
def test_a_non_editable_install_runs_from_another_directory(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    source = tmp_path / "source"  # a copy: setuptools writes its build/ folder beside the sources
    for name in ("src", "conf"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    build = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("ganforge-*.whl")
    site = tmp_path / "site"
    install = subprocess.run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    assert (site / "ganforge" / "conf" / "train.yaml").is_file() and (site / "ganforge" / "conf" / "data").is_dir()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)

    where = run(sys.executable, "-c", "import ganforge.train as t; print(t.__file__); print(t.CONFIG_DIR)")
    assert where.stdout.splitlines() == [str(site / "ganforge" / "train.py"), str(site / "ganforge" / "conf")]
    command = str(site / "bin" / "ganforge-train")  # the console script the wheel installs
    shown = run(command, "--cfg", "job")
    assert shown.returncode == 0, shown.stderr
    assert "_target_: ganforge.data.DigitsDataModule" in shown.stdout
    one_batch = run(
        command, "trainer.max_epochs=1", "trainer.limit_train_batches=1", "data.batch_size=8",
        "callbacks.evaluation=null", "callbacks.progress_bar=null", "callbacks.model_summary=null",
    )  # fmt: skip
    assert one_batch.returncode == 0, one_batch.stderr
    (checkpoint,) = elsewhere.glob("outputs/*/*/checkpoints/last.ckpt")
    assert checkpoint.stat().st_size > 0


def test_the_code_reads_no_lightning_internals_and_guesses_nothing_from_names() -> None:
    """The module keeps its own counters; losses and data declare what they need instead of being recognised."""
    import re

    pattern = re.compile(r"_batches_that_stepped|_target_.*endswith|hasattr\([^)]*centers|from lightning\S* import _")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "src").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
