"""Batch normalization with the batch's statistics on the GPU: the array math of
``ops/normalization.py`` in a few kernels and cuBLAS products, no CuPy kernel.

The generic path (NumPy's, and CuPy's with the kernels off) runs some sixty CuPy launches in a
Conv-BatchNorm training step, of about twenty-five kinds that a fresh process compiles one after
another (elementwise ops on (N, C, L) and (C,) arrays, casts, ``einsum``). Here the input is
viewed as (N, C, L), L the product of the spatial sizes (1 for an (N, C) input), and:

- each (n, c) row's sum is one cuBLAS product with a vector of ones in the input's dtype (as the
  generic path's ``einsum`` sums each row in that dtype; ``sums.row_sums``), and one thread per
  channel adds its N row sums in float64 (the generic path's float64 product with ones);
- everything elementwise is one kernel over the input: centring and squaring, the forward's
  ``(x - mean) * invstd * weight + bias``, the backward's ``grad * x_hat`` and its ``grad_x``;
- the per-channel steps (mean, variance and 1/sqrt(var + eps), the running statistics, the
  gradient sums' correction) are one thread per channel each.

The statistics are the generic path's, step for step: the mean in float64 then rounded to the
input's dtype, the values centred on it, the shift to the exact mean (from the centred rows, or
``exact - mean`` for rows of at most 16 values), the biased variance about the exact mean. NVRTC
may contract a product and a sum into one rounding, so float32 results can differ from the CPU's
in the last bits.

Used for float32/float64 C-contiguous inputs, with weight, bias and running statistics (when
given) of the input's dtype; not for float32 while TF32 products are allowed (the row sums are
matrix products); anything else takes the generic path.
"""

from __future__ import annotations

import numpy as np

from tinygrad_cnn import backend

from . import sums
from .kernel import FLOAT_CHARS, Kernel, enabled_for

_INT_LAUNCH = np.dtype(np.float64)  # the counter kernel's launch type (its T is unused)

# (i / inner) % channels: the channel of element i of a C-contiguous (N, C, L) array
MEAN = Kernel("tc_bn_mean", r"""
extern "C" __global__ void tc_bn_mean(const T* rows, double* exact, T* mean, long long batch,
                                      long long channels, long long count) {
    TC_GRID_STRIDE(c, channels) {              // rows (N, C): each (n, c) row's sum
        double total = 0.0;
        for (long long n = 0; n < batch; ++n) total += (double)rows[n * channels + c];
        exact[c] = total / (double)count;
        mean[c] = (T)exact[c];
    }
}
""", deferred=True)

CENTER = Kernel("tc_bn_center", r"""
extern "C" __global__ void tc_bn_center(const T* x, const T* mean, T* centered, T* squares,
                                        long long channels, long long inner, long long n) {
    TC_GRID_STRIDE(i, n) {
        const T d = x[i] - mean[(i / inner) % channels];
        centered[i] = d;
        squares[i] = d * d;
    }
}
""", deferred=True)

VARIANCE = Kernel("tc_bn_variance", r"""
extern "C" __global__ void tc_bn_variance(const T* centered_rows, const T* square_rows,
                                          const double* exact, const T* mean, double* shift,
                                          T* var, long long batch, long long channels,
                                          long long count, long long shift_from_rows) {
    TC_GRID_STRIDE(c, channels) {
        double centered = 0.0, squares = 0.0;
        for (long long n = 0; n < batch; ++n) {
            if (shift_from_rows) centered += (double)centered_rows[n * channels + c];
            squares += (double)square_rows[n * channels + c];
        }
        const double s = shift_from_rows ? centered / (double)count : exact[c] - (double)mean[c];
        const double v = squares / (double)count - s * s;   // biased, about the exact mean
        shift[c] = s;
        var[c] = (T)(v > 0.0 ? v : 0.0);
    }
}
""", deferred=True)

RUNNING = Kernel("tc_bn_running", r"""
extern "C" __global__ void tc_bn_running(T* running_mean, T* running_var, const T* mean,
                                         const T* var, T keep, T momentum, T unbias,
                                         long long channels) {
    TC_GRID_STRIDE(c, channels) {              // unbias = count / (count - 1)
        running_mean[c] = keep * running_mean[c] + momentum * mean[c];
        running_var[c] = keep * running_var[c] + momentum * (var[c] * unbias);
    }
}
""", deferred=True)

INVSTD = Kernel("tc_bn_invstd", r"""
extern "C" __global__ void tc_bn_invstd(const T* var, T* invstd, T eps, long long channels) {
    TC_GRID_STRIDE(c, channels) { invstd[c] = (T)1 / sqrt(var[c] + eps); }
}
""", deferred=True)

NORMALIZE = Kernel("tc_bn_normalize", r"""
extern "C" __global__ void tc_bn_normalize(const T* x, const T* mean, const T* invstd,
                                           const T* weight, const T* bias, T* out,
                                           long long has_weight, long long has_bias,
                                           long long channels, long long inner, long long n) {
    TC_GRID_STRIDE(i, n) {
        const long long c = (i / inner) % channels;
        const T scale = has_weight ? invstd[c] * weight[c] : invstd[c];
        T y = (x[i] - mean[c]) * scale;
        if (has_bias) y = y + bias[c];
        out[i] = y;
    }
}
""", deferred=True)

GRAD_PRODUCT = Kernel("tc_bn_grad_product", r"""
extern "C" __global__ void tc_bn_grad_product(const T* grad, const T* x, const T* mean,
                                              const T* invstd, T* product, long long channels,
                                              long long inner, long long n) {
    TC_GRID_STRIDE(i, n) {                      // grad * x_hat
        const long long c = (i / inner) % channels;
        product[i] = grad[i] * ((x[i] - mean[c]) * invstd[c]);
    }
}
""", deferred=True)

GRAD_SUMS = Kernel("tc_bn_grad_sums", r"""
extern "C" __global__ void tc_bn_grad_sums(const T* grad_rows, const T* product_rows,
                                           const double* shift, const T* invstd,
                                           double* sum_grad, double* sum_product,
                                           T* grad_weight, T* grad_bias, long long has_shift,
                                           long long batch, long long channels) {
    TC_GRID_STRIDE(c, channels) {
        double g = 0.0, p = 0.0;
        for (long long n = 0; n < batch; ++n) {
            g += (double)grad_rows[n * channels + c];
            p += (double)product_rows[n * channels + c];
        }
        // x_hat about the mean rounded to T is off by shift * invstd: take it out of sum(g x_hat)
        if (has_shift) p -= shift[c] * (double)invstd[c] * g;
        sum_grad[c] = g;
        sum_product[c] = p;
        grad_weight[c] = (T)p;
        grad_bias[c] = (T)g;
    }
}
""", deferred=True)

GRAD_INPUT = Kernel("tc_bn_grad_input", r"""
extern "C" __global__ void tc_bn_grad_input(const T* grad, const T* x, const T* mean,
                                            const T* invstd, const T* weight,
                                            const double* sum_grad, const double* sum_product,
                                            T* out, long long has_weight, long long count,
                                            long long channels, long long inner, long long n) {
    TC_GRID_STRIDE(i, n) {   // invstd * w * (g - sum(g) / M - x_hat * sum(g x_hat) / M)
        const long long c = (i / inner) % channels;
        const T x_hat = ((x[i] - mean[c]) * invstd[c]) * (T)(sum_product[c] / (double)count);
        const T scale = has_weight ? invstd[c] * weight[c] : invstd[c];
        out[i] = ((grad[i] - (T)(sum_grad[c] / (double)count)) - x_hat) * scale;
    }
}
""", deferred=True)


INCREMENT = Kernel("tc_bn_count", r"""
extern "C" __global__ void tc_bn_count(long long* counter, long long n) {
    TC_GRID_STRIDE(i, n) { counter[i] += 1; }   // T unused: BatchNorm's num_batches_tracked
}
""", deferred=True)


def count_batch(xp, counter) -> bool:
    """counter += 1 in place for a 0-d int64 array on the GPU, one launch of ours (CuPy's add
    is a kernel to compile in a fresh process); False when the kernels do not take it."""
    if not enabled_for(xp) or counter.dtype != np.int64 or not counter.flags.c_contiguous:
        return False
    INCREMENT(_INT_LAUNCH, counter.size, counter, counter.size)
    return True


def usable(xp, x, *per_channel) -> bool:
    """Whether batch norm of ``x`` (N, C, *) takes the kernels: kernels on for ``xp``, float32
    or float64, C-contiguous, every (C,) array in ``per_channel`` that is not None of x's dtype
    and contiguous, and no TF32 for float32 (the row sums are matrix products)."""
    if not enabled_for(xp) or x.dtype.char not in FLOAT_CHARS or not x.flags.c_contiguous:
        return False
    if x.ndim < 2 or x.size == 0 or x.shape[0] * x.shape[1] >= sums.CUBLAS_INT:
        return False
    if x.dtype.char == "f" and backend.matmul_tf32():
        return False
    return all(a is None or (a.dtype == x.dtype and a.flags.c_contiguous) for a in per_channel)


def _layout(x) -> tuple[int, int, int]:
    n, c = x.shape[:2]
    return n, c, x.size // (n * c)


def batch_stats(xp, x):
    """The batch's statistics of x (N, C, *): mean and biased var (C,) in x's dtype, and the
    shift (C,) float64 from that mean to the exact one (see ``batch_norm``)."""
    n, c, inner = _layout(x)
    count = n * inner
    exact = xp.empty(c, dtype=xp.float64)
    mean = xp.empty(c, dtype=x.dtype)
    MEAN(x.dtype, c, sums.row_sums(xp, x.reshape(n * c, inner)), exact, mean, n, c, count)
    halves = xp.empty((2, n * c, inner), dtype=x.dtype)  # centred values, then their squares
    CENTER(x.dtype, x.size, x, mean, halves[0], halves[1], c, inner, x.size)
    rows = sums.row_sums(xp, halves.reshape(2 * n * c, inner)).reshape(2, n * c)
    shift = xp.empty(c, dtype=xp.float64)
    var = xp.empty(c, dtype=x.dtype)
    VARIANCE(x.dtype, c, rows[0], rows[1], exact, mean, shift, var, n, c, count,
             int(inner > 16))
    return mean, var, shift


def update_running(running_mean, running_var, mean, var, count: int, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * batch statistic, in place, with the
    unbiased variance (var * count / (count - 1))."""
    dtype = mean.dtype.type
    RUNNING(mean.dtype, mean.size, running_mean, running_var, mean, var, dtype(1 - momentum),
            dtype(momentum), dtype(count / (count - 1)), mean.size)


def invstd(xp, var, eps: float):
    """1 / sqrt(var + eps) of a (C,) array, in its dtype."""
    out = xp.empty_like(var)
    INVSTD(var.dtype, var.size, var, out, var.dtype.type(eps), var.size)
    return out


def normalize(xp, x, mean, inv, weight, bias):
    """(x - mean) * invstd * weight + bias over x (N, C, *), per channel (C,) arrays; weight
    and bias may be None."""
    n, c, inner = _layout(x)
    out = xp.empty_like(x)
    NORMALIZE(x.dtype, x.size, x, mean, inv, inv if weight is None else weight,
              inv if bias is None else bias, out, int(weight is not None),
              int(bias is not None), c, inner, x.size)
    return out


def backward(xp, x, grad, mean, inv, weight, shift, needs_x: bool):
    """The gradients of batch norm with batch statistics: (grad_x or None, grad_weight,
    grad_bias) for x, grad (N, C, *) and the forward's mean and invstd (C,); the channel sums
    in float64, sum(g x_hat) corrected by ``shift`` (C,) float64 or None."""
    n, c, inner = _layout(x)
    grad = xp.ascontiguousarray(grad)
    product = xp.empty_like(x)
    GRAD_PRODUCT(x.dtype, x.size, grad, x, mean, inv, product, c, inner, x.size)
    sum_grad = xp.empty(c, dtype=xp.float64)
    sum_product = xp.empty(c, dtype=xp.float64)
    grad_weight, grad_bias = xp.empty(c, dtype=x.dtype), xp.empty(c, dtype=x.dtype)
    GRAD_SUMS(x.dtype, c, sums.row_sums(xp, grad.reshape(n * c, inner)),
              sums.row_sums(xp, product.reshape(n * c, inner)),
              sum_grad if shift is None else shift, inv, sum_grad, sum_product, grad_weight,
              grad_bias, int(shift is not None), n, c)
    grad_x = None
    if needs_x:
        grad_x = product  # its values are no longer needed: reuse the buffer
        GRAD_INPUT(x.dtype, x.size, grad, x, mean, inv, inv if weight is None else weight,
                   sum_grad, sum_product, grad_x, int(weight is not None), n * inner, c, inner,
                   x.size)
    return grad_x, grad_weight, grad_bias
