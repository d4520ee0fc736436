"""More activations, as PyTorch's: glu, hardshrink, softshrink, tanhshrink, threshold.

Each is a composition of existing differentiable ops (where, sigmoid, tanh, split), so its
gradient, and every higher one, comes from theirs. At the kinks the gradient is PyTorch's:
0 at x = +-lambd for the shrinks and at x = threshold for threshold (``where`` with a strict
comparison passes the gradient only strictly outside the flat part).
"""

from __future__ import annotations

import numbers

from tinygrad_cnn.ops import elementwise, shape_extra
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def _check_tensor(op: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(x).__name__}")


def _check_real(op: str, name: str, value) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    return value


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit, PyTorch's F.glu: a * sigmoid(b), where a and b are the two halves of
    ``input`` along ``dim``: (*, 2M, *) -> (*, M, *). The size along ``dim`` must be even."""
    op = "glu"
    _check_tensor(op, input)
    if input.ndim == 0:
        raise ValueError(f"{op}: does not support 0-d inputs (a scalar has no dim to halve)")
    d = shape_ops.normalize_dim(dim, input.ndim, op)
    size = input.shape[d]
    if size % 2:
        raise ValueError(f"{op}: halving dimension must be even, but dimension {dim} of the "
                         f"input {input.shape} is size {size}")
    x = elementwise.floating(input)
    a, b = shape_extra.split(x, size // 2, d)
    return a * elementwise.sigmoid(b)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0 (PyTorch's F.hardshrink); any shape -> same. Gradient 1
    strictly outside [-lambd, lambd], 0 inside and at the kinks. A negative lambd, as in
    PyTorch, shrinks nothing."""
    op = "hardshrink"
    _check_tensor(op, input)
    lambd = _check_real(op, "lambd", lambd)
    x = elementwise.floating(input)
    return elementwise.where((x > lambd) | (x < -lambd), x, 0.0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0 (PyTorch's F.softshrink);
    any shape -> same. lambd must be >= 0. Gradient 1 strictly outside [-lambd, lambd], else 0."""
    op = "softshrink"
    _check_tensor(op, input)
    lambd = _check_real(op, "lambd", lambd)
    if lambd < 0:
        raise ValueError(f"{op}: lambd must be greater than or equal to 0, got {lambd}")
    x = elementwise.floating(input)
    inner = elementwise.where(x < -lambd, x + lambd, 0.0)
    return elementwise.where(x > lambd, x - lambd, inner)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x) (PyTorch's F.tanhshrink); any shape -> same."""
    _check_tensor("tanhshrink", input)
    x = elementwise.floating(input)
    return x - elementwise.tanh(x)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value`` (PyTorch's F.threshold); any shape -> same, in the
    input's dtype (integer inputs stay integer, as PyTorch's). Gradient 1 where x > threshold,
    0 elsewhere (at x == threshold too). ``inplace`` is accepted for PyTorch compatibility; the
    result is always a new tensor."""
    op = "threshold"
    _check_tensor(op, input)
    threshold = _check_real(op, "threshold", threshold)
    value = _check_real(op, "value", value)
    if input.dtype.kind in "iu":
        value = int(value)          # cast to the input's dtype, as PyTorch's (truncation)
    return elementwise.where(input > threshold, input, value)
