"""Process-level settings that make training faster, each measured with ``ganforge-bench``."""

import ctypes
import ctypes.util
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


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def reuse_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Let glibc keep freed tensor memory for the next step instead of returning it to the OS.

    By default glibc serves blocks above a (dynamic) threshold with fresh ``mmap`` pages and trims the heap once
    a few MB are free, so every training step re-faults the pages of its large activations: ~1,100 page faults
    per step for the reference MLP at batch 1024, which made tanh's backward take 1.2-1.6 ms in the step against
    0.14 ms on reused memory. Serving blocks below 32 MB from the heap and trimming only above 256 MB free: ~0
    faults per step and 28,300-29,900 -> 31,400-32,500 images/s (``ganforge-bench``-style runs of ours, batch
    1024, 1 thread). The cost: the process keeps up to ``trim_threshold`` of freed memory mapped.

    A no-op where the C library is not glibc, or with ``GANFORGE_MALLOC_TUNING=0``. Returns whether it applied.
    """
    if os.environ.get("GANFORGE_MALLOC_TUNING", "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # macOS and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))
