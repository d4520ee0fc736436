"""Conversions of a tensor: to another dtype (cast), to another device (to_device), or a copy
(clone). Each gradient comes back converted the other way."""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.tensor import Tensor


class Cast(Function):
    """y = x converted to ``dtype`` (a copy); gradient grad converted back to x's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype_in = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return cast(grad, ctx.dtype_in), None


class Clone(Function):
    """y = a copy of x with its own array; gradient grad unchanged."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


class ToDevice(Function):
    """y = x on ``device`` (backend.to_device: the same array when x is there already);
    gradient grad moved back to x's device."""

    @staticmethod
    def forward(ctx, x, device):
        ctx.device_in = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, grad):
        return to_device(grad, ctx.device_in), None


def cast(x: Tensor, dtype) -> Tensor:
    """``x`` converted to ``dtype``; the gradient is converted back."""
    dtype = backend.check_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Cast.apply(x, dtype)


def clone(x: Tensor) -> Tensor:
    """A copy of ``x`` with its own array; the gradient passes unchanged."""
    return Clone.apply(x)


def to_device(x: Tensor, device: str) -> Tensor:
    """``x`` copied to ``device``; the gradient goes back to the original device."""
    return ToDevice.apply(x, backend.normalize_device(device))
