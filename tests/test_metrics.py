"""Metrics of the 2-D mixtures on constructed samples (hand-computed numbers), and the metric registry."""

import math

import pytest
import torch

from ganforge.data import GaussianMixtureDataModule, grid_centers, ring_centers
from ganforge.metrics import REGISTRY, Evaluation, mode_metrics, register
from ganforge.metrics.sliced import sliced_wasserstein

STD = 0.01


def on_modes(centers: torch.Tensor, per_mode: list[int], offset: float = 0.0) -> torch.Tensor:
    """``per_mode[k]`` samples at centre k, shifted by ``offset`` along x (in units of STD)."""
    points = [centers[k].expand(n, 2) for k, n in enumerate(per_mode)]
    return torch.cat(points) + torch.tensor([offset * STD, 0.0])


def test_all_eight_modes_evenly() -> None:
    report = mode_metrics(on_modes(ring_centers(), [100] * 8, offset=1.0), ring_centers(), STD)
    assert (report.modes, report.hq_fraction, report.reverse_kl) == (8, 1.0, pytest.approx(0.0, abs=1e-12))


def test_four_of_eight_modes() -> None:
    report = mode_metrics(on_modes(ring_centers(), [200, 0, 200, 0, 200, 0, 200, 0]), ring_centers(), STD)
    assert report.modes == 4 and report.hq_fraction == 1.0
    assert report.reverse_kl == pytest.approx(math.log(2))  # 4 equal modes of 8: sum 1/4 log(8/4)


def test_samples_off_mode_are_not_high_quality() -> None:
    samples = torch.cat([on_modes(ring_centers(), [50] * 8), on_modes(ring_centers(), [50] * 8, offset=3.5)])
    report = mode_metrics(samples, ring_centers(), STD)
    assert report.hq_fraction == 0.5 and report.modes == 8 and report.modes_fifth == 8  # 50 HQ >= 0.2 * 800 / 8
    nothing = mode_metrics(torch.full((10, 2), 9.0), ring_centers(), STD)
    assert (nothing.modes, nothing.hq_fraction) == (0, 0.0) and math.isnan(nothing.reverse_kl)  # undefined


def test_pacgan_protocol_a_point_at_exactly_three_std_is_not_high_quality() -> None:
    centers, std = grid_centers(), 0.25  # 3 std = 0.75 exactly, and so is the distance below
    at_three = mode_metrics(torch.tensor([[0.75, 0.0], [2.0, -0.75]]), centers, std)
    assert at_three.hq_fraction == 0.0 and at_three.modes == 0
    inside = mode_metrics(torch.tensor([[0.7499, 0.0]]), centers, std)
    assert inside.hq_fraction == 1.0 and inside.counts[12] == 1  # grid_centers()[12] is (0, 0)


def test_pacgan_protocol_one_high_quality_sample_captures_a_mode() -> None:
    centers = ring_centers()
    report = mode_metrics(on_modes(centers, [300, 1, 0, 0, 0, 0, 0, 0]), centers, STD)
    assert report.modes == 2 and report.modes_fifth == 1  # the stricter count needs 0.2 * 301 / 8 = 7.5 samples


def test_pacgan_protocol_reverse_kl_is_ln_k_minus_the_entropy() -> None:
    centers = grid_centers()
    uniform = mode_metrics(on_modes(centers, [4] * 25, offset=0.5), centers, 0.05)
    assert uniform.reverse_kl == pytest.approx(0.0, abs=1e-12)
    counts = [30, 10] + [0] * 23  # p = (3/4, 1/4): ln 25 - H(p)
    skewed = mode_metrics(on_modes(centers, counts), centers, 0.05)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert skewed.reverse_kl == pytest.approx(math.log(25) - entropy, rel=1e-12)


def test_a_mode_needs_a_fifth_of_its_share_to_count_in_the_stricter_metric() -> None:
    centers = grid_centers()
    per_mode = [100] * 24 + [19]  # 2,419 samples: the threshold is 0.2 * 2419 / 25 = 19.35
    report = mode_metrics(on_modes(centers, per_mode), centers, 0.05)
    assert report.modes_fifth == 24 and report.modes == 25 and report.counts[-1] == 19
    assert report.as_dict() == {"modes": 25.0, "hq": 1.0, "rkl": pytest.approx(report.reverse_kl)}


# --- sliced Wasserstein distance (the 2-D mixtures' distance metric) -------------------------------------------


def test_sliced_wasserstein_is_zero_on_itself_and_the_mean_projected_shift_otherwise() -> None:
    points = torch.randn(1500, 2, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(points, points) == pytest.approx(0.0, abs=1e-12)
    # a shift by v moves every 1-D projection by theta.v: the mean of |theta.v| over unit theta is 2|v|/pi in 2-D
    assert sliced_wasserstein(points, points + torch.tensor([3.0, 4.0]), directions=2048) == pytest.approx(
        2 * 5 / math.pi, rel=0.03
    )


def test_sliced_wasserstein_grows_as_modes_are_dropped() -> None:
    centers = ring_centers()
    real = on_modes(centers, [250] * 8)
    distances = [sliced_wasserstein(on_modes(centers, [2000 // k] * k + [0] * (8 - k)), real) for k in (8, 4, 1)]
    assert distances[0] == pytest.approx(0.0, abs=1e-9) and distances[0] < distances[1] < distances[2]


# --- the registry: a metric is one registered function ---------------------------------------------------------


def test_a_new_metric_is_one_registered_function_and_a_name_in_the_data_config() -> None:
    @register("test_spread", {"spread": False}, needs=("points",))
    def spread(evaluation, samples) -> dict[str, float]:
        """Mean distance of the samples from the origin's ring (lower is better)."""
        return {"spread": float((samples.points.norm(dim=1) - 1).abs().mean())}

    try:
        data = GaussianMixtureDataModule(ring_centers(), STD, num_samples=2000, metrics=["test_spread", "modes"])
        evaluation = Evaluation().prepare(data)
        directions = evaluation.directions()
        assert directions["val/spread2.5k"] is False and directions["val/modes2.5k"] is True
        assert directions["floor/spread200"] is False  # the held-out 10% of 2,000 points
        floor = evaluation.floor()
        assert floor["floor/spread200"] < 0.05 and floor["floor/modes200"] == 8
    finally:
        del REGISTRY["test_spread"]


def test_names_are_structured_so_a_value_ending_in_k_is_monitored_by_its_name(tmp_path) -> None:
    from ganforge.callbacks import EvaluationCallback
    from ganforge.metrics.names import MetricName

    @register("test_rank", {"rank": True}, needs=("points",))
    def rank(evaluation, samples) -> dict[str, float]:
        """A value whose name ends in k, as budgets do (2.5k)."""
        return {"rank": 1.0}

    try:
        data = GaussianMixtureDataModule(ring_centers(), STD, num_samples=2000, metrics=["modes", "test_rank"])
        callback = EvaluationCallback(Evaluation().prepare(data), str(tmp_path), monitor="rank")
        assert callback.monitored() == "val/rank2.5k" == str(MetricName("val", "rank", 2500))
        assert callback.directions()["best/rank2.5k"] is True
    finally:
        del REGISTRY["test_rank"]
    with pytest.raises(ValueError, match=r"value names \['top5'\] end in a digit"):
        register("test_top5", {"top5": True})


def test_metrics_the_data_cannot_serve_are_skipped_not_failed(caplog: pytest.LogCaptureFixture) -> None:
    from ganforge.data import DigitsDataModule

    with caplog.at_level("INFO"):
        evaluation = Evaluation().prepare(DigitsDataModule(metrics=["modes", "swd"]))
    assert not evaluation.ready and evaluation.directions() == {}
    assert "metric modes skipped: digits has no modes" in caplog.text
    assert "metric swd skipped: digits has no points" in caplog.text


def test_unknown_metric_names_are_a_config_error() -> None:
    from ganforge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data.metrics names unknown metrics \['nope'\]; registered metrics: "):
        Evaluation().prepare(GaussianMixtureDataModule(ring_centers(), STD, num_samples=100, metrics=["nope"]))


def test_mode_spread_is_0_974_for_the_data_zero_for_point_masses_anywhere_and_ignores_off_mode_samples() -> None:
    centers, std = grid_centers(), 0.05
    at_offset = mode_metrics(on_modes(centers, [4] * 25, offset=2.0), centers, STD)
    assert at_offset.spread == pytest.approx(0.0, abs=1e-12)  # point masses 2 std off-centre: no spread ...
    assert at_offset.offset == pytest.approx(2 / math.sqrt(2))  # ... and each mode 2 std (over sqrt(2) std) off
    assert mode_metrics(on_modes(centers, [4] * 25), centers, std).spread == 0.0
    noise = std * torch.randn(100_000, 2, generator=torch.Generator().manual_seed(0))
    data = centers[torch.arange(25).repeat(4000)] + noise
    # a 2-D Gaussian cut at radius 3 std: E[r^2 | r < 3] = 2 - 9 e^-4.5 / (1 - e^-4.5), over 2 -> sqrt = 0.9744
    expected = math.sqrt((2 - 9 * math.exp(-4.5) / (1 - math.exp(-4.5))) / 2)
    report = mode_metrics(data, centers, std)
    assert report.spread == pytest.approx(expected, abs=0.005)
    assert report.offset < 0.03  # 4,000 samples per mode: means ~0.016 (over sqrt(2) std) off the centres
    shifted = mode_metrics(data + torch.tensor([std, 0.0]), centers, std)  # the same modes, 1 std to the side
    # 1 std is 1/sqrt(2) in these units; the 3-std cut about the true centre trims the far side and pulls the means back
    assert 0.6 < shifted.offset < 1 / math.sqrt(2) and shifted.spread < expected
    old_definition = (data - centers[torch.arange(25).repeat(4000)]).norm(dim=1)  # RMS distance to the centre
    hq = old_definition < 3 * std
    assert report.spread**2 + report.offset**2 == pytest.approx(
        float(old_definition[hq].square().mean() / (2 * std**2)), rel=1e-3
    )  # the two parts add up (up to the one degree of freedom per mode)
    assert math.isnan(mode_metrics(torch.full((3, 2), 9.0), centers, std).spread)
    with_strays = torch.cat([on_modes(centers, [4] * 25, offset=2.0), on_modes(centers, [4] * 25, offset=3.5)])
    strays = mode_metrics(with_strays, centers, STD)  # 3.5 std: not high quality, not counted
    assert (strays.spread, strays.offset) == (pytest.approx(0.0, abs=1e-12), pytest.approx(at_offset.offset))
