"""Conversions of a tensor: to another dtype (cast), to another device (to_device), or a copy
(clone). Each gradient comes back converted the other way."""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.tensor import Tensor


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype_in = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return cast(grad, ctx.dtype_in), None


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


class ToDevice(Function):
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
    return Clone.apply(x)


def to_device(x: Tensor, device: str) -> Tensor:
    """``x`` copied to ``device``; the gradient goes back to the original device."""
    return ToDevice.apply(x, backend.normalize_device(device))
