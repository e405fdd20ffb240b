"""Image metrics, the linear probe and the evaluation suite on constructed data with known answers."""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as tv_functional

from ganforge.data import DigitsDataModule
from ganforge.errors import ConfigError
from ganforge.metrics import Evaluation
from ganforge.metrics.classes import class_metrics
from ganforge.metrics.distances import density_coverage, fid, kid, precision_recall
from ganforge.metrics.evaluator import EvaluatorSettings, fingerprint
from ganforge.metrics.names import MetricName, budget_tag
from ganforge.metrics.probe import probe_accuracy
from ganforge.metrics.registry import REGISTRY, better

IMAGE_METRICS = ["fid", "kid", "precision_recall", "density_coverage", "classes", "probe"]


@pytest.fixture(scope="module")
def digits_evaluation(evaluator_cache: Path) -> Evaluation:
    """The suite on the digits with a briefly trained evaluator (cached for the session)."""
    return Evaluation(cache_dir=str(evaluator_cache), evaluator={"steps": 150}, kid_subsets=20).prepare(
        DigitsDataModule(metrics=IMAGE_METRICS)
    )


def gaussian(n: int, d: int = 8, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


# --- FID and KID ----------------------------------------------------------------------------------------------


def test_fid_and_kid_of_a_set_against_itself_are_zero() -> None:
    features = gaussian(500)
    assert fid(features, features) == pytest.approx(0.0, abs=1e-6)
    # KID's unbiased estimator leaves the diagonal out within a set but not across sets: -O(1/n), not exactly 0
    assert abs(kid(features, features)) < 0.05 * kid(features, features + 0.5)


def test_fid_of_gaussians_matches_the_closed_form() -> None:
    # equal covariances: FID = |mu1 - mu2|^2 exactly, up to sampling error of the covariance
    real, fake = gaussian(20_000, d=4, seed=1), gaussian(20_000, d=4, shift=1.0, seed=2)
    assert fid(real, fake) == pytest.approx(4.0, abs=0.1)


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    return tv_functional.gaussian_blur(images, kernel_size=9, sigma=sigma) if sigma else images


def noised(images: torch.Tensor, std: float) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    return (images + std * noise).clamp(-1, 1)


@pytest.mark.parametrize("corrupt, levels", [(blurred, [0, 0.6, 1.0, 1.6, 2.5]), (noised, [0, 0.1, 0.3, 0.6, 1.0])])
def test_fid_and_kid_grow_monotonically_with_corruption(digits_evaluation: Evaluation, corrupt, levels) -> None:
    images = digits_evaluation.datamodule.train_set[list(range(1000))]
    reference = digits_evaluation.features(images)
    scores = [
        (fid(reference, features), kid(reference, features))
        for features in (digits_evaluation.features(corrupt(images, level)) for level in levels)
    ]
    fids, kids = zip(*scores, strict=True)
    assert fids[0] == pytest.approx(0.0, abs=1e-6) and abs(kids[0]) < 0.05 * kids[-1]
    assert all(a < b for a, b in itertools.pairwise(fids)), fids
    assert all(a < b for a, b in itertools.pairwise(kids)), kids


# --- precision/recall, density/coverage ------------------------------------------------------------------------


def test_identical_sets_have_full_precision_recall_and_coverage() -> None:
    real = gaussian(400)
    assert precision_recall(real, real) == (1.0, 1.0)
    density, coverage = density_coverage(real, real)
    assert coverage == 1.0 and density == pytest.approx(6 / 5, abs=0.05)  # each fake also sits in its own ball


def test_a_second_sample_of_the_same_distribution_has_density_near_one() -> None:
    density, coverage = density_coverage(gaussian(1000, seed=1), gaussian(1000, seed=2))
    assert density == pytest.approx(1.0, abs=0.15) and coverage > 0.9


def test_far_away_fakes_have_no_precision_recall_density_or_coverage() -> None:
    real, fake = gaussian(300), gaussian(300, shift=50.0, seed=1)
    assert precision_recall(real, fake) == (0.0, 0.0)
    assert density_coverage(real, fake) == (0.0, 0.0)


def test_a_generator_of_one_of_two_clusters_has_precision_but_half_the_recall() -> None:
    real = torch.cat([gaussian(200, seed=1), gaussian(200, shift=30.0, seed=2)])
    fake = gaussian(400, seed=3)  # all from the first cluster
    precision, recall = precision_recall(real, fake)
    _, coverage = density_coverage(real, fake)
    assert precision > 0.75 and 0.35 < recall <= 0.5 and 0.35 < coverage <= 0.5


# --- class metrics ---------------------------------------------------------------------------------------------


def one_hot_logits(classes: list[int], num_classes: int = 10) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(classes), num_classes).double() * 30.0


def test_every_class_evenly() -> None:
    values = class_metrics(one_hot_logits(list(range(10)) * 20))
    assert values["classes"] == 10 and values["class_kl"] == pytest.approx(0.0, abs=1e-12)
    assert values["score"] == pytest.approx(10.0, rel=1e-6)  # confident and uniform: the maximum, K


def test_one_class_only() -> None:
    values = class_metrics(one_hot_logits([3] * 200))
    assert values["classes"] == 1 and values["class_kl"] == pytest.approx(math.log(10))
    assert values["score"] == pytest.approx(1.0, rel=1e-6)


def test_a_class_needs_a_fifth_of_its_share() -> None:
    # 100 samples over 10 classes: a fair share is 10, a fifth of it 2; one sample of class 9 does not count
    values = class_metrics(one_hot_logits([0] * 11 + [c for c in range(1, 9) for _ in range(11)] + [9]))
    assert values["classes"] == 9


# --- linear probe ----------------------------------------------------------------------------------------------


def test_the_probe_separates_an_easy_dataset_and_not_random_labels() -> None:
    rng = np.random.default_rng(0)
    labels = torch.from_numpy(rng.integers(0, 3, 600))
    centres = torch.tensor([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    features = centres[labels] + torch.from_numpy(rng.normal(size=(600, 2))).float()
    train, test = (features[:400], labels[:400]), (features[400:], labels[400:])
    mean, std = probe_accuracy(train, test, n_per_class=10, draws=3)
    assert mean > 0.97 and std < 0.03
    shuffled = (features[:400], labels[:400][torch.randperm(400, generator=torch.Generator().manual_seed(0))])
    chance, _ = probe_accuracy(shuffled, test, n_per_class=10, draws=3)
    assert chance < 0.6


# --- the suite -------------------------------------------------------------------------------------------------


def test_the_evaluator_is_cached_under_a_hash_of_data_and_settings(digits_evaluation: Evaluation) -> None:
    images, labels = torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    key = fingerprint(images, labels, EvaluatorSettings())
    assert key == fingerprint(images.clone(), labels.clone(), EvaluatorSettings())
    assert key != fingerprint(images + 1, labels, EvaluatorSettings())
    assert key != fingerprint(images, labels.flip(0), EvaluatorSettings())
    assert key != fingerprint(images, labels, EvaluatorSettings(steps=7))
    cached = list(digits_evaluation.cache_dir.glob("evaluator-digits-1x28x28-*.pt"))
    assert cached and digits_evaluation.evaluator_accuracy > 0.8


def test_the_default_runs_evaluator_ships_with_the_package_and_is_used_with_an_empty_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hydra.utils import instantiate

    from ganforge.metrics import evaluator
    from tests.conftest import compose_config

    def no_training(*args: object) -> None:
        raise AssertionError("the default run trained an evaluator")

    monkeypatch.setattr(evaluator, "train_evaluator", no_training)
    cache = tmp_path / "empty-cache"
    cfg = compose_config(tmp_path / "run", f"metrics.cache_dir={cache}")  # the default settings (no FAST_EVAL)
    evaluation = instantiate(cfg.metrics).prepare(instantiate(cfg.data))
    (shipped,) = evaluator.SHIPPED_DIR.glob("evaluator-digits-1x28x28-*.pt")
    state = torch.load(shipped, map_location="cpu", weights_only=True)
    assert shipped.stat().st_size < 500_000 and evaluation.evaluator_accuracy == state["accuracy"] > 0.95
    _, _, heldout, _ = evaluator.default_run_inputs()
    assert evaluator.accuracy(evaluation.classifier, *heldout) == state["accuracy"]
    assert not cache.exists()  # nothing trained, nothing cached


def test_a_shipped_evaluator_is_used_only_for_its_data_up_to_the_cpus_last_bits() -> None:
    from ganforge.metrics.evaluator import default_run_inputs, same_data, shipped_path

    name, (images, labels), _, settings = default_run_inputs()
    recorded = torch.load(shipped_path(name, settings), weights_only=True)["data"]
    assert same_data(recorded, images, labels)
    # another CPU's vector kernels upsample the digits to other last bits (1e-8 in an image's mean, measured)
    assert same_data(recorded, images + 1e-7 * torch.randn(images.shape).sign(), labels)
    assert not same_data(recorded, images, labels.roll(1))
    assert not same_data(recorded, images.flip(0), labels) and not same_data(recorded, images[1:], labels[1:])
    # a flip or a shift of every image keeps each image's mean: the projections tell them apart
    assert not same_data(recorded, images.flip(-1), labels) and not same_data(recorded, images.roll(1, -1), labels)
    assert shipped_path(name, EvaluatorSettings(steps=599)) != shipped_path(name, settings)


@pytest.mark.slow
def test_the_shipped_evaluator_is_what_training_with_the_default_settings_makes() -> None:
    """Bit for bit where it was made (torch version, CPU kernels, one thread); elsewhere training's rounding differs
    and the networks agree as two trainings on two machines do (features ~3% apart, measured)."""
    from ganforge.metrics.evaluator import default_run_inputs, made_with, new_evaluator, shipped_path, train_evaluator

    name, train, heldout, settings = default_run_inputs()
    state = torch.load(shipped_path(name, settings), weights_only=True)
    shipped = new_evaluator(tuple(train[0].shape[1:]), state["num_classes"], settings)
    shipped.load_state_dict(state["state_dict"])
    fresh = train_evaluator(*train, settings)
    if state["made_with"] == made_with():
        assert all(torch.equal(value, state["state_dict"][key]) for key, value in fresh.state_dict().items())
        return
    with torch.no_grad():
        ours, theirs = fresh.features(heldout[0]), shipped.eval().features(heldout[0])
        agree = (fresh(heldout[0]).argmax(1) == shipped(heldout[0]).argmax(1)).float().mean()
    assert float((ours - theirs).norm() / theirs.norm()) < 0.1 and agree >= 0.98


def test_the_real_data_floor_is_near_perfect(digits_evaluation: Evaluation) -> None:
    floor = digits_evaluation.floor()
    tag = budget_tag(180)
    assert set(floor) == {name for name in digits_evaluation.directions() if name.startswith("floor/")}
    assert floor[f"floor/classes{tag}"] == 10 and floor[f"floor/precision{tag}"] > 0.8
    assert floor[f"floor/recall{tag}"] > 0.8 and floor[f"floor/fid{tag}"] < 2.0


def test_names_carry_the_budget() -> None:
    assert (budget_tag(180), budget_tag(2500), budget_tag(10_000)) == ("180", "2.5k", "10k")


def test_names_are_split_name_and_budget_and_read_back_as_logged() -> None:
    tags = {
        "val/fid180": MetricName("val", "fid", 180),
        "best/class_kl10k": MetricName("best", "class_kl", 10_000),
        "floor/modes2.5k": MetricName("floor", "modes", 2500),
        "probe/d_10labels": MetricName("probe", "d_10labels"),
        "probe/random_d_100labels_std": MetricName("probe", "random_d_100labels_std"),
        "test/accuracy": MetricName("test", "accuracy"),
        "validation/accuracy": MetricName("validation", "accuracy"),
    }
    for tag, name in tags.items():
        assert str(name) == tag and MetricName.parse(tag) == name
    assert MetricName("val", "fid", 180).under("best") == MetricName("best", "fid", 180)
    with pytest.raises(ValueError, match="<split>/<name>"):
        MetricName.parse("fid180")


def test_directions_come_from_the_registry_not_the_name(digits_evaluation: Evaluation) -> None:
    directions = digits_evaluation.directions()
    assert directions["val/fid180"] is False and directions["val/precision180"] is True
    assert directions["val/class_kl180"] is False and REGISTRY["modes"].outputs["rkl"] is False
    assert directions["probe/d_10labels"] is True and REGISTRY["probe"].outputs["pixels_10labels"] is True
    assert REGISTRY["accuracy"].outputs == {"accuracy": True}  # the semi-supervised classifier's, registered too
    assert REGISTRY["accuracy"].needs == {"labels", "trained_classifier"}
    assert better(False, 1.0, 2.0) and not better(False, 3.0, 2.0) and better(True, 0.9, 0.8)
    assert better(False, 5.0, None) and not better(False, math.nan, None) and not better(True, math.nan, 0.1)


def test_inception_features_offline_say_how_to_provide_the_weights(tmp_path: Path) -> None:
    # the download fails as offline (conftest's offline_inception): both ways to get the weights are named
    with pytest.raises(ConfigError, match=r"could not be downloaded.*metrics.weights_path=<file>.*reachable"):
        Evaluation(features="inception").prepare(DigitsDataModule(metrics=IMAGE_METRICS))
    with pytest.raises(ConfigError, match=r"metrics.weights_path=.*does not exist"):
        Evaluation(features="inception", weights_path=str(tmp_path / "missing.pth")).prepare(
            DigitsDataModule(metrics=IMAGE_METRICS)
        )


def test_metrics_json_of_a_tiny_run(tiny_cfg, tmp_path: Path) -> None:
    from ganforge.train import train

    metrics = train(tiny_cfg("trainer.max_epochs=2", "callbacks.evaluation.every_n_steps=3", "objective=best/fid180"))
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["evaluations"] == 2 and report["budget"] == 180 and report["seconds_per_evaluation"] > 0
    evaluations = report["evaluations"] * report["seconds_per_evaluation"]
    spent = report["prepare_seconds"] + evaluations + report["probe_seconds"]
    assert report["evaluation_seconds"] == pytest.approx(spent) and 0 < report["evaluation_share"] < 1
    assert report["evaluation_share"] == pytest.approx(spent / report["run_seconds"])
    values = report["metrics"]
    for name in ("val/fid180", "best/fid180", "floor/fid180", "val/classes180", "probe/d_10labels"):
        assert name in values and name in metrics and math.isfinite(values[name])
    assert values["best/fid180"] <= values["val/fid180"]
    assert "probe/random_d_10labels" in values and "probe/pixels_10labels" in values


def test_the_run_keeps_its_best_generator_and_draws_samples_png_from_it(tiny_cfg, tmp_path: Path) -> None:
    from PIL import Image

    from ganforge.previews import ImageGrid
    from ganforge.runs import load_gan
    from ganforge.train import train

    train(tiny_cfg("trainer.max_epochs=3", "callbacks.evaluation.every_n_steps=2"))
    run = tmp_path / "run"
    report = json.loads((run / "metrics.json").read_text())
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert report["monitor"] == "val/fid180" and report["best_step"] in (2, 4, 6, 8, 9)
    assert best["ganforge_counters"]["generator_updates"] == report["best_step"]
    fids = {e.step: e.value for e in events_of(run).Scalars("val/fid180")}
    assert sorted(fids) == [2, 4, 6, 8, 9] and min(fids.values()) == pytest.approx(fids[report["best_step"]])
    assert report["metrics"]["best/fid180"] == pytest.approx(fids[report["best_step"]], rel=1e-6)
    # samples.png is the best generator's view of the fixed noise, not the last one's
    _, gan = load_gan(run, "best.ckpt")
    noise = best["callbacks"]["SampleGrid"]["fixed_noise"]
    with torch.no_grad():
        expected = ImageGrid().render(gan.sampler(noise)).mul(255).add(0.5).clamp(0, 255).byte()
    with Image.open(run / "samples.png") as image:
        written = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(written, expected)


def test_a_monitor_the_data_does_not_report_fails_before_training(tiny_cfg) -> None:
    from ganforge.train import train

    with pytest.raises(ConfigError, match=r"callbacks.evaluation.monitor=modes is not reported on this data; choose"):
        train(tiny_cfg("callbacks.evaluation.monitor=modes"))


def events_of(run: Path):
    from tests.test_train import events

    return events(run)


def test_samples_png_uses_the_kept_best_weights_not_the_current_ones(tiny_cfg, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from PIL import Image

    from ganforge.callbacks import EvaluationCallback, SampleGrid
    from ganforge.train import build

    gan = build(tiny_cfg())[0]
    grid = SampleGrid(str(tmp_path / "out"))
    grid.fixed_noise = torch.randn(16, gan.latent_dim, generator=torch.Generator().manual_seed(0))
    evaluation = EvaluationCallback(Evaluation(), str(tmp_path / "out"))
    evaluation.best_sampler = {k: torch.zeros_like(v) for k, v in gan.sampler.state_dict().items()}
    grid.write_samples(SimpleNamespace(callbacks=[evaluation]), gan)
    with Image.open(tmp_path / "out" / "samples.png") as image:
        pixels = np.array(image.convert("L"))
    # an all-zero generator outputs tanh(0) = 0 everywhere: mid-grey samples (the grid's padding is 0 = black)
    assert set(np.unique(pixels)) <= {0, 127, 128}
    assert (pixels == 0).mean() < 0.5


def test_the_probes_of_pixels_and_a_fixed_network_are_cached_and_equal(digits_evaluation: Evaluation) -> None:
    from ganforge.networks import MLPDiscriminator

    trained, fixed = MLPDiscriminator((1, 28, 28), hidden_dim=16), MLPDiscriminator((1, 28, 28), hidden_dim=16)
    for entry in digits_evaluation.cache_dir.glob("probe-*.json"):  # other tests' entries (the same pixel probe)
        entry.unlink()
    before = set(digits_evaluation.cache_dir.glob("probe-*.json"))
    first = digits_evaluation.at_end({"d": trained}, {"random_d": fixed})
    written = set(digits_evaluation.cache_dir.glob("probe-*.json")) - before
    assert len(written) == 2  # pixels and the fixed network; never the trained D
    second = digits_evaluation.at_end({"d": trained}, {"random_d": fixed})
    assert first == second and "probe/random_d_10labels" in first and "probe/d_10labels" in first
    with torch.no_grad():
        next(fixed.parameters()).add_(1.0)  # other weights: another cache entry, another result
    third = digits_evaluation.at_end({"d": trained}, {"random_d": fixed})
    assert len(set(digits_evaluation.cache_dir.glob("probe-*.json")) - before) == 3
    assert third["probe/pixels_10labels"] == first["probe/pixels_10labels"]


def test_after_a_resume_samples_png_reads_the_best_weights_back_from_best_ckpt(tiny_cfg, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from PIL import Image

    from ganforge.callbacks import EvaluationCallback, SampleGrid
    from ganforge.train import build

    gan = build(tiny_cfg())[0]  # EMA on (the default): the sampler is generator_ema.module
    grid = SampleGrid(str(tmp_path / "out"))
    grid.fixed_noise = torch.randn(16, gan.latent_dim, generator=torch.Generator().manual_seed(0))
    evaluation = EvaluationCallback(Evaluation(), str(tmp_path / "out"))
    evaluation.load_state_dict({"best": {"best/fid180": 1.0}, "best_step": 5})  # as a resumed run has it
    zeros = {k: torch.zeros_like(v) for k, v in gan.state_dict().items()}
    evaluation.best_path.parent.mkdir(parents=True)
    torch.save({"state_dict": zeros}, evaluation.best_path)
    grid.write_samples(SimpleNamespace(callbacks=[evaluation]), gan)
    with Image.open(tmp_path / "out" / "samples.png") as image:
        pixels = np.array(image.convert("L"))
    assert set(np.unique(pixels)) <= {0, 127, 128}  # the all-zero best generator's mid-grey, not the live one's
