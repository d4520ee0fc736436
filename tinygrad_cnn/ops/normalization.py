"""Batch normalization and dropout, written with Tensor ops (so twice differentiable)."""

from __future__ import annotations

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.autograd.grad_mode import is_grad_enabled
from tinygrad_cnn.cuda import batchnorm as cuda_batchnorm
from tinygrad_cnn.ops import elementwise, reduction
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor

# Shapes: N batch, C channels (features), then any spatial dims (L, or H and W).


def _per_channel(t: Tensor, ndim: int) -> Tensor:
    """(C,) -> (1, C, 1, ...) so it broadcasts against an (N, C, ...) input."""
    return shape_ops.reshape(t, (1, t.shape[0]) + (1,) * (ndim - 2))


class BatchNormBatchStats(Function):
    """Batch norm with the batch's statistics, one node: x (N, C, *), weight and bias (C,) or
    None -> (x - mean) / sqrt(var + eps) * weight + bias, mean and biased var over every dim
    but 1 (``mean`` and ``var`` arrays (1, C, 1, ...) from batch_norm, which also updates the
    running statistics with them; ``mean_shift`` (C,) float64: the exact batch mean minus
    ``mean``, which x's dtype could not hold). As a composite of Tensor ops it was some eleven
    nodes forward and thirty backward. Its backward runs on arrays in ordinary training; when
    a graph of the gradient is recorded (create_graph=True) it is Tensor ops that recompute
    the statistics from x, so it is differentiable again."""

    @staticmethod
    def forward(ctx, x, weight, bias, mean, var, eps, mean_shift=None):
        xp = ctx.xp
        shape = mean.shape
        ctx.eps, ctx.mean, ctx.mean_shift = eps, mean, mean_shift
        ctx.save_for_backward(x, weight)
        if cuda_batchnorm.usable(xp, x, weight, bias, mean, var):       # GPU: two launches
            invstd = cuda_batchnorm.invstd(xp, var.reshape(-1), eps)
            ctx.invstd = invstd.reshape(shape)
            return cuda_batchnorm.normalize(xp, x, mean.reshape(-1), invstd, weight, bias)
        scale = 1.0 / xp.sqrt(var + eps)                                  # (1, C, 1, ...)
        if weight is not None:
            scale = scale * weight.reshape(shape)
        out = x - mean
        out *= scale
        if bias is not None:
            out += bias.reshape(shape)
        ctx.invstd = 1.0 / xp.sqrt(var + eps)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        dims = (0,) + tuple(range(2, x.ndim))
        if not is_grad_enabled():  # no graph of the gradient is wanted: the same math on arrays
            return _batch_norm_grad_arrays(ctx, x.data, None if weight is None else weight.data,
                                           grad.data)
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if needs_b:
            grad_b = reduction.sum(grad, dims)                                   # (C,)
        if not (needs_x or needs_w):
            return grad_x, grad_w, grad_b
        mean = reduction.mean(x, dims, keepdim=True)
        centered = x - mean
        invstd = elementwise.pow(reduction.mean(centered * centered, dims, keepdim=True)
                                 + ctx.eps, -0.5)                                # (1, C, 1, ...)
        x_hat = centered * invstd
        if needs_w:
            grad_w = reduction.sum(grad * x_hat, dims)                           # (C,)
        if needs_x:
            g_hat = grad if weight is None else grad * _per_channel(weight, x.ndim)
            # d x_hat / dx applied to g_hat: invstd (g_hat - mean(g_hat) - x_hat mean(g_hat x_hat))
            grad_x = invstd * (g_hat - reduction.mean(g_hat, dims, keepdim=True)
                               - x_hat * reduction.mean(g_hat * x_hat, dims, keepdim=True))
        return grad_x, grad_w, grad_b


class BatchNormRunningStats(Function):
    """Batch norm with given statistics (evaluation), one node: x (N, C, *), mean and var (C,)
    constants, weight and bias (C,) or None -> (x - mean) / sqrt(var + eps) * weight + bias. On
    the GPU two kernel launches (1/sqrt(var + eps), then one pass over x); exported to ONNX as
    one BatchNormalization node. The backward is Tensor ops, so differentiable again."""

    @staticmethod
    def forward(ctx, x, mean, var, weight, bias, eps):
        xp = ctx.xp
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        ctx.save_for_backward(x, weight)
        if cuda_batchnorm.usable(xp, x, mean, var, weight, bias):
            invstd = cuda_batchnorm.invstd(xp, var, eps)
            ctx.mean, ctx.invstd = mean.reshape(shape), invstd.reshape(shape)
            return cuda_batchnorm.normalize(xp, x, mean, invstd, weight, bias)
        mean = mean.reshape(shape)
        root = xp.sqrt(var.reshape(shape) + eps)
        ctx.mean, ctx.invstd = mean, 1.0 / root
        out = (x - mean) / root
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        needs_x, needs_w, needs_b = (ctx.needs_input_grad[i] for i in (0, 3, 4))
        dims = (0,) + tuple(range(2, x.ndim))
        invstd = Tensor._from_array(ctx.invstd)                               # (1, C, 1, ...)
        grad_x = grad_w = grad_b = None
        if needs_x:
            grad_x = grad * invstd if weight is None else \
                grad * (_per_channel(weight, x.ndim) * invstd)
        if needs_w:
            grad_w = reduction.sum(grad * ((x - Tensor._from_array(ctx.mean)) * invstd), dims)
        if needs_b:
            grad_b = reduction.sum(grad, dims)
        return grad_x, None, None, grad_w, grad_b, None


def _channel_sums(xp, a, b=None):
    """(C,) float64 sums over every dim but 1 of a (N, C, ...), or of a * b without the product
    array. Each (n, c) row of contiguous values is summed in a's dtype (einsum, whose SIMD
    partial sums keep that error near 1e-8 for rows up to 56x56 in float32), the N row sums
    in float64, as PyTorch's CPU batch norm accumulates in double. einsum, because NumPy's sum
    over axes (0, 2, 3) runs 3-4x slower (measured: 22 -> 5 us on (32, 32, 8, 8))."""
    n, c = a.shape[:2]
    a = a.reshape(n, c, -1)
    if a.shape[2] == 1:   # (N, C) input or 1x1 maps: each row is one value, einsum only copies
        rows = a[:, :, 0] if b is None else a[:, :, 0] * b.reshape(n, c)
    else:
        rows = xp.einsum("ncl->nc", a) if b is None else xp.einsum("ncl,ncl->nc", a,
                                                                     b.reshape(n, c, -1))
    # the N row sums as a float64 matrix-vector product: faster than rows.sum(axis=0,
    # dtype=float64), a casting reduction over the outer axis (11 -> 4 us on (256, 64))
    return xp.ones(n, dtype=xp.float64) @ rows.astype(xp.float64)


def _batch_norm_grad_arrays(ctx, x, weight, grad):
    """BatchNormBatchStats.backward on arrays, with the forward's mean and 1/sqrt(var + eps):
    dx = invstd * w * (g - sum(g) / M - x_hat * sum(g x_hat) / M), M values per channel.

    The channel sums are float64 (_channel_sums), and sum(g x_hat), the weight gradient, is
    taken about the exact batch mean: x_hat about the mean rounded to x's dtype is off by
    mean_shift * invstd, and sum(g x_hat) multiplies that by sum(g), so that product is
    subtracted. (Without it, and with the sums in float32, the float32 weight gradient of a
    (32, 32, 56, 56) batch of mean 3 and gradient mean 0.5 was 2e-5 from float64, PyTorch's
    4e-6; now 7e-7.)"""
    xp, (needs_x, needs_w, needs_b) = ctx.xp, ctx.needs_input_grad[:3]
    shape, dtype = ctx.mean.shape, x.dtype                                     # (1, C, 1, ...)
    if grad.dtype == dtype and cuda_batchnorm.usable(xp, x, weight):         # GPU: five launches
        grad_x, grad_w, grad_b = cuda_batchnorm.backward(
            xp, x, grad, ctx.mean.reshape(-1), ctx.invstd.reshape(-1), weight, ctx.mean_shift,
            needs_x)
        return grad_x, grad_w if needs_w else None, grad_b if needs_b else None
    x_hat = x - ctx.mean
    x_hat *= ctx.invstd
    sum_g = _channel_sums(xp, grad)                                            # (C,) float64
    sum_g_x_hat = _channel_sums(xp, grad, x_hat)                               # (C,) float64
    if ctx.mean_shift is not None:
        sum_g_x_hat -= ctx.mean_shift * ctx.invstd.reshape(-1) * sum_g
    grad_x = None
    if needs_x:
        count = grad.size // max(grad.shape[1], 1)
        x_hat *= (sum_g_x_hat / count).astype(dtype).reshape(shape)
        grad_x = grad - (sum_g / count).astype(dtype).reshape(shape)
        grad_x -= x_hat
        grad_x *= ctx.invstd if weight is None else ctx.invstd * weight.reshape(shape)
    return (grad_x, sum_g_x_hat.astype(dtype) if needs_w else None,
            sum_g.astype(dtype) if needs_b else None)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (dim 1).

    input (N, C, *); running_mean, running_var, weight, bias (C,) or None.
    ``training`` (or no running statistics): mean and biased var of the batch over every dim
    but 1, and the running statistics, when given, are updated in place:
    running = (1 - momentum) * running + momentum * batch_stat, with the unbiased variance.
    Otherwise the running statistics normalize.
    """
    if input.ndim < 2:
        raise backend.ShapeError(f"batch_norm: expected an input (N, C, ...), got shape "
                                 f"{input.shape}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise backend.ShapeError(
                f"batch_norm: {name} has shape {t.shape} but the input {input.shape} has "
                f"{channels} channels"
            )
    use_batch = training or running_mean is None or running_var is None
    if use_batch:
        count = input.size // max(channels, 1)
        if training and count <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input "
                f"shape {input.shape}"
            )
        x, xp = input.data, backend.array_module(input.data)
        shape = (1, channels) + (1,) * (input.ndim - 2)
        if cuda_batchnorm.usable(xp, x):  # the same statistics in three kernels, no CuPy kernel
            mean, var, shift = cuda_batchnorm.batch_stats(xp, x)
            if training and running_mean is not None and running_var is not None:
                if cuda_batchnorm.usable(xp, x, running_mean.data, running_var.data):
                    cuda_batchnorm.update_running(running_mean.data, running_var.data, mean, var,
                                                  count, momentum)
                else:
                    _update_running(running_mean, running_var, Tensor._from_array(mean),
                                    Tensor._from_array(var), count, momentum)
            return BatchNormBatchStats.apply(input, weight, bias, mean.reshape(shape),
                                             var.reshape(shape), eps, shift)
        # Two passes, corrected (Chan, Golub and LeVeque): the mean in x's dtype, then the
        # mean of the values centred on it (near zero, so summed almost exactly), the shift to
        # the exact mean, and the variance about the exact mean (on maps of <= 16 values the
        # first pass's float64 mean is exact enough: no extra pass). The shift is what x's dtype
        # cannot hold (the mean of values ~3 rounded to float32 moves by ~1e-7), and the
        # weight gradient would multiply it by the gradient's sum (_batch_norm_grad_arrays).
        exact_mean = _channel_sums(xp, x) / count                               # (C,) float64
        mean = exact_mean.astype(x.dtype).reshape(shape)                      # (1, C, 1, ...)
        centered = x - mean
        if x[:1, :1].size > 16:  # long rows: their sums in x's dtype lose ~1e-7 of the mean
            shift = _channel_sums(xp, centered) / count                        # (C,) float64
        else:  # rows of <= 16 values add exactly enough; a pass costs more than it saves here
            shift = exact_mean - mean.reshape(-1)
        var = _channel_sums(xp, centered, centered) / count - shift * shift    # biased
        var = xp.maximum(var, 0.0).astype(x.dtype).reshape(shape)
        if training and running_mean is not None and running_var is not None:
            _update_running(running_mean, running_var, Tensor._from_array(mean),
                            Tensor._from_array(var), count, momentum)
        return BatchNormBatchStats.apply(input, weight, bias, mean, var, eps, shift)
    return BatchNormRunningStats.apply(input, running_mean.detach(), running_var.detach(),
                                      weight, bias, eps)


def count_batch(counter: Tensor) -> None:
    """``counter += 1`` in place (BatchNorm's ``num_batches_tracked``, a 0-d int64 Tensor): one
    kernel launch of ours on the GPU, NumPy's in-place add on the CPU."""
    data = counter.data
    if not cuda_batchnorm.count_batch(backend.array_module(data), data):
        data += 1


def _update_running(running_mean, running_var, mean, var, count, momentum) -> None:
    """In-place exponential average of the batch statistics (no graph is recorded)."""
    m = float(momentum)
    batch_mean = mean.data.reshape(-1).astype(running_mean.dtype, copy=False)
    unbiased = var.data.reshape(-1) * (count / (count - 1))
    running_mean.data[...] = (1 - m) * running_mean.data + m * batch_mean
    running_var.data[...] = (1 - m) * running_var.data + m * unbiased.astype(running_var.dtype)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) in training;
    the identity otherwise. The mask comes from the library's seeded generator (manual_seed).
    ``inplace`` is accepted for PyTorch compatibility; the result is always a new tensor."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return input
    if input.dtype.kind != "f":
        raise TypeError(f"dropout: needs a floating-point tensor, got {input.dtype}")
    xp = backend.array_module(input.data)
    if p == 1.0:
        return input * Tensor._from_array(xp.zeros(input.shape, dtype=input.dtype))
    mask = backend.keep_mask(input.device, input.shape, p, input.dtype)  # scale or 0
    return input * Tensor._from_array(mask)
