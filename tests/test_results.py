"""ganforge-results: its runs restart where they stopped, their CPU time is recorded, and the tables read the
runs' metrics.json (names from the metric registry)."""

import json
import sys
from pathlib import Path

import pytest

from ganforge.lab.results import modes
from ganforge.lab.results.runner import Run, command, execute, finished, mean_and
from tests.conftest import TINY


def test_a_finished_run_is_kept_an_interrupted_one_resumes_and_a_fresh_one_starts(tmp_path: Path) -> None:
    run = Run("tiny", ("trainer.max_epochs=1",), seed=3)
    assert command(run, tmp_path)[1:4] == [f"hydra.run.dir={tmp_path / 'tiny-seed3'}", "seed=3",
                                           "callbacks.progress_bar=null"]  # fmt: skip
    assert "ckpt_path=last" not in command(run, tmp_path)
    (run.dir(tmp_path) / "checkpoints").mkdir(parents=True)
    (run.dir(tmp_path) / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert command(run, tmp_path)[-1] == "ckpt_path=last" and not finished(run, tmp_path)


@pytest.mark.slow
def test_runs_are_trained_in_parallel_with_their_cpu_time_and_not_trained_twice(tmp_path: Path) -> None:
    tiny = (*(o for o in TINY if not o.startswith("callbacks.progress_bar")), "callbacks.evaluation=null")
    runs = [Run("tiny", tiny, seed) for seed in (0, 1)]
    assert execute(runs, tmp_path, jobs=2) == []
    for run in runs:
        cost = json.loads((run.dir(tmp_path) / "cost.json").read_text())
        assert cost["finished"] and cost["parts"] == 1 and cost["cpu_seconds"] > 0 and cost["wall_seconds"] > 0
        assert (run.dir(tmp_path) / "checkpoints" / "last.ckpt").is_file()
    execute(runs, tmp_path, jobs=2)  # both finished: nothing is trained again
    assert json.loads((runs[0].dir(tmp_path) / "cost.json").read_text())["parts"] == 1
    assert (tmp_path / "logs" / "tiny-seed0.log").is_file()


def fake_run(root: Path, run: Run, values: dict[str, float], cpu: float = 120.0) -> None:
    run.dir(root).mkdir(parents=True)
    metrics = {f"{prefix}/{name}": value for prefix in ("val", "floor") for name, value in values.items()}
    (run.dir(root) / "metrics.json").write_text(json.dumps({"step": 40000, "metrics": metrics}))
    (run.dir(root) / "cost.json").write_text(json.dumps({"cpu_seconds": cpu, "wall_seconds": cpu, "finished": True}))


def test_the_mode_table_shows_published_rows_and_ours_as_mean_and_standard_error(tmp_path: Path) -> None:
    args = modes.argparse.Namespace(data=["ring8", "grid25"], seeds=[0, 1], reproduce_seeds=[0],
                                    reproduce_steps=400_000)  # fmt: skip
    for data in ("ring8", "grid25"):
        for seed, hq in ((0, 0.98), (1, 0.99)):
            fake_run(tmp_path, modes.recipe(data, seed), {"modes2.5k": 8, "hq2.5k": hq, "rkl2.5k": 0.01,
                                                          "modes_fifth2.5k": 8})  # fmt: skip
    fake_run(tmp_path, modes.reproduction("ring8", 1, 400_000, 0),
             {"modes2.5k": 6, "hq2.5k": 0.97, "rkl2.5k": float("nan"), "modes_fifth2.5k": 5})  # fmt: skip
    text = "\n".join(modes.table(args, tmp_path))
    assert "| GAN, published (10 runs, 400,000 steps) | 6.3 ± 0.5 | 98.2 ± 0.2 | 0.45 ± 0.09 |" in text
    recipe = "| ganforge recipe (`experiment=ring8`) | 8.0 ± 0.0 | 98.5 ± 0.5 | 0.010 ± 0.000 | 8.0 ± 0.0 | 2 |"
    assert recipe + " 40,000 | 2.0 ± 0.0 |" in text
    assert "| GAN, ours (`experiment=pacgan_ring8 model.discriminator.pack=1`) | 6.0 | 97.0 | - (1 undefined) |" in text


def test_mean_and_spread() -> None:
    assert mean_and([1.0, 3.0]) == "2.000 ± 1.414" and mean_and([1.0, 3.0], "se", 1) == "2.0 ± 1.0"
    assert mean_and([float("nan")]) == "-" and mean_and([0.5], scale=100, digits=1) == "50.0"


def test_the_command_line_names_every_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    from ganforge.lab.results import SUITES, main

    monkeypatch.setattr(sys, "argv", ["ganforge-results", "--help"])
    with pytest.raises(SystemExit):
        main()
    assert set(SUITES) == {"digits", "modes", "ssl"}


def test_label_spreading_gives_images_it_cannot_reach_their_nearest_labeled_images_label() -> None:
    """One label per class (draw 0): sklearn's LabelSpreading leaves images outside every labeled part of the graph
    with 0/0 probabilities, which its predict() turns into class 0; the baseline labels them by 1-NN instead."""
    import warnings

    import numpy as np
    from sklearn.semi_supervised import LabelSpreading

    from ganforge.lab.results.ssl import classical, subsets

    train_x, train_y, labeled, test_x, test_y = (t.numpy() for t in subsets(1, 0))
    partial = np.full(len(train_y), -1)
    partial[labeled] = train_y[labeled]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        plain = LabelSpreading(kernel="knn", n_neighbors=7, max_iter=1000).fit(train_x, partial)
        unreached = np.isnan(plain.predict_proba(test_x)).any(1)
        plain_accuracy = float((plain.predict(test_x) == test_y).mean())
    assert unreached.sum() > 0  # the case this handles occurs on the real data
    assert classical(1, 0)["spreading"] > plain_accuracy


def test_the_ssl_suite_gives_each_gan_run_and_its_supervised_baseline_the_same_steps() -> None:
    import argparse

    from ganforge.lab.results.ssl import BATCHES, DEFAULT_BATCHES, runs

    def steps(run) -> str:
        return next((o for o in run.overrides if o.startswith("steps=")), "the preset's")

    for validation in (None, 300):
        args = argparse.Namespace(draws=[0, 1], labels=["1", "5", "10", "all"], validation=validation)
        found = {run.dir(Path("r")).name: run for run in runs(args)}
        gans = [name for name in found if name.startswith("ssl-")]
        assert len(gans) == (4 if validation is None else 3) * 2  # every label set but all with a validation split
        for name in gans:
            baseline = found[name.replace("ssl-", "supervised-", 1)]
            assert steps(found[name]) == steps(baseline)
            assert "module.generator=false" in baseline.overrides
            assert "module.generator=false" not in found[name].overrides
        # as many steps (batches) on a validation split as on the test split, whatever the epochs' sizes
        one, five = (found[f"ssl-{k}{'' if validation is None else '-validation300'}-seed0"] for k in (1, 5))
        assert steps(one) == f"steps={BATCHES[1]}" and steps(five) == f"steps={DEFAULT_BATCHES}"
    only_one = runs(argparse.Namespace(draws=[3], labels=["1"], validation=None))
    assert sorted(run.name for run in only_one) == ["ssl-1", "supervised-1", "unsupervised"]
