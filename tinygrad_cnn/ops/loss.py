"""Softmax, log-softmax and the losses built on them."""

from __future__ import annotations

from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import elementwise, reduction
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


class LogSoftmax(Function):
    """y = x - logsumexp(x) along one dim, stable for logits of any magnitude."""

    @staticmethod
    def forward(ctx, x, dim):
        xp = ctx.xp
        shifted = x - xp.max(x, axis=dim, keepdims=True)
        y = shifted - xp.log(xp.sum(xp.exp(shifted), axis=dim, keepdims=True))
        ctx.dim = dim
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # dx = g - softmax(x) * sum(g); softmax is exp(y), a function of the output
        return grad - elementwise.exp(y) * reduction.sum(grad, ctx.dim, keepdim=True), None


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """log(softmax(x)) along ``dim``, computed without overflow."""
    d = shape_ops.normalize_dim(dim, x.ndim, "log_softmax")
    return LogSoftmax.apply(x, d)


def softmax(x: Tensor, dim: int) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed without overflow."""
    return elementwise.exp(log_softmax(x, dim))
