"""Matrix products: matmul, and PyTorch's fixed-rank mm, bmm, dot, outer, trace."""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import conversion, elementwise, reduction, shape_extra
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


class MatMul(Function):
    """a @ b for a, b with at least 2 dims; leading (batch) dims broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = elementwise.unbroadcast(matmul(grad, shape_ops.transpose(b, -1, -2)), a.shape)
        if ctx.needs_input_grad[1]:
            grad_b = elementwise.unbroadcast(matmul(shape_ops.transpose(a, -1, -2), grad), b.shape)
        return grad_a, grad_b


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted to a row/column and the
    added dim is removed from the result; leading dims broadcast.

    (..., n, k) @ (..., k, m) -> (..., n, m)
    """
    a, b = elementwise.as_tensor_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise backend.ShapeError(f"matmul: both operands need at least 1 dim, got shapes "
                                 f"{a.shape} and {b.shape} (use * for scalars)")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise backend.ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} do not fit: {a.shape[-1]} columns vs "
            f"{b.shape[-2 if b.ndim > 1 else 0]} rows"
        )
    if a.ndim > 2 or b.ndim > 2:
        elementwise.broadcast_shapes("matmul (batch dims)", a.shape[:-2], b.shape[:-2])
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    if squeeze_a:
        a = shape_ops.unsqueeze(a, 0)
    if squeeze_b:
        b = shape_ops.unsqueeze(b, 1)
    out = MatMul.apply(a, b)
    if squeeze_a:
        out = shape_ops.squeeze(out, -2)
    if squeeze_b:
        out = shape_ops.squeeze(out, -1)
    return out


# ---------------------------------------------------------------------- fixed-rank products
# mm, bmm, dot are matmul restricted to one rank each, with PyTorch's checks: no broadcasting,
# no promotion (both operands of one dtype), no bool; their gradients are matmul's.


def _operands(op: str, ndim: int, a, b, second: str) -> tuple[Tensor, Tensor]:
    """``a`` and ``b`` (named input and ``second``) checked to be Tensors of ``ndim`` dims, one
    dtype, not bool."""
    for name, value in (("input", a), (second, b)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(value).__name__}")
    if a.ndim != ndim or b.ndim != ndim:
        raise backend.ShapeError(f"{op}: expected {ndim}-D tensors, got shapes {a.shape} and "
                                 f"{b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: expected tensors of one dtype, got {a.dtype} and {b.dtype} "
                        f"(shapes {a.shape} and {b.shape}); convert one with .to(dtype=...)")
    if a.dtype == bool:
        raise TypeError(f"{op}: not defined for bool tensors (shapes {a.shape} and {b.shape}; "
                        "PyTorch refuses them too)")
    return a, b


def _check_inner(op: str, a: Tensor, b: Tensor) -> None:
    if a.shape[-1] != b.shape[-2]:
        raise backend.ShapeError(f"{op}: shapes {a.shape} and {b.shape} cannot be multiplied "
                                 f"({a.shape[-1]} columns vs {b.shape[-2]} rows)")


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors of one dtype: (n, k) @ (k, m) -> (n, m).
    No broadcasting (see ``matmul``)."""
    a, b = _operands("mm", 2, input, mat2, "mat2")
    _check_inner("mm", a, b)
    return matmul(a, b)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of two 3-D tensors of one dtype with the same batch size:
    (B, n, k) @ (B, k, m) -> (B, n, m). No broadcasting (see ``matmul``)."""
    a, b = _operands("bmm", 3, input, mat2, "mat2")
    if a.shape[0] != b.shape[0]:
        raise backend.ShapeError(f"bmm: batch sizes {a.shape[0]} and {b.shape[0]} differ (shapes "
                                 f"{a.shape} and {b.shape}); bmm does not broadcast, matmul does")
    _check_inner("bmm", a, b)
    return matmul(a, b)


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of one dtype and length: (n,), (n,) -> () (0-d)."""
    a, b = _operands("dot", 1, input, other, "other")
    if a.shape != b.shape:
        raise backend.ShapeError(f"dot: expected tensors of one length, got shapes {a.shape} and "
                                 f"{b.shape}")
    return matmul(a, b)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """Outer product of two 1-D tensors: (n,), (m,) -> (n, m), ``out[i, j] = input[i] * vec2[j]``.
    dtypes promote as ``*`` does (int64 with float64 gives float64; bool with bool stays bool)."""
    for name, value in (("input", input), ("vec2", vec2)):
        if not isinstance(value, Tensor):
            raise TypeError(f"outer: {name} must be a Tensor, got {type(value).__name__}")
    if input.ndim != 1 or vec2.ndim != 1:
        raise backend.ShapeError(f"outer: expected 1-D tensors, got shapes {input.shape} and "
                                 f"{vec2.shape}")
    return elementwise.mul(shape_ops.reshape(input, (-1, 1)), shape_ops.reshape(vec2, (1, -1)))


def trace(input: Tensor) -> Tensor:
    """Sum of the main diagonal of a 2-D tensor: (n, m) -> () (0-d). Integer inputs give int64
    (unsigned too); bool is refused, as in PyTorch."""
    if not isinstance(input, Tensor):
        raise TypeError(f"trace: input must be a Tensor, got {type(input).__name__}")
    if input.ndim != 2:
        raise backend.ShapeError(f"trace: expected a 2-D tensor, got shape {input.shape}")
    if input.dtype == bool:
        raise TypeError(f"trace: not defined for a bool tensor (shape {input.shape}; PyTorch "
                        "refuses it too)")
    diagonal = shape_extra.diagonal(input)
    if diagonal.dtype.kind in "iu":  # int64 for every integer dtype, unsigned too (as PyTorch)
        diagonal = conversion.cast(diagonal, backend.DEFAULT_INT)
    return reduction.sum(diagonal)
