"""notebooks/explore_run.ipynb runs top to bottom against a tiny run (executed by nbclient in a real kernel)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ganforge.train import CONFIG_DIR, train

NOTEBOOK = CONFIG_DIR.parent / "notebooks" / "explore_run.ipynb"


@pytest.mark.slow
def test_explore_run_notebook_executes(tiny_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train(tiny_cfg("callbacks.evaluation.every_n_steps=3"))
    monkeypatch.setenv("GANFORGE_RUN", str(tmp_path / "run"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend renders figures as PNG
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    resources = {"metadata": {"path": str(tmp_path)}}  # the kernel's working directory
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources=resources)
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs)
    assert "val/fid180" in text and "floor/fid180" in text and "probe/d_10labels" in text
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 4  # samples, interpolation, losses, metrics over time
