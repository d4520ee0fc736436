"""More elementwise math, PyTorch's everyday vocabulary: rounding, remainders, square,
reciprocal and roots, exp2/log2/log10/log1p/expm1, sin/cos, lerp, logaddexp
(the bool-valued tests are in compare.py).

The float-valued ones follow the one promotion rule (``elementwise.floating``: integer and bool
inputs give float32). Rounding, ``sign`` and ``floor_divide`` are piecewise constant: their
gradient is zero, PyTorch's rule for all but ``floor_divide``, which
PyTorch does not differentiate at all.
"""

from __future__ import annotations

import math
import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import conversion, elementwise
from tinygrad_cnn.ops.elementwise import floating, unbroadcast, zeros_like_tensor
from tinygrad_cnn.tensor import Tensor

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


# ---------------------------------------------------------------------- piecewise constant


class _StepFunction(Function):
    """Piecewise-constant ops: the gradient is zero wherever it exists (as PyTorch)."""

    @staticmethod
    def backward(ctx, grad):
        return zeros_like_tensor(grad)


class Floor(_StepFunction):
    """floor(x) elementwise, same shape; gradient 0 (a step function)."""

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.floor(x)


class Ceil(_StepFunction):
    """ceil(x) elementwise, same shape; gradient 0 (a step function)."""

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.ceil(x)


class Trunc(_StepFunction):
    """trunc(x) (toward zero) elementwise, same shape; gradient 0 (a step function)."""

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.trunc(x)


class Sign(_StepFunction):
    """-1, 0 or 1 elementwise (NaN stays NaN); gradient 0."""

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.sign(x)


class Round(_StepFunction):
    """Round half to even (NumPy's and PyTorch's rule), to ``decimals`` places."""

    @staticmethod
    def forward(ctx, x, decimals=0):
        return ctx.xp.round(x, decimals)


def _integer_passthrough(x: Tensor, op: str) -> bool:
    """Rounding an integer tensor is the identity (PyTorch keeps the dtype); bool is refused."""
    if x.dtype == bool:
        raise TypeError(f"{op}: not defined for a bool tensor (PyTorch refuses it too)")
    return x.dtype.kind in "iu"


def floor(x: Tensor) -> Tensor:
    """Largest integer <= x, elementwise; integer tensors come back unchanged. Gradient 0."""
    return conversion.clone(x) if _integer_passthrough(x, "floor") else Floor.apply(x)


def ceil(x: Tensor) -> Tensor:
    """Smallest integer >= x, elementwise; integer tensors come back unchanged. Gradient 0."""
    return conversion.clone(x) if _integer_passthrough(x, "ceil") else Ceil.apply(x)


def trunc(x: Tensor) -> Tensor:
    """x rounded toward zero; integer tensors come back unchanged. Gradient 0."""
    return conversion.clone(x) if _integer_passthrough(x, "trunc") else Trunc.apply(x)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 in x's dtype (bool stays bool); its gradient is 0, as PyTorch's."""
    if x.dtype == bool:
        return conversion.clone(x)
    return Sign.apply(x)


def round(x: Tensor, decimals: int = 0) -> Tensor:
    """x rounded to ``decimals`` places, halves to even (2.5 -> 2, as PyTorch). Gradient 0."""
    if not isinstance(decimals, numbers.Integral):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    if _integer_passthrough(x, "round") and decimals >= 0:
        return conversion.clone(x)
    return Round.apply(x, decimals=int(decimals))


# ---------------------------------------------------------------------- remainders


class Remainder(Function):
    """a - floor(a / b) * b: the sign of the divisor (Python's %)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.remainder(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _remainder_grads(ctx, grad, a, b, floor)


class Fmod(Function):
    """a - trunc(a / b) * b: the sign of the dividend (C's fmod)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.fmod(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return _remainder_grads(ctx, grad, a, b, trunc)


def _remainder_grads(ctx, grad, a, b, rounding):
    # d/da = 1, d/db = -rounding(a / b): the quotient is piecewise constant
    return (
        unbroadcast(grad, a.shape) if ctx.needs_input_grad[0] else None,
        unbroadcast(-grad * rounding(a / b), b.shape) if ctx.needs_input_grad[1] else None,
    )


class FloorDivide(Function):
    """floor(a / b); piecewise constant, so both gradients are 0."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return ctx.xp.floor_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        zero = zeros_like_tensor(grad)
        return unbroadcast(zero, sa), unbroadcast(zero, sb)


def _integer_division(fn, a, b, op: str) -> Tensor:
    a, b = elementwise.as_tensor_operands(a, b)
    elementwise.broadcast_shapes(op, a.shape, b.shape)
    if a.dtype == bool and b.dtype == bool:
        raise TypeError(f"{op}: not defined for two bool tensors")
    if a.dtype.kind in "biu" and b.dtype.kind in "biu" and bool((b.data == 0).any()):
        raise ZeroDivisionError(f"{op}: integer division by zero (the divisor holds a 0)")
    return fn.apply(a, b)


def remainder(a, b) -> Tensor:
    """a % b with the sign of b (Python's rule), broadcasting; float NaN for b == 0 in floats,
    ZeroDivisionError for integers (PyTorch raises too). Gradients: 1 and -floor(a / b)."""
    return _integer_division(Remainder, a, b, "remainder")


def fmod(a, b) -> Tensor:
    """C's remainder: a - trunc(a / b) * b, with the sign of a; broadcasting.
    Gradients: 1 and -trunc(a / b)."""
    return _integer_division(Fmod, a, b, "fmod")


def floor_divide(a, b) -> Tensor:
    """floor(a / b) (``//``), broadcasting; integers stay integers. Gradient 0 (PyTorch has
    none: it raises at backward)."""
    return _integer_division(FloorDivide, a, b, "floor_divide")


# ---------------------------------------------------------------------- square


def square(input: Tensor) -> Tensor:
    """input * input elementwise, same shape. Integers stay in their dtype (and wrap as ``*``
    does); a bool tensor gives int64, as PyTorch's. Gradient 2 * input, twice differentiable."""
    if not isinstance(input, Tensor):
        raise TypeError(f"square: input must be a Tensor, got {type(input).__name__}")
    if input.dtype == bool:
        input = conversion.cast(input, backend.DEFAULT_INT)
    return elementwise.mul(input, input)


# ---------------------------------------------------------------------- float-valued unary ops


class Reciprocal(Function):
    """y = 1 / x elementwise, same shape; dy/dx = -y^2, from the saved output."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.reciprocal(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return -grad * y * y                                    # d(1/x) = -1/x^2


class Rsqrt(Function):
    """y = 1 / sqrt(x) elementwise, same shape; dy/dx = -y^3 / 2, from the saved output."""

    @staticmethod
    def forward(ctx, x):
        y = 1 / ctx.xp.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (-0.5 * y * y * y)                       # d x^(-1/2) = -x^(-3/2) / 2


class Exp2(Function):
    """y = 2^x elementwise, same shape; dy/dx = y ln 2, from the saved output."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.exp2(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * _LN2


class Log2(Function):
    """log2(x) elementwise, same shape; d/dx = 1 / (x ln 2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.log2(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (x * _LN2)


class Log10(Function):
    """log10(x) elementwise, same shape; d/dx = 1 / (x ln 10)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.log10(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (x * _LN10)


class Log1p(Function):
    """log(1 + x) elementwise (accurate near 0), same shape; d/dx = 1 / (1 + x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.log1p(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (x + 1)


class Expm1(Function):
    """y = e^x - 1 elementwise (accurate near 0), same shape; dy/dx = y + 1."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.expm1(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (y + 1)                                   # d(e^x - 1) = e^x


class Sin(Function):
    """sin(x) elementwise, same shape; d/dx = cos(x), a Tensor op (twice differentiable)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * cos(x)


class Cos(Function):
    """cos(x) elementwise, same shape; d/dx = -sin(x), a Tensor op (twice differentiable)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.cos(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return -grad * sin(x)


def reciprocal(x: Tensor) -> Tensor:
    """1 / x; integer and bool inputs give float32."""
    return Reciprocal.apply(floating(x))


def rsqrt(x: Tensor) -> Tensor:
    """1 / sqrt(x); integer and bool inputs give float32."""
    return Rsqrt.apply(floating(x))


def exp2(x: Tensor) -> Tensor:
    """2 ** x; integer and bool inputs give float32."""
    return Exp2.apply(floating(x))


def log2(x: Tensor) -> Tensor:
    """Base-2 logarithm; integer and bool inputs give float32."""
    return Log2.apply(floating(x))


def log10(x: Tensor) -> Tensor:
    """Base-10 logarithm; integer and bool inputs give float32."""
    return Log10.apply(floating(x))


def log1p(x: Tensor) -> Tensor:
    """log(1 + x), accurate for small x; integer and bool inputs give float32."""
    return Log1p.apply(floating(x))


def expm1(x: Tensor) -> Tensor:
    """exp(x) - 1, accurate for small x; integer and bool inputs give float32."""
    return Expm1.apply(floating(x))


def sin(x: Tensor) -> Tensor:
    """Sine (radians); integer and bool inputs give float32."""
    return Sin.apply(floating(x))


def cos(x: Tensor) -> Tensor:
    """Cosine (radians); integer and bool inputs give float32."""
    return Cos.apply(floating(x))


# ---------------------------------------------------------------------- binary float ops


class LogAddExp(Function):
    """y = log(exp(a) + exp(b)), computed without overflow (NumPy's logaddexp)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        y = ctx.xp.logaddexp(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        a, b, y = ctx.saved_tensors
        sa, sb = ctx.shapes
        # d/da = exp(a) / (exp(a) + exp(b)) = exp(a - y); built from the output, twice over
        return (
            unbroadcast(grad * elementwise.exp(a - y), sa) if ctx.needs_input_grad[0] else None,
            unbroadcast(grad * elementwise.exp(b - y), sb) if ctx.needs_input_grad[1] else None,
        )


def logaddexp(a, b) -> Tensor:
    """log(exp(a) + exp(b)) with broadcasting, stable for large |a|, |b|; float32 for integer
    inputs."""
    a, b = elementwise.as_tensor_operands(a, b)
    a, b = floating(a), floating(b)
    a, b = elementwise.as_tensor_operands(a, b)
    elementwise.broadcast_shapes("logaddexp", a.shape, b.shape)
    return LogAddExp.apply(a, b)


def lerp(input: Tensor, end, weight) -> Tensor:
    """input + weight * (end - input), broadcasting; ``weight`` a number or a tensor.
    Float tensors only (as PyTorch)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"lerp: input must be a Tensor, got {type(input).__name__}")
    for name, value in (("input", input), ("end", end), ("weight", weight)):
        if isinstance(value, Tensor) and value.dtype.kind != "f":
            raise TypeError(f"lerp: {name} must be a floating-point tensor, got {value.dtype}")
    return input + weight * (end - input)
