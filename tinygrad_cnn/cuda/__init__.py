"""Purpose-built CUDA kernels for the GPU path, chosen from the data's array module.

``tinygrad_cnn/ops`` keeps one description of each op; where a CUDA kernel does the same work in
fewer launches, the op asks :func:`enabled_for` with its ``xp`` and calls the kernel's launcher
from this package instead of the generic array-module code. ``TINYGRAD_CNN_CUDA_KERNELS=0``
turns the kernels off (the generic CuPy path is then used, e.g. to compare the two).

``tc.cuda.is_available()``, ``device_count()`` and ``synchronize()`` are PyTorch's
``torch.cuda`` functions of those names (for code written against ``torch.cuda``).
"""

from tinygrad_cnn.backend import gpu_available as is_available
from tinygrad_cnn.backend import gpu_device_count as device_count
from tinygrad_cnn.backend import synchronize

from .kernel import (
    ALL_KERNELS,
    ENV_SWITCH,
    Kernel,
    enabled_for,
    running_on_host,
    wait_for_compiles,
)

__all__ = ["ALL_KERNELS", "ENV_SWITCH", "Kernel", "device_count", "enabled_for", "is_available",
           "running_on_host", "synchronize", "wait_for_compiles"]
