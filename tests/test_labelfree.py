"""Label-free features measure: on the digits (labels hidden) and on real photographs, FID and KID rise and recall
falls with blur and noise, and dropping half the classes or images lowers recall and coverage; the network is
deterministic, cached, and the default for data without labels (an image folder), end to end."""

import json
import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from ganforge.data import FolderDataModule
from ganforge.lab.labelfree_check import (
    BUNDLED_PHOTOS,
    CORRUPTIONS,
    checkpoint_fids,
    corruption_table,
    digits_tensor,
    drop_table,
    is_monotonic,
    labelfree_embedding,
    photo_tensor,
    spearman,
)
from ganforge.metrics import Evaluation
from ganforge.metrics import labelfree as labelfree_module
from ganforge.metrics.labelfree import LabelFreeSettings, build, load_or_build
from ganforge.train import CONFIG_DIR, train
from tests.conftest import TINY, compose_config
from tests.datafiles import write_photo_folder


@pytest.fixture(scope="module")
def datasets() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(images in [-1, 1], group per image): the digits' training split with classes; 240 photos, 1 = face."""
    return {"digits": digits_tensor(), "photos": photo_tensor(240)}


@pytest.fixture(scope="module")
def embeddings(datasets) -> dict:
    return {name: labelfree_embedding(images, LabelFreeSettings()) for name, (images, _) in datasets.items()}


def test_the_photographs_ship_inside_scikit_image() -> None:
    """Every source of the photo folder is a file of the installed wheel: nothing is fetched (pooch would)."""
    from skimage import data as bundled

    folder = Path(bundled.__file__).parent
    files = ("lfw_subset.npy", "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg")
    assert all((folder / name).is_file() for name in (*files, "ihc.png", "retina.jpg"))
    assert len(BUNDLED_PHOTOS) == 7


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
@pytest.mark.parametrize("data", ["digits", "photos"])
def test_fid_kid_rise_and_recall_falls_with_corruption(datasets, embeddings, data: str, kind: str) -> None:
    rows = corruption_table(embeddings[data], datasets[data][0][:500], kind, kid_subsets=20)
    assert is_monotonic(rows), rows
    assert rows[0]["fid"] == pytest.approx(0.0, abs=1e-3) and rows[-1]["recall"] < 0.9 * rows[0]["recall"]


@pytest.mark.parametrize("data, keep", [("digits", lambda g: g < 5), ("photos", lambda g: g == 0)])
def test_dropping_half_the_classes_or_images_lowers_recall_and_coverage(datasets, embeddings, data, keep) -> None:
    images, groups = datasets[data]
    result = drop_table(embeddings[data], images, groups, keep)
    (recall_all, coverage_all), (recall_dropped, coverage_dropped) = result["all"], result["dropped"]
    assert recall_dropped < 0.8 * recall_all and coverage_dropped < 0.8 * coverage_all, result


def test_deterministic_any_size_and_torch_random_stream_untouched(datasets) -> None:
    images = datasets["photos"][0][:50]
    state = torch.get_rng_state()
    first, second = build(images, LabelFreeSettings()), build(images, LabelFreeSettings())
    assert torch.equal(torch.get_rng_state(), state)
    with torch.no_grad():
        assert torch.equal(first(images), second(images))
        features = first(images)
        assert features.shape == (50, 256)
        # standardised on the images it was built on: every dimension has mean 0 and std 1
        assert features.mean(0).abs().max() < 1e-3 and (features.std(0) - 1).abs().max() < 1e-3
        assert build(images, LabelFreeSettings(seed=1))(images).sub(features).abs().max() > 0.1
        grey = build(torch.rand(20, 1, 8, 8) * 2 - 1, LabelFreeSettings(num_features=16))
        assert grey(torch.rand(3, 1, 64, 64)).shape == (3, 16)


def test_cached_by_a_hash_of_images_and_settings(tmp_path: Path, monkeypatch, datasets) -> None:
    images = datasets["photos"][0][:40]
    model = load_or_build("photos", images, LabelFreeSettings(), tmp_path)
    (cached,) = tmp_path.glob("labelfree-photos-*.pt")

    def no_rebuild(*args: object) -> None:
        raise AssertionError("the cached network should have been loaded")

    monkeypatch.setattr(labelfree_module, "build", no_rebuild)
    again = load_or_build("photos", images.clone(), LabelFreeSettings(), tmp_path)
    with torch.no_grad():
        assert torch.equal(model(images), again(images))
    monkeypatch.undo()
    load_or_build("photos", images.flip(0), LabelFreeSettings(), tmp_path)
    load_or_build("photos", images, LabelFreeSettings(width=16), tmp_path)
    assert len(list(tmp_path.glob("labelfree-photos-*.pt"))) == 3 and cached.is_file()


def test_unlabeled_folders_are_measured_with_labelfree_features(tmp_path: Path) -> None:
    folder = write_photo_folder(tmp_path / "photos", n=200, size=32)
    evaluation = Evaluation(cache_dir=str(tmp_path / "cache"), kid_subsets=10)
    metrics = ["fid", "kid", "precision_recall", "density_coverage", "classes", "probe"]
    evaluation.prepare(FolderDataModule(str(folder), image_size=32, batch_size=16, metrics=metrics))
    assert evaluation.ready and evaluation.features_name == "labelfree"
    names = [name for name in evaluation.directions() if name.startswith("val/")]
    assert names == [f"val/{m}20" for m in ("fid", "kid", "precision", "recall", "density", "coverage")]
    assert evaluation.at_end({}) == {}  # no labels: the probe (and the class metrics) were skipped
    floor = evaluation.floor()
    assert set(floor) == {name.replace("val/", "floor/") for name in names}


@pytest.mark.slow
def test_a_dcgan_trained_on_a_photo_folder_is_evaluated(tmp_path: Path) -> None:
    folder = write_photo_folder(tmp_path / "photos", n=200, size=32)
    run = tmp_path / "run"
    overrides = ("model=dcgan", "data=folder", f"data.path={folder}", "data.image_size=32", "trainer.max_epochs=1")
    train(compose_config(run, *TINY, *overrides))
    report = json.loads((run / "metrics.json").read_text())
    assert report["features"] == "labelfree" and report["budget"] == 20
    for metric in ("fid", "kid", "precision", "recall", "density", "coverage"):
        assert math.isfinite(report["metrics"][f"val/{metric}20"]), metric
    assert not any(name.startswith("probe/") for name in report["metrics"])
    # ganforge-evaluate on the same run (the saved config comes from the checkpoint; no .hydra/ in tests)
    from ganforge.evaluate import evaluate

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"ckpt={run}", "metrics.kid_subsets=10"])
    values = evaluate(cfg)
    assert values["val/fid20"] == pytest.approx(report["metrics"]["val/fid20"], rel=1e-6)
    (written,) = (run / "evaluations").glob("last-*/metrics.json")
    assert json.loads(written.read_text())["features"] == "labelfree"


@pytest.mark.slow
def test_labelfree_fid_ranks_the_checkpoints_of_a_run_like_the_evaluator(tmp_path: Path, evaluator_cache: Path) -> None:
    """10 checkpoints of one digits run (100 epochs, seed 0; ~50 s on 1 thread, evaluator training included).

    The evaluator trains 300 steps here, not the configured 600 (a minute on its own); the full-size check is
    `python -m ganforge.lab.labelfree_check`. Measured while choosing: Spearman 0.988 / 0.964 / 0.988 on seeds
    0 / 1 / 2 at 300 steps (0.988 / 0.988 / 1.000 at 600; 150 steps fell to 0.903 on seed 1, too close to 0.9)."""
    run = tmp_path / "run"
    overrides = ("trainer.max_epochs=100", "callbacks.periodic_checkpoint.every_n_steps=120", "seed=0")
    train(compose_config(run, *overrides, "callbacks.progress_bar=null", "callbacks.evaluation=null"))
    rows = checkpoint_fids(run, 1000, LabelFreeSettings(), str(evaluator_cache), evaluator={"steps": 300})
    assert len(rows) == 10
    assert spearman([row[1] for row in rows], [row[2] for row in rows]) >= 0.9, rows
