"""Purpose-built CUDA kernels for the GPU path, chosen from the data's array module.

``tinygrad_cnn/ops`` keeps one description of each op; where a CUDA kernel does the same work in
fewer launches, the op asks :func:`enabled_for` with its ``xp`` and calls the kernel's launcher
from this package instead of the generic array-module code. ``TINYGRAD_CNN_CUDA_KERNELS=0``
turns the kernels off (the generic CuPy path is then used, e.g. to compare the two).
"""

from .kernel import (
    ALL_KERNELS,
    ENV_SWITCH,
    Kernel,
    enabled_for,
    running_on_host,
    wait_for_compiles,
)

__all__ = ["ALL_KERNELS", "ENV_SWITCH", "Kernel", "enabled_for", "running_on_host",
           "wait_for_compiles"]
