"""Switches for the GPU libraries, under PyTorch's names (``torch.backends``).

- ``tc.backends.cuda.matmul.allow_tf32``: float32 matrix products on the GPU may use TF32 tensor
  cores. Default False, as PyTorch's.
- ``tc.backends.cudnn.allow_tf32``: the same for cuDNN convolutions. Default False, where
  PyTorch's is True: our convolution is a matrix product (im2col), so
  ``cuda.matmul.allow_tf32`` is the switch that governs it; this one is kept for a cuDNN path.
- ``tc.set_float32_matmul_precision("highest" | "high" | "medium")`` and
  ``tc.get_float32_matmul_precision()``, PyTorch's other spelling of the matmul switch.

On the CPU (NumPy) every product is exact float32 whatever the switches say. See docs/gpu.md.
"""

from tinygrad_cnn import backend
from tinygrad_cnn.backends import cuda, cudnn

_PRECISIONS = ("highest", "high", "medium")


def set_float32_matmul_precision(precision: str) -> None:
    """``"highest"``: exact float32 products; ``"high"`` or ``"medium"``: TF32 allowed on the GPU
    (the same as ``tc.backends.cuda.matmul.allow_tf32 = True``; there is no bfloat16 mode)."""
    if precision not in _PRECISIONS:
        raise ValueError(f"set_float32_matmul_precision: precision must be one of "
                         f"{', '.join(map(repr, _PRECISIONS))}, got {precision!r}")
    backend.set_matmul_tf32(precision != "highest")


def get_float32_matmul_precision() -> str:
    """``"highest"`` when TF32 products are off, else ``"high"``."""
    return "high" if backend.matmul_tf32() else "highest"


__all__ = ["cuda", "cudnn", "get_float32_matmul_precision", "set_float32_matmul_precision"]
