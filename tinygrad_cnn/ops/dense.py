"""Fully connected (dense) layer math: linear, one fused op (product and bias in one node)."""

from __future__ import annotations

from tinygrad_cnn import backend, parallel
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.autograd.grad_mode import is_grad_enabled
from tinygrad_cnn.cuda import bias as cuda_bias
from tinygrad_cnn.ops import linalg, reduction
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


class Linear(Function):
    """y = x @ w.T + b: x (*, in), w (out, in), b (out,) or None -> (*, out).

    One node instead of transpose, matmul and a broadcast add (three nodes, two of them with a
    backward of their own); the bias is added in place into the product, and the weight
    gradient comes out as one contiguous (out, in) product, which ``.grad`` can own as it is.
    Backward runs on arrays in ordinary training and as Tensor ops (differentiable again) when
    a graph of the gradient is recorded (create_graph=True).
    """

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.small = _small(ctx.xp, x, w)
        with parallel.small_products(ctx.small):
            y = ctx.xp.matmul(x, w.T)                                       # (*, out)
        if b is not None:
            if cuda_bias.usable(ctx.xp, y, b):
                cuda_bias.add_bias(ctx.xp, y, b, 1)                         # one CUDA kernel
            elif b.dtype == y.dtype:
                y += b
            else:
                y = y + b
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        if not is_grad_enabled():  # no graph of the gradient is wanted: the same math on arrays
            with parallel.small_products(ctx.small):
                return _linear_grad_arrays(ctx, x.data, w.data, grad.data)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = linalg.matmul(grad, w)                                 # (*, in)
        rows = grad if grad.ndim == 2 else shape_ops.reshape(grad, (-1, w.shape[0]))  # (M, out)
        if ctx.needs_input_grad[1]:
            x_rows = x if x.ndim == 2 else shape_ops.reshape(x, (-1, w.shape[1]))      # (M, in)
            grad_w = linalg.matmul(shape_ops.transpose(rows, 0, 1), x_rows)           # (out, in)
        if ctx.needs_input_grad[2]:
            grad_b = reduction.sum(rows, 0)                                 # (out,)
        return grad_x, grad_w, grad_b


def _small(xp, x, w) -> bool:
    """The product has fewer multiply-adds than parallel.MIN_THREADED_MACS (NumPy arrays)."""
    return xp.__name__ == "numpy" and x.size * w.shape[0] < parallel.MIN_THREADED_MACS


def _linear_grad_arrays(ctx, x, w, grad):
    """Linear.backward on arrays: grad @ w, grad_rows^T @ x_rows, sum of grad_rows."""
    rows = grad.reshape(-1, w.shape[0])                                     # (M, out)
    grad_x = ctx.xp.matmul(grad, w) if ctx.needs_input_grad[0] else None    # (*, in)
    grad_w = rows.T @ x.reshape(-1, w.shape[1]) if ctx.needs_input_grad[1] else None
    grad_b = reduction.sum_array(ctx.xp, rows, (0,)) if ctx.needs_input_grad[2] else None
    return grad_x, grad_w, grad_b


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight.T + bias.

    input (*, in_features), weight (out_features, in_features), bias (out_features,)
    -> (*, out_features). One fused op whose backward is made of matmul, transpose and sum, so
    it is twice differentiable.
    """
    if weight.ndim != 2:
        raise backend.ShapeError(f"linear: weight must be 2-D (out_features, in_features), got "
                                 f"shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise backend.ShapeError(
            f"linear: input of shape {input.shape} has {input.shape[-1] if input.ndim else 0} "
            f"features but weight of shape {weight.shape} expects {weight.shape[1]}"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise backend.ShapeError(f"linear: bias has shape {bias.shape}, expected "
                                 f"({weight.shape[0]},)")
    if input.ndim == 1:  # (in,): matmul's rule for a 1-D operand, then the bias
        out = linalg.matmul(input, shape_ops.transpose(weight, 0, 1))
        return out if bias is None else out + bias
    return Linear.apply(input, weight, bias)
