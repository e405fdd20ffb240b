"""``ganforge-sample ckpt=<run dir or checkpoint> n=64``: samples of a trained GAN (its EMA generator when on).

Writes to <run dir>/samples/<checkpoint>-<time>/: ``grid.png``, ``images/00000.png ...`` (one file per sample, for
external FID tools) and, with ``interpolate=true``, ``interpolation.png``: each row walks the latent space between
two random z (spherical interpolation, which keeps z at the norm the generator was trained on). The data's preview
renderer draws them: 2-D points are written as ``samples.csv`` and ``scatter.png`` instead of images.
"""

import logging
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torch import Tensor
from torchvision.utils import save_image

from ganforge.config import validate
from ganforge.errors import GanforgeError
from ganforge.evaluate import CONFIG_DIR, check_output_dir, checked_ckpt, output_folder
from ganforge.rules import boolean, integer, seed
from ganforge.runs import load_datamodule, load_gan
from ganforge.tasks import AdversarialTask

log = logging.getLogger(__name__)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of a and b (N, D) at fractions t (T,) -> (N, T, D)."""
    a_unit, b_unit = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((a_unit * b_unit).sum(dim=1).clamp(-1, 1))[:, None, None]  # (N, 1, 1)
    t = t[None, :, None]
    sin = torch.sin(omega).clamp_min(1e-8)
    return (torch.sin((1 - t) * omega) * a[:, None] + torch.sin(t * omega) * b[:, None]) / sin


@torch.no_grad()
def generate(gan: AdversarialTask, z: Tensor) -> Tensor:
    return torch.cat([gan.sampler(batch) for batch in z.split(500)]).float()


def interpolation(gan: AdversarialTask, rows: int, steps: int, noise: torch.Generator) -> Tensor:
    """(rows * steps, *shape) samples: row r walks from one random z to another in ``steps`` steps."""
    start, end = gan.sample_noise(rows, noise), gan.sample_noise(rows, noise)
    path = slerp(start, end, torch.linspace(0, 1, steps))
    return generate(gan, path.reshape(rows * steps, -1))


# conf/sample.yaml's own keys (ckpt and checkpoint: checked_ckpt; output_dir: check_output_dir)
RULES = (
    integer("n", 1, "64"), seed("seed"), boolean("interpolate"),
    integer("interpolation.rows", 1, "8"), integer("interpolation.steps", 1, "8"),
)  # fmt: skip


def sample(cfg: DictConfig) -> Path:
    validate(cfg, RULES, one_line=True)
    run_dir, checkpoint = checked_ckpt(cfg, "ganforge-sample")
    check_output_dir(cfg)
    run_cfg, gan = load_gan(run_dir, checkpoint.name)
    noise = torch.Generator().manual_seed(cfg.seed)
    samples = generate(gan, gan.sample_noise(cfg.n, noise))
    output = output_folder(cfg, run_dir, "samples", checkpoint)
    datamodule = load_datamodule(run_cfg, run_dir)
    preview = datamodule.preview
    preview.prepare(datamodule)
    preview.save(samples, output)
    if cfg.interpolate:
        walk = interpolation(gan, cfg.interpolation.rows, cfg.interpolation.steps, noise)
        save_image(preview.render(walk, nrow=cfg.interpolation.steps), output / "interpolation.png")
    log.info("%d samples of %s written to %s", cfg.n, checkpoint, output)
    return output


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="sample")
def main(cfg: DictConfig) -> None:
    try:
        sample(cfg)
    except GanforgeError as error:
        log.error("%s", error)
        sys.exit(2)


if __name__ == "__main__":
    main()
