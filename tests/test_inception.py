"""metrics.features=inception: a local weights file, else the library's own download; offline, one message naming
both ways, before training. No test touches the network (conftest's offline_inception; patched here)."""

from pathlib import Path

import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as fidelity

from ganforge.errors import ConfigError
from ganforge.metrics.inception import inception_features, weights_url
from ganforge.train import train
from tests.conftest import TINY, compose_config
from tests.faults import SideEffect


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights file in the format of the real one: a randomly initialised FeatureExtractorInceptionV3's state."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        with torch.random.fork_rng():
            torch.manual_seed(0)
            network = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / "weights.pth"
    torch.save(network.state_dict(), path)
    return path


def test_a_weights_file_is_used_and_nothing_is_downloaded(random_weights: Path) -> None:
    features = inception_features(str(random_weights))  # conftest: any download would raise
    saved = torch.load(random_weights, weights_only=True)
    loaded = features.inception.state_dict()
    assert all(torch.equal(loaded[name], saved[name]) for name in saved)
    images = torch.rand(2, 1, 8, 8) * 2 - 1  # grey, tiny: resized to 299 px inside
    with torch.no_grad():
        assert features(images).shape == (2, 2048)


def test_without_a_file_the_library_download_and_cache_are_used(
    monkeypatch: pytest.MonkeyPatch, random_weights: Path
) -> None:
    asked = []

    def cached_download(url: str, *args: object, **kwargs: object) -> dict:
        asked.append(url)
        return torch.load(random_weights, weights_only=True)

    monkeypatch.setattr(fidelity, "load_state_dict_from_url", cached_download)
    inception_features(None)
    assert asked == [weights_url()]


def test_offline_without_a_file_stops_before_training_naming_both_ways(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path / "run", *TINY, "metrics.features=inception")
    with pytest.raises(ConfigError) as error:
        train(cfg)
    message = str(error.value)
    assert "could not be downloaded (URLError" in message
    assert "metrics.weights_path=<file>" in message and "weights-inception-2015-12-05-6726825d.pth" in message
    assert "reachable" in message and "metrics.features=labelfree" in message
    assert not (tmp_path / "run" / "checkpoints").exists()  # stopped before the first training step


def test_a_missing_or_unsafe_weights_file_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"metrics.weights_path=.*missing.pth does not exist.*reachable"):
        inception_features(str(tmp_path / "missing.pth"))
    torch.save({"x": SideEffect(tmp_path / "pwned")}, tmp_path / "evil.pth")
    with pytest.raises(ConfigError, match=r"evil.pth is not a readable weights file of tensors"):
        inception_features(str(tmp_path / "evil.pth"))
    assert not (tmp_path / "pwned").exists()
