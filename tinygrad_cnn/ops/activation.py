"""Activations beyond the core elementwise set: erf, gelu, softplus, hardtanh, relu6, ..."""

from __future__ import annotations

import math

from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import elementwise
from tinygrad_cnn.tensor import Tensor

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_ERF_SPLIT = 2.5        # |x| below: power series; above: continued fraction for erfc
_SERIES_TERMS = 50      # enough for 1e-16 relative error at |x| = 2.5
_FRACTION_TERMS = 40    # enough for 1e-16 absolute error at |x| = 2.5


def erf_array(xp, x):
    """erf(x) of a float array to about 1e-15 (NumPy has no erf; CuPy's needs SciPy's API).

    |x| < 2.5: erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)), a series
    of positive terms (no cancellation). |x| >= 2.5: erfc(x) = exp(-x^2)/sqrt(pi) / K(x) with
    Laplace's continued fraction K(x) = x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))).
    The loops run over series terms, never over elements.
    """
    a = xp.abs(x)
    s = xp.minimum(a, _ERF_SPLIT)
    term = s.copy()
    total = s.copy()
    two_s2 = 2.0 * s * s
    for n in range(1, _SERIES_TERMS):
        term = term * two_s2 / (2 * n + 1)
        total = total + term
    small = _TWO_OVER_SQRT_PI * xp.exp(-s * s) * total
    b = xp.maximum(a, _ERF_SPLIT)
    fraction = b.copy()
    for k in range(_FRACTION_TERMS, 0, -1):
        fraction = b + (0.5 * k) / fraction
    large = 1.0 - xp.exp(-b * b) / (math.sqrt(math.pi) * fraction)
    return (xp.sign(x) * xp.where(a < _ERF_SPLIT, small, large)).astype(x.dtype, copy=False)


class Erf(Function):
    """y = erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt"""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return erf_array(ctx.xp, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (_TWO_OVER_SQRT_PI * elementwise.exp(-(x * x)))   # d erf/dx = 2/√π e^(-x²)


def erf(x: Tensor) -> Tensor:
    """The error function, elementwise (float tensors)."""
    return Erf.apply(elementwise.floating(x))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x * Phi(x), Phi the standard normal CDF: 0.5 x (1 + erf(x / sqrt 2)).

    ``approximate='tanh'``: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as in PyTorch.
    """
    x = elementwise.floating(x)
    if approximate == "none":
        return x * (0.5 * (1.0 + erf(x * (1.0 / math.sqrt(2.0)))))
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))
        return x * (0.5 * (1.0 + elementwise.tanh(inner)))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


class Softplus(Function):
    """y = log(1 + exp(x)) computed as max(x, 0) + log1p(exp(-|x|)) (no overflow)."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        ctx.save_for_backward(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * elementwise.sigmoid(x)                    # d softplus/dx = sigmoid(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta; where beta x > threshold it is x itself (as PyTorch)."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    x = elementwise.floating(x)
    scaled = x * beta if beta != 1.0 else x
    soft = Softplus.apply(scaled)
    if beta != 1.0:
        soft = soft * (1.0 / beta)
    return elementwise.where(scaled > threshold, x, soft)


class Hardtanh(Function):
    """y = clamp(x, min_val, max_val); the gradient passes strictly inside (min_val, max_val)."""

    @staticmethod
    def forward(ctx, x, min_val, max_val):
        xp = ctx.xp
        ctx.save_for_backward(((x > min_val) & (x < max_val)).astype(x.dtype))
        return xp.clip(x, min_val, max_val).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors     # piecewise linear: the mask is a constant
        return grad * inside, None, None


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """clamp(x, min_val, max_val); gradient 1 strictly between them, 0 elsewhere (as PyTorch)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return Hardtanh.apply(x, min_val, max_val)


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6) = hardtanh(x, 0, 6); gradient 0 at x = 0 and x = 6 (as PyTorch)."""
    return Hardtanh.apply(x, 0, 6)
