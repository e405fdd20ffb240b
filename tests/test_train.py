"""End to end through Hydra's compose API: what a run writes, what TensorBoard shows, and exact resume."""

import copy
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from ganforge.train import build, train

SCALARS = {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "train/d_accuracy"}


def events(run_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def logged_hparams(accumulator: EventAccumulator) -> dict[str, object]:
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {
        key: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
        for key, value in info.hparams.items()
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import TINY, compose_config

    run_dir = tmp_path_factory.mktemp("e2e")
    metrics = train(compose_config(run_dir, *TINY, "model.hidden_dim=32"))
    assert set(metrics) >= SCALARS
    return run_dir


def test_tensorboard_holds_scalars_images_and_hparams(finished_run: Path) -> None:
    accumulator = events(finished_run)
    assert set(accumulator.Tags()["scalars"]) >= SCALARS
    d_real = [event.value for event in accumulator.Scalars("train/d_real")]
    accuracy = [event.value for event in accumulator.Scalars("train/d_accuracy")]
    assert len(d_real) == len(accuracy) == 6 and all(map(math.isfinite, d_real))  # 2 epochs x 3 batches
    assert all(0 <= v <= 1 for v in accuracy)  # a share of (real, fake) pairs
    grids = accumulator.Images("samples/fixed_noise")
    assert [g.step for g in grids] == [3, 6]  # one grid per epoch, on the same batch axis as the scalars
    hparams = logged_hparams(accumulator)
    assert hparams["model/hidden_dim"] == 32 and hparams["optim/lr_g"] == pytest.approx(2e-4)


def test_a_run_shorter_than_the_grid_interval_shows_its_last_grid(tiny_cfg, tmp_path: Path) -> None:
    # 2 epochs x 3 batches, a grid every 250 steps: none on the interval, one at the end (test above: a last step on
    # the interval is logged once, not twice)
    train(tiny_cfg("callbacks.sample_grid.every_n_steps=250", "callbacks.evaluation=null"))
    grids = events(tmp_path / "run").Images("samples/fixed_noise")
    assert [grid.step for grid in grids] == [6]


def test_run_dir_holds_checkpoint_and_samples(finished_run: Path) -> None:
    assert (finished_run / "checkpoints" / "last.ckpt").is_file()
    from PIL import Image

    with Image.open(finished_run / "samples.png") as image:
        assert image.size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)  # 64 samples in an 8x8 grid, 2-pixel padding


class RestoredState(L.Callback):
    """Captures the state a resumed run starts from (after Lightning restored the checkpoint)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.global_step = trainer.global_step
        self.epoch = trainer.current_epoch
        self.optimizer_states = [copy.deepcopy(opt.state_dict()) for opt in trainer.optimizers]
        self.weights = {k: v.clone() for k, v in pl_module.state_dict().items()}
        grid = next(cb for cb in trainer.callbacks if type(cb).__name__ == "SampleGrid")
        self.fixed_noise = grid.fixed_noise.clone()


def test_resume_restores_optimizers_fixed_noise_and_counters(tiny_cfg) -> None:
    first = tiny_cfg(name="first")
    train(first)
    ckpt_path = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(ckpt_path, weights_only=True)

    spy = RestoredState()
    resumed = tiny_cfg("trainer.max_epochs=3", f"ckpt_path={ckpt_path}", "seed=123", name="resumed")
    gan, datamodule, trainer = build(resumed, [spy])
    trainer.fit(gan, datamodule=datamodule, ckpt_path=resumed.ckpt_path, weights_only=True)  # into a new run dir

    assert spy.global_step == checkpoint["global_step"] == 2 * 2 * 3  # 2 optimizer steps x 3 batches x 2 epochs
    assert spy.epoch == checkpoint["epoch"] == 2  # written when training ended: the next run starts epoch 2
    for restored, saved in zip(spy.optimizer_states, checkpoint["optimizer_states"], strict=True):
        assert restored["state"][0]["step"] == saved["state"][0]["step"] == 6
        assert torch.equal(restored["state"][0]["exp_avg"], saved["state"][0]["exp_avg"])
        assert torch.equal(restored["state"][0]["exp_avg_sq"], saved["state"][0]["exp_avg_sq"])
    for name, value in checkpoint["state_dict"].items():
        assert torch.equal(spy.weights[name], value), name
    # seed=123 would draw other fixed noise: the checkpoint's must win
    assert torch.equal(spy.fixed_noise, checkpoint["callbacks"]["SampleGrid"]["fixed_noise"])
    assert trainer.global_step == 2 * 3 * 3


def test_without_an_image_logger_the_grid_still_reaches_samples_png(tiny_cfg) -> None:
    cfg = tiny_cfg("~logger", "trainer.max_epochs=1")
    with pytest.warns(UserWarning, match="No logger accepts images; sample grids are only written to"):
        train(cfg)
    assert (Path(cfg.paths.output_dir) / "samples.png").is_file()


GAN_TAGS = ("train/d_loss", "train/g_loss", "train/d_real")
# the semi-supervised task (module=ssl) with its preset's networks; a learning-rate decay would span each part's length
SSL = ("experiment=ssl_digits", "data.labeled.per_class=2", "callbacks.lr_decay=null")
SSL_TAGS = ("train/d_loss", "train/labeled_ce", "train/feature_matching", "train/unlabeled_loss")


@pytest.mark.parametrize(
    ("extra", "tags"),
    [((), GAN_TAGS), (("augment=diffaugment", "ema.decay=0.9"), GAN_TAGS), (SSL, SSL_TAGS)],
    ids=["default", "augment-ema", "ssl"],
)
def test_a_resumed_run_equals_the_uninterrupted_run(
    tiny_cfg, tmp_path: Path, extra: tuple[str, ...], tags: tuple[str, ...]
) -> None:
    """2N steps in one go vs N steps + resume for N: the same weights, optimizer states and logged losses, for each
    task."""
    train(tiny_cfg("trainer.max_epochs=4", *extra, name="straight"))
    train(tiny_cfg("trainer.max_epochs=2", *extra, name="resumed"))
    train(tiny_cfg("trainer.max_epochs=4", "ckpt_path=last", *extra, name="resumed"))
    straight, resumed = (
        torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True) for name in ("straight", "resumed")
    )
    assert straight["global_step"] == resumed["global_step"] == 4 * 3 * 2
    for name, value in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), name
    for a, b in zip(straight["optimizer_states"], resumed["optimizer_states"], strict=True):
        for key in ("exp_avg", "exp_avg_sq"):
            assert all(torch.equal(a["state"][i][key], b["state"][i][key]) for i in a["state"])
    for tag in tags:
        after = {
            name: [(e.step, e.value) for e in events(tmp_path / name).Scalars(tag) if e.step > 2 * 3]
            for name in ("straight", "resumed")
        }
        assert len(after["straight"]) == 2 * 3 and after["straight"] == after["resumed"], tag


def test_bf16_mixed_precision_trains(tiny_cfg, tmp_path: Path) -> None:
    # (Lightning's own model summary only warns that it sizes bf16 weights as 32-bit)
    cfg = tiny_cfg("trainer.precision=bf16-mixed", "callbacks.evaluation=null", "+trainer.enable_model_summary=false")
    metrics = train(cfg)
    assert all(math.isfinite(metrics[name]) for name in ("train/d_loss", "train/g_loss"))
    assert (tmp_path / "run" / "samples.png").is_file()


class FirstBatches(L.Callback):
    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if batch_idx == 0:
            self.batches.append(batch.clone())


def test_every_epoch_trains_on_a_new_order_of_batches(tiny_cfg) -> None:
    spy = FirstBatches()
    train(tiny_cfg("trainer.max_epochs=3", "callbacks.evaluation=null"), extra_callbacks=[spy])
    assert len(spy.batches) == 3
    assert not torch.equal(spy.batches[0], spy.batches[1]) and not torch.equal(spy.batches[1], spy.batches[2])


def test_a_folder_run_with_dcgan_writes_checkpoints_at_the_configured_interval(tmp_path: Path) -> None:
    """Periodic work counts generator updates: 8 updates of a 200-photo folder with checkpoints every 2 and 3."""
    from tests.conftest import TINY, compose_config
    from tests.datafiles import write_photo_folder

    folder = write_photo_folder(tmp_path / "photos", n=200, size=28)
    run = tmp_path / "run"
    cfg = compose_config(
        run, *TINY, "model=dcgan", "model.width=8", "data=folder", f"data.path={folder}", "data.image_size=28",
        "data.batch_size=16", "trainer.max_epochs=2", "trainer.limit_train_batches=4", "callbacks.evaluation=null",
        "callbacks.last_checkpoint.every_n_steps=3", "callbacks.periodic_checkpoint.every_n_steps=2",
    )  # fmt: skip
    train(cfg)
    names = sorted(path.name for path in (run / "checkpoints").iterdir())
    assert names == ["last.ckpt", *(f"step{step:07d}.ckpt" for step in (2, 4, 6, 8))]
    # and nothing else anywhere in the run (Lightning's own ModelCheckpoint wrote one at every epoch's end)
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*.ckpt")) == [f"checkpoints/{n}" for n in names]
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["ganforge_counters"]["generator_updates"] == 8  # rewritten at 3, 6 and when training ended
