"""Process-level settings that make training faster, each measured with ``ganforge-bench``."""

import os

import torch


def skip_nvml_probe_without_gpu() -> None:
    """Stop torch from probing NVML at every optimizer step on a machine without a GPU.

    Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (so that checking for CUDA does not initialise it before
    a fork), and then every ``Adam.step`` asks ``torch.cuda.is_available()``, which loads libnvidia-ml and
    calls nvmlInit each time: ~0.15 ms per optimizer step on our CPU machines, ~3% of a reference MLP step at
    batch 128. With no CUDA device there is nothing a fork could inherit, so the plain check is safe.
    """
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"

