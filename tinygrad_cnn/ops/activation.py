"""Activations: relu, leaky_relu, erf, gelu, softplus, hardtanh, relu6, the ELU family, silu,
mish, prelu, ...

On the GPU, ReLU and Hardtanh (and their backward ops) take one CUDA kernel launch each for
contiguous float32/float64 arrays (``cuda/activation.py``); elsewhere they run array code.
"""

from __future__ import annotations

import math

from tinygrad_cnn import parallel
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.cuda import activation as cuda_activation
from tinygrad_cnn.ops import elementwise
from tinygrad_cnn.ops import shape as shape_ops
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


class ReLU(Function):
    """y = max(x, 0), x's dtype; gradient grad * (y > 0) through ReLUGrad, from the saved
    output (no mask array kept), so 0 at x = 0. C-contiguous float32/float64 arrays on the GPU
    take one CUDA kernel (cuda/activation.py); a large NumPy array is split by rows over the
    CPU threads (parallel.row_ranges)."""

    @staticmethod
    def forward(ctx, x):
        xp, zero = ctx.xp, x.dtype.type(0)
        if cuda_activation.usable(xp, x):
            y = cuda_activation.relu(xp, x)                                       # one kernel
            ctx.save_for_backward(y)
            return y
        ranges = parallel.row_ranges(xp, x.shape[0] if x.ndim else 1, x.nbytes)
        if len(ranges) == 1:
            y = xp.maximum(x, zero)
        else:  # a large NumPy map: each thread takes its rows
            y = xp.empty_like(x)
            parallel.batch_map(lambda a, b: xp.maximum(x[a:b], zero, out=y[a:b]), ranges)
        ctx.save_for_backward(y)  # the output: y > 0 exactly where x > 0, no mask array kept
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ReLUGrad.apply(grad, y)


class ReLUGrad(Function):
    """g * (y > 0): ReLU's backward from its output y, one pass and one new array. The mask is
    piecewise constant, so the derivative in y is 0 and in g the same mask."""

    @staticmethod
    def forward(ctx, g, y):
        xp = ctx.xp
        ctx.save_for_backward(y)
        if cuda_activation.usable(xp, g, y):
            return cuda_activation.relu_grad(xp, g, y)                            # one kernel
        ranges = parallel.row_ranges(xp, g.shape[0] if g.ndim else 1, g.nbytes)
        if len(ranges) == 1 or g.shape != y.shape:
            return g * (y > 0)
        out = xp.empty(g.shape, dtype=xp.result_type(g, bool))
        parallel.batch_map(lambda a, b: xp.multiply(g[a:b], y[a:b] > 0, out=out[a:b]), ranges)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return ReLUGrad.apply(grad, y), None


def relu(x: Tensor) -> Tensor:
    """max(x, 0); gradient 0 at x == 0, as in PyTorch."""
    return ReLU.apply(x)


class LeakyReLU(Function):
    """y = x * slope, slope 1 where x > 0 and negative_slope elsewhere (in x's dtype);
    gradient grad * slope, the saved slope array."""

    @staticmethod
    def forward(ctx, x, negative_slope):
        slope = ctx.xp.where(x > 0, 1.0, negative_slope).astype(x.dtype)
        ctx.save_for_backward(slope)
        return x * slope

    @staticmethod
    def backward(ctx, grad):
        (slope,) = ctx.saved_tensors
        return grad * slope, None


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    return LeakyReLU.apply(x, float(negative_slope))


class Hardtanh(Function):
    """y = clamp(x, min_val, max_val); the gradient passes strictly inside (min_val, max_val)."""

    @staticmethod
    def forward(ctx, x, min_val, max_val):
        xp = ctx.xp
        ctx.bounds = (min_val, max_val)
        ctx.save_for_backward(x)          # the backward's mask comes from x: no mask array kept
        if cuda_activation.usable(xp, x):
            return cuda_activation.hardtanh(xp, x, min_val, max_val)               # one kernel
        return xp.clip(x, min_val, max_val).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return HardtanhGrad.apply(grad, x, *ctx.bounds), None, None


class HardtanhGrad(Function):
    """g * (min_val < x < max_val): Hardtanh's backward. The mask is piecewise constant, so
    the derivative in x is 0 and in g the same mask."""

    @staticmethod
    def forward(ctx, g, x, min_val, max_val):
        xp = ctx.xp
        ctx.bounds = (min_val, max_val)
        ctx.save_for_backward(x)
        if cuda_activation.usable(xp, g, x):
            return cuda_activation.hardtanh_grad(xp, g, x, min_val, max_val)       # one kernel
        return g * ((x > min_val) & (x < max_val))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return HardtanhGrad.apply(grad, x, *ctx.bounds), None, None, None


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """clamp(x, min_val, max_val); gradient 1 strictly between them, 0 elsewhere (as PyTorch)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return Hardtanh.apply(x, min_val, max_val)


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6) = hardtanh(x, 0, 6); gradient 0 at x = 0 and x = 6 (as PyTorch)."""
    return Hardtanh.apply(x, 0, 6)


# ---------------------------------------------------------------------- more activations
# Each float-valued one promotes integer and bool inputs to float32 (elementwise.floating).

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class ELU(Function):
    """PyTorch's ELU family in one op: y = scale * x for x > 0, else
    scale * alpha * (exp(input_scale * x) - 1). elu: (alpha, 1, 1); selu: (1.6733, 1.0507, 1);
    celu: (alpha, 1, 1 / alpha)."""

    @staticmethod
    def forward(ctx, x, alpha, scale, input_scale):
        xp = ctx.xp
        ctx.save_for_backward(x)
        ctx.params = (alpha, scale, input_scale)
        negative = (scale * alpha) * xp.expm1(xp.minimum(x, 0) * input_scale)
        return xp.where(x > 0, scale * x, negative).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        alpha, scale, input_scale = ctx.params
        # x <= 0: scale * alpha * input_scale * exp(input_scale * x) (PyTorch's side at 0);
        # written with x's Tensor so the second derivative flows through it
        slope = (scale * alpha * input_scale) * elementwise.exp(
            elementwise.minimum(x, 0.0) * input_scale)
        return elementwise.where(x > 0, grad * scale, grad * slope), None, None, None


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return ELU.apply(elementwise.floating(x), float(alpha), 1.0, 1.0)


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with PyTorch's constants alpha = 1.6733, scale = 1.0507."""
    return ELU.apply(elementwise.floating(x), _SELU_ALPHA, _SELU_SCALE, 1.0)


def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)); alpha must not be 0."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x)")
    return ELU.apply(elementwise.floating(x), float(alpha), 1.0, 1.0 / float(alpha))


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    x = elementwise.floating(x)
    return x * elementwise.sigmoid(x)


def hardsigmoid(x: Tensor) -> Tensor:
    """relu6(x + 3) / 6: 0 below -3, 1 above 3; gradient 1/6 strictly inside (as PyTorch)."""
    x = elementwise.floating(x)
    return Hardtanh.apply(x + 3.0, 0.0, 6.0) * (1.0 / 6.0)


def hardswish(x: Tensor) -> Tensor:
    """x * relu6(x + 3) / 6; gradient 0 at -3 and 1 at 3 (PyTorch's sides at the kinks)."""
    x = elementwise.floating(x)
    return x * (Hardtanh.apply(x + 3.0, 0.0, 6.0) * (1.0 / 6.0))


def mish(x: Tensor) -> Tensor:
    """x * tanh(softplus(x))."""
    x = elementwise.floating(x)
    return x * elementwise.tanh(Softplus.apply(x))


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    x = elementwise.floating(x)
    return x / (elementwise.abs(x) + 1.0)


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), without overflow."""
    return -Softplus.apply(-elementwise.floating(x))


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, weight * x otherwise; ``weight`` has 1 element (shared) or one per channel
    (dim 1 of x; a 1-D x has no channel dim, so its one weight is shared). Gradient for x and
    weight; the slope at x = 0 is the weight's (as PyTorch)."""
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be 0-D or 1-D, got shape {weight.shape}")
    count = weight.size
    if count != 1:
        channels = x.shape[1] if x.ndim >= 2 else 1
        if count != channels:
            raise ValueError(f"prelu: weight has {count} elements but the input {x.shape} has "
                             f"{channels} channels (dim 1); give 1 or {channels}")
        weight = shape_ops.reshape(weight, (count,) + (1,) * (x.ndim - 2))
    return elementwise.where(x > 0, x, weight * x)
