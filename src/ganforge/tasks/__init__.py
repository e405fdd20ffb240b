"""Tasks: one LightningModule each, selected by ``conf/module/<name>.yaml`` (generation: ``ganforge.gan.GAN``; the
semi-supervised classifier: ``ganforge.semisupervised.SemiSupervisedGAN``), over the shared base in ``base.py``."""

from ganforge.tasks.base import Accepts, AdversarialTask, OptimizerFactory

__all__ = ["Accepts", "AdversarialTask", "OptimizerFactory"]
