"""What the layer modules share: a zero Parameter for an initialiser to fill, and input checks
whose errors name the layer."""

from __future__ import annotations

from tinygrad_cnn import backend, creation
from tinygrad_cnn.nn.module import Module, Parameter
from tinygrad_cnn.tensor import Tensor


def zeros_parameter(shape, device, dtype) -> Parameter:
    """A Parameter of zeros of ``shape`` (the layer's initialiser fills it)."""
    return Parameter(creation.zeros(shape, dtype=dtype, device=device))


def check_ndim(layer: Module, x: Tensor, ndims: tuple[int, ...], layout: str) -> None:
    """Raise naming ``layer`` unless ``x`` is a Tensor with one of ``ndims`` dimensions
    (``layout`` describes them, e.g. "(N, C, H, W)")."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer!r}: expected a Tensor input, got {type(x).__name__}")
    if x.ndim not in ndims:
        raise backend.ShapeError(f"{layer!r}: expected a "
                                 f"{' or '.join(f'{n}-D' for n in ndims)} input {layout}, got "
                                 f"shape {x.shape}")


def check_channels(layer: Module, x: Tensor, expected: int) -> None:
    """Raise naming ``layer`` unless ``x``'s dimension 1 (channels) is ``expected``."""
    if x.shape[1] != expected:
        raise backend.ShapeError(f"{layer!r}: expected {expected} input channels, got "
                                 f"{x.shape[1]} (input shape {x.shape})")
