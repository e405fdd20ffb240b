"""ganforge: train, measure and compare GANs on unlabeled data (PyTorch Lightning + Hydra)."""

__version__ = "0.1.0"
