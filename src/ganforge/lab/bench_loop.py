"""The hand-written training script that ``ganforge-bench run`` times ``ganforge-train`` against.

What a person writes without a framework for the reference MLP GAN on the digits: the data as one tensor, randperm
slicing, ``torch.optim.Adam`` with its default implementation, one G forward detached for D and reused for G, and
the same periodic work as ganforge's default run (a checkpoint of both networks and optimizers every
``--checkpoint-every`` G updates and at the end, a 64-sample grid PNG every ``--grid-every`` and at the end). It uses
the networks' speed-ups of ``ganforge.perf`` (the same kernels), so the comparison is of everything around them.
Imports only torch, torchvision, scikit-learn and ``ganforge.perf``, as such a script would.

    python -m ganforge.lab.bench_loop --epochs 50 --out /tmp/hand
"""

import argparse
import itertools
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torchvision.utils import make_grid, save_image

from ganforge.perf import fast_tanh, reuse_freed_memory, skip_nvml_probe_without_gpu


def digits(image_size: int = 28, heldout: float = 0.1) -> torch.Tensor:
    """The digits' 90% training split as (N, 1, S, S) floats in [-1, 1]."""
    images = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 16 * 2 - 1
    images = F.interpolate(images, size=image_size, mode="bilinear", align_corners=False).clamp(-1, 1)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return images[order[round(heldout * len(images)) :]].contiguous()


def mlp(sizes: list[int], last: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.2) if i < len(sizes) - 2 else last]
    return nn.Sequential(*layers)


def train(epochs: int, batch_size: int, checkpoint_every: int, grid_every: int, out: Path, seed: int = 0) -> int:
    """The whole run; returns the number of G updates."""
    torch.manual_seed(seed)
    data = digits().flatten(1)
    generator, discriminator = mlp([100, 128, 128, 784], nn.Tanh()), mlp([784, 128, 128, 1], nn.Identity())
    fast_tanh(generator)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    fixed = torch.randn(64, 100, generator=torch.Generator().manual_seed(seed))
    out.mkdir(parents=True, exist_ok=True)

    def checkpoint() -> None:
        state = {"g": generator.state_dict(), "d": discriminator.state_dict(), "opt_g": opt_g.state_dict(),
                 "opt_d": opt_d.state_dict(), "step": step}  # fmt: skip
        torch.save(state, out / "last.pt")

    def grid(name: str) -> None:
        with torch.no_grad():
            samples = generator(fixed).view(-1, 1, 28, 28)
        save_image(make_grid(samples, nrow=8, normalize=True, value_range=(-1, 1)), out / name)

    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(data))
        for i in range(0, len(data) - batch_size + 1, batch_size):
            real = data[order[i : i + batch_size]]
            fake = generator(torch.randn(batch_size, 100))
            d_loss = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake.detach())).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.softplus(-discriminator(fake)).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            step += 1
            if step % checkpoint_every == 0:
                checkpoint()
            if step % grid_every == 0:
                grid("grid.png")
    checkpoint()
    grid("samples.png")
    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--grid-every", type=int, default=250)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    skip_nvml_probe_without_gpu()
    reuse_freed_memory()
    start = time.perf_counter()
    steps = train(args.epochs, args.batch_size, args.checkpoint_every, args.grid_every, args.out)
    print(f"{steps} steps in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
