"""Matrix products."""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import elementwise
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
