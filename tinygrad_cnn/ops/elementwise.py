"""Elementwise ops with NumPy broadcasting; gradients are summed back to each input's shape."""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.cuda import arith as cuda_arith
from tinygrad_cnn.ops import conversion, reduction
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def broadcast_shapes(op: str, *shapes) -> tuple[int, ...]:
    """The broadcast shape of ``shapes``, or a ValueError naming all of them."""
    try:
        return backend.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise backend.ShapeError(f"{op}: shapes {listed} cannot be broadcast together") from None


def unbroadcast(grad: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1
    )
    if axes:
        grad = reduction.sum(grad, axes, keepdim=True)
    return shape_ops.reshape(grad, tuple(shape))


def floating(x: Tensor) -> Tensor:
    """``x`` itself when it is floating; an integer or bool tensor cast to the default float
    dtype (float32). The one promotion rule of every op whose values are real numbers (exp, log,
    sqrt, tanh, sigmoid, erf, the float-valued activations, ...), as PyTorch's.
    """
    return x if x.dtype.kind == "f" else conversion.cast(x, backend.DEFAULT_FLOAT)


def as_tensor_operands(a, b) -> tuple[Tensor, Tensor]:
    """Turn Python numbers and arrays into Tensors next to a Tensor operand (PyTorch promotion).

    A Python number takes the Tensor's dtype when that is floating, or when both are integers;
    a Python float next to an integer Tensor makes both float32. Of two Tensors, a floating one
    next to an integer or bool one gives its dtype to both (int64 + float32 is float32, where
    NumPy would say float64); otherwise NumPy's rules hold.
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        a_float, b_float = a.dtype.kind == "f", b.dtype.kind == "f"
        if a_float and not b_float:
            b = conversion.cast(b, a.dtype)
        elif b_float and not a_float:
            a = conversion.cast(a, b.dtype)
        return a, b
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return Tensor(a), Tensor(b)
    swap = not isinstance(a, Tensor)
    t, other = (b, a) if swap else (a, b)
    if isinstance(other, numbers.Number):  # Python and NumPy scalars
        if t.dtype.kind == "f":
            dtype = t.dtype
        elif isinstance(other, bool):
            dtype = t.dtype
        elif isinstance(other, numbers.Integral):
            dtype = t.dtype if t.dtype.kind in "iu" else backend.DEFAULT_INT
        else:
            dtype = backend.DEFAULT_FLOAT
            t = conversion.cast(t, dtype)
        other = Tensor._from_array(backend.full(backend.array_module(t.data), (), other, dtype))
    else:
        other = Tensor(other, device=t.device if backend.ndim_of(other) == 0 else None)
    return (other, t) if swap else (t, other)


class Add(Function):
    """y = a + b, broadcast; each input's gradient is grad summed back to its shape.
    Same-shape C-contiguous float32/float64 arrays on the GPU take one CUDA kernel
    (cuda/arith.py)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        if cuda_arith.usable(ctx.xp, a, b):                  # same-shape float arrays on the GPU
            return cuda_arith.add(ctx.xp, a, b)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        return (
            unbroadcast(grad, sa) if ctx.needs_input_grad[0] else None,
            unbroadcast(grad, sb) if ctx.needs_input_grad[1] else None,
        )


class Sub(Function):
    """y = a - b, broadcast; gradients grad and -grad, each summed back to its input's shape."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        sa, sb = ctx.shapes
        return (
            unbroadcast(grad, sa) if ctx.needs_input_grad[0] else None,
            unbroadcast(-grad, sb) if ctx.needs_input_grad[1] else None,
        )


class Mul(Function):
    """y = a * b, broadcast; gradients grad * b and grad * a, each summed back to its input's
    shape. Same-shape C-contiguous float32/float64 arrays on the GPU take one CUDA kernel
    (cuda/arith.py)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        if cuda_arith.usable(ctx.xp, a, b):                # same-shape float arrays on the GPU
            return cuda_arith.mul(ctx.xp, a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (
            unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None,
            unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None,
        )


class Div(Function):
    """y = a / b, broadcast; gradients grad / b and -grad * a / b**2, each summed back to its
    input's shape (``div`` casts two integer or bool operands to float32 first)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad / b
        return (
            unbroadcast(grad_a, a.shape) if ctx.needs_input_grad[0] else None,
            unbroadcast(-grad_a * a / b, b.shape) if ctx.needs_input_grad[1] else None,
        )


class Pow(Function):
    """y = x ** p, with p a Tensor or a Python number."""

    @staticmethod
    def forward(ctx, x, p):
        y = ctx.xp.power(x, p)
        ctx.save_for_backward(x, p, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        # PyTorch's rules at the edges: d/dx is 0 wherever p == 0 (x**0 is constant, even at
        # x = 0 where p * x**(p-1) is 0 * inf); d/dp is 0 where x == 0 and p >= 0, and
        # x**p log x elsewhere (-inf at x = 0, p < 0; NaN for x < 0, as PyTorch).
        # The masked-out entries are computed on safe stand-ins, so no NaN reaches the
        # second derivative through them.
        x, p, y = ctx.saved_tensors
        grad_x = grad_p = None
        if ctx.needs_input_grad[0]:
            if isinstance(p, Tensor):
                p_is_0 = p == 0
                grad_x = where(p_is_0, 0.0, p * pow(where(p_is_0, 1.0, x), p - 1))
                grad_x = unbroadcast(grad * grad_x, x.shape)
            else:
                grad_x = grad * (p * pow(x, p - 1)) if p != 0 else zeros_like_tensor(grad)
        if ctx.needs_input_grad[1]:
            flat = (x == 0) & (p >= 0)
            log_x = log(where(flat, 1.0, x))
            grad_p = unbroadcast(grad * where(flat, 0.0, y * log_x), p.shape)
        return grad_x, grad_p


class Neg(Function):
    """y = -x; gradient -grad."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    """y = exp(x); gradient grad * y, from the saved output."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


class Log(Function):
    """y = log(x), the natural logarithm; gradient grad / x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x


class Sqrt(Function):
    """y = sqrt(x); gradient grad / (2 * y), from the saved output."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad / (2 * y)


class Abs(Function):
    """y = |x|; gradient grad * sign(x), so 0 at x = 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(ctx.xp.sign(x))
        return ctx.xp.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (sign_x,) = ctx.saved_tensors
        return grad * sign_x


class Tanh(Function):
    """y = tanh(x); gradient grad * (1 - y * y), from the saved output."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)) in x's dtype, computed from exp(-|x|) so nothing overflows;
    gradient grad * y * (1 - y), from the saved output."""

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        # exp of a non-positive number only: no overflow for large |x|
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


class Clamp(Function):
    """y = min(max(x, min_value), max_value), a None bound left out; gradient grad where
    min_value <= x <= max_value (ends included), 0 elsewhere. With min_value > max_value every
    element is max_value and no gradient passes (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, min_value, max_value):
        xp = ctx.xp
        y = x
        # min first, then max: with min > max everything ends at max (PyTorch's definition)
        if min_value is not None:
            y = xp.maximum(y, min_value)
        if max_value is not None:
            y = xp.minimum(y, max_value)
        inside = xp.ones(x.shape, dtype=bool)
        if min_value is not None:
            inside &= x >= min_value
        if max_value is not None:
            inside &= x <= max_value
        ctx.save_for_backward(inside.astype(x.dtype))
        return y

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None


class Maximum(Function):
    """max(a, b) elementwise; on ties each input receives half of the gradient (as PyTorch)."""

    @staticmethod
    def forward(ctx, a, b):
        return _pick_forward(ctx, ctx.xp.maximum, a > b, a, b)

    @staticmethod
    def backward(ctx, grad):
        return _pick_backward(ctx, grad)


class Minimum(Function):
    """min(a, b) elementwise, computed directly (exact for unsigned and bool); ties share."""

    @staticmethod
    def forward(ctx, a, b):
        return _pick_forward(ctx, ctx.xp.minimum, a < b, a, b)

    @staticmethod
    def backward(ctx, grad):
        return _pick_backward(ctx, grad)


def _pick_forward(ctx, pick, a_wins, a, b):
    ctx.shapes = (a.shape, b.shape)
    share_a = a_wins + 0.5 * (a == b)
    ctx.save_for_backward(share_a.astype(ctx.xp.result_type(a, b)))
    return pick(a, b)


def _pick_backward(ctx, grad):
    (share_a,) = ctx.saved_tensors
    sa, sb = ctx.shapes
    return (
        unbroadcast(grad * share_a, sa) if ctx.needs_input_grad[0] else None,
        unbroadcast(grad * (1 - share_a), sb) if ctx.needs_input_grad[1] else None,
    )


class Where(Function):
    """y = a where condition else b, the three broadcast; a receives grad where condition
    holds, b elsewhere, each summed back to its shape; condition (bool) gets no gradient."""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.shapes = (a.shape, b.shape)
        ctx.save_for_backward(condition)
        return ctx.xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        sa, sb = ctx.shapes
        zero = zeros_like_tensor(grad)
        return (
            None,
            unbroadcast(where(condition, grad, zero), sa) if ctx.needs_input_grad[1] else None,
            unbroadcast(where(condition, zero, grad), sb) if ctx.needs_input_grad[2] else None,
        )


# ---------------------------------------------------------------------- lowercase functions


def _binary(fn, a, b, op_name):
    a, b = as_tensor_operands(a, b)
    if a.shape != b.shape:
        broadcast_shapes(op_name, a.shape, b.shape)
    return fn.apply(a, b)


def add(a, b) -> Tensor:
    """a + b with broadcasting."""
    return _binary(Add, a, b, "add")


def sub(a, b) -> Tensor:
    """a - b with broadcasting."""
    return _binary(Sub, a, b, "sub")


def mul(a, b) -> Tensor:
    """a * b with broadcasting."""
    return _binary(Mul, a, b, "mul")


def div(a, b) -> Tensor:
    """a / b with broadcasting (true division; integer inputs give float32)."""
    a, b = as_tensor_operands(a, b)
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        a = conversion.cast(a, backend.DEFAULT_FLOAT)
        b = conversion.cast(b, backend.DEFAULT_FLOAT)
    return _binary(Div, a, b, "div")


def pow(x, exponent) -> Tensor:
    """x ** exponent; the exponent may be a Python number (kept as a constant) or a Tensor.

    As in PyTorch, an integer tensor to a fractional power gives float32, and an integer tensor
    to a negative integer power raises ValueError (cast to float first).
    """
    if isinstance(x, Tensor) and isinstance(exponent, numbers.Number):
        if x.dtype.kind in "biu":
            if not isinstance(exponent, numbers.Integral):
                x = conversion.cast(x, backend.DEFAULT_FLOAT)
            elif exponent < 0:
                raise ValueError(f"pow: an integer tensor ({x.dtype}) to a negative integer power "
                                 f"({exponent}) is not allowed; cast it to float first")
        return Pow.apply(x, exponent)
    x, exponent = as_tensor_operands(x, exponent)
    if x.dtype.kind in "biu" and exponent.dtype.kind in "biu" and bool((exponent.data < 0).any()):
        raise ValueError(f"pow: an integer tensor ({x.dtype}) to negative integer powers "
                         f"(exponent {exponent.dtype} holds values < 0) is not allowed; cast to "
                         f"float first")
    return _binary(Pow, x, exponent, "pow")


def neg(x: Tensor) -> Tensor:
    """-x in x's dtype (a bool tensor raises TypeError, as in PyTorch)."""
    return Neg.apply(x)


def exp(x: Tensor) -> Tensor:
    """e**x; integer and bool inputs give float32 (``floating``)."""
    return Exp.apply(floating(x))


def log(x: Tensor) -> Tensor:
    """Natural logarithm; integer and bool inputs give float32."""
    return Log.apply(floating(x))


def sqrt(x: Tensor) -> Tensor:
    """Square root; integer and bool inputs give float32."""
    return Sqrt.apply(floating(x))


def abs(x: Tensor) -> Tensor:
    """|x|; its gradient at 0 is 0 (sign(0)), as in PyTorch."""
    return Abs.apply(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent; integer and bool inputs give float32."""
    return Tanh.apply(floating(x))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow; integer and bool inputs give float32."""
    return Sigmoid.apply(floating(x))


def clamp(x: Tensor, min=None, max=None) -> Tensor:
    """Clip values to [min, max] (either may be None); gradient passes where min <= x <= max.

    With min > max every element becomes max (and no gradient passes), as in PyTorch.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if x.dtype.kind in "biu" and any(isinstance(v, numbers.Number) and
                                     not isinstance(v, numbers.Integral) for v in (min, max)):
        x = floating(x)                 # a float bound on an integer tensor: float32 (PyTorch)
    return Clamp.apply(x, min, max)


clip = clamp


def maximum(a, b) -> Tensor:
    """Elementwise maximum with broadcasting."""
    return _binary(Maximum, a, b, "maximum")


def minimum(a, b) -> Tensor:
    """Elementwise minimum with broadcasting."""
    return _binary(Minimum, a, b, "minimum")


def where(condition, a, b) -> Tensor:
    """a where condition is true, else b; all three broadcast together."""
    if not isinstance(condition, Tensor):
        condition = Tensor(condition)
    if condition.dtype != bool:
        condition = Tensor._from_array(condition.data.astype(bool))
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(a, device=condition.device)
    a, b = as_tensor_operands(a, b)
    broadcast_shapes("where", condition.shape, a.shape, b.shape)
    return Where.apply(condition, a, b)


def zeros_like_tensor(x: Tensor) -> Tensor:
    """Zeros of x's shape, dtype and device, as a Tensor outside the graph."""
    return Tensor._from_array(backend.array_module(x.data).zeros_like(x.data))

