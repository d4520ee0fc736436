"""Vector norms and normalisation: vector_norm (``tc.linalg.vector_norm``), norm
(``Tensor.norm``/``tc.norm``), normalize (``F.normalize``), softmin.

Gradients at 0 are PyTorch's: 0 for every finite p (the subgradient, not NaN); the inf-norm
shares its gradient equally among the tied largest |x|.
"""

from __future__ import annotations

import math
import numbers
import warnings

from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import conversion, elementwise, elementwise_math, loss, reduction
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def _keepdim_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


class PNorm(Function):
    """(sum |x|^p)^(1/p) over ``dims`` for a finite p > 0, p != 1."""

    @staticmethod
    def forward(ctx, x, p, dims, keepdim):
        xp = ctx.xp
        ctx.p, ctx.dims = p, dims
        if p == 2:
            y = xp.sqrt(xp.sum(x * x, axis=dims, keepdims=keepdim))
        else:
            y = xp.sum(xp.abs(x) ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)
        y = xp.asarray(y, dtype=x.dtype)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        shape = _keepdim_shape(x.shape, ctx.dims)
        grad, y = shape_ops.reshape(grad, shape), shape_ops.reshape(y, shape)
        zero = y == 0
        safe_y = elementwise.where(zero, 1.0, y)        # all of x is 0 there: the gradient is 0
        if ctx.p == 2:
            return x * (grad / safe_y), None, None, None
        # d/dx_i = sign(x_i) |x_i|^(p-1) / y^(p-1)
        abs_x = elementwise.abs(x)
        safe_abs = elementwise.where(x == 0, 1.0, abs_x)   # |x|^(p-1) is inf at 0 for p < 1
        scale = grad / elementwise.pow(safe_y, ctx.p - 1)
        direction = elementwise_math.sign(x) * elementwise.pow(safe_abs, ctx.p - 1)
        return direction * scale, None, None, None


def _norm_dims(dim, x: Tensor, op: str):
    dims = shape_ops.normalize_dims(dim, x.ndim, op)
    return dims if x.ndim else ()


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The vector ``ord``-norm over ``dim`` (None: all elements, flattened): ``ord`` = 2 (default),
    1, inf (max |x|), -inf (min |x|), 0 (count of non-zeros; no gradient) or any other p
    (``(sum |x|^p)^(1/p)``). Needs a floating tensor; ``dtype=`` converts it first."""
    if dtype is not None:
        x = conversion.cast(x, dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"vector_norm: needs a floating-point tensor, got {x.dtype}; cast it "
                        "or pass dtype=")
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise TypeError(f"vector_norm: ord must be a number, got {ord!r}")
    dims = _norm_dims(dim, x, "vector_norm")
    for d in dims:
        if x.shape[d] == 0 and (ord < 0 or math.isinf(ord)):
            raise ValueError(f"vector_norm: ord={ord} of an empty dim {d} (shape {x.shape}) is "
                             "undefined")
    if ord == math.inf:
        return reduction.amax(elementwise.abs(x), dims, keepdim)
    if ord == -math.inf:
        return reduction.amin(elementwise.abs(x), dims, keepdim)
    if ord == 0:
        counted = reduction.sum(x != 0, dims, keepdim)
        return Tensor._from_array(counted.data.astype(x.dtype))
    if ord == 1:
        return reduction.sum(elementwise.abs(x), dims, keepdim)
    if ord < 0:
        raise NotImplementedError(f"vector_norm: negative ord={ord} is not supported")
    return PNorm.apply(x, float(ord), dims, keepdim)


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """PyTorch's ``torch.norm`` / ``Tensor.norm``: ``p="fro"`` (default) is the 2-norm of the
    elements over ``dim``; a number ``p`` is ``vector_norm(input, p, dim, keepdim)``."""
    if p == "fro" or p is None:
        p = 2
    elif isinstance(p, str):
        raise NotImplementedError(f"norm: p={p!r} is not supported (matrix norms other than "
                                  "'fro' are not implemented)")
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``input / max(||input||_p over dim, eps)``: unit p-norm vectors along ``dim``."""
    denominator = elementwise.clamp(vector_norm(input, p, dim, keepdim=True), min=eps)
    return input / denominator


def _legacy_softmax_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-input) along ``dim``: weights that favour the smallest values."""
    if dim is None:
        dim = _legacy_softmax_dim(input.ndim)
        warnings.warn(f"softmin: implicit dimension choice ({dim}) is deprecated, pass dim=",
                      UserWarning, stacklevel=_stacklevel)
    if dtype is not None:
        input = conversion.cast(input, dtype)
    if input.dtype.kind != "f":
        raise TypeError(f"softmin: needs a floating-point tensor, got {input.dtype}")
    if input.ndim == 0:
        shape_ops.normalize_dim(dim, 0, "softmin")
        return shape_ops.reshape(loss.softmax(-shape_ops.reshape(input, (1,)), 0), ())
    return loss.softmax(-input, dim)
