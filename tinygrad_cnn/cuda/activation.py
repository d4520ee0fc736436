"""CUDA kernels for ReLU and Hardtanh (ReLU6), forward and backward, one launch each and no mask
array.

The generic path takes ``maximum(x, 0)`` forward and ``g * (y > 0)`` backward, two CuPy kernels
for the backward (a comparison, then a product) and three kernels to compile on first use; these
are one launch each, two kernels to compile. They follow NumPy's results bit for
bit: ``maximum(-0.0, 0)`` is +0.0, NaN stays NaN, and the backward multiplies by the mask (so
``NaN * 0`` stays NaN and a negative gradient times 0 is -0.0). "Positive" is read from the bits
(``tc_positive``), so a float32 subnormal counts as positive, as on the CPU, even where a
compile flushes subnormals in comparisons (an H100 gave 0 for ``1e-45 > 0`` in the backward);
Hardtanh's comparisons with its bounds likewise (``tc_less``), so ReLU6 of a subnormal keeps it.
"""

from __future__ import annotations

import numpy as np

from .kernel import FLOAT_CHARS, Kernel, enabled_for

RELU = Kernel("tc_relu", r"""
extern "C" __global__ void tc_relu(const T* x, T* y, long long n) {
    TC_GRID_STRIDE(i, n) {
        const T v = x[i];
        y[i] = (tc_positive(v) || v != v) ? v : (T)0;
    }
}
""")

RELU_GRAD = Kernel("tc_relu_grad", r"""
extern "C" __global__ void tc_relu_grad(const T* g, const T* y, T* out, long long n) {
    TC_GRID_STRIDE(i, n) {
        out[i] = tc_positive(y[i]) ? g[i] : g[i] * (T)0;  // g's bits where it passes
    }
}
""")


HARDTANH = Kernel("tc_hardtanh", r"""
extern "C" __global__ void tc_hardtanh(const T* x, T* y, T lo, T hi, long long n) {
    TC_GRID_STRIDE(i, n) {                      // NumPy's clip: NaN stays, x == lo keeps x
        const T v = x[i];
        y[i] = tc_less(v, lo) ? lo : (tc_less(hi, v) ? hi : v);
    }
}
""", deferred=True)

HARDTANH_GRAD = Kernel("tc_hardtanh_grad", r"""
extern "C" __global__ void tc_hardtanh_grad(const T* g, const T* x, T* out, T lo, T hi,
                                            long long n) {
    TC_GRID_STRIDE(i, n) {                      // g * (lo < x < hi), strictly inside
        const T v = x[i];
        out[i] = (tc_less(lo, v) && tc_less(v, hi)) ? g[i] : g[i] * (T)0;
    }
}
""", deferred=True)


def usable(xp, *arrays) -> bool:
    """Whether these arrays take the kernels: kernels on for ``xp``, all float32 or all float64,
    C-contiguous and of one shape."""
    first = arrays[0]
    return (enabled_for(xp) and first.dtype.char in FLOAT_CHARS
            and not any(isinstance(a, np.generic) for a in arrays)  # NumPy's 0-d results
            and all(a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous
                    for a in arrays))


def relu(xp, x):
    """max(x, 0) of a C-contiguous float array, as NumPy's ``maximum(x, 0)``."""
    y = xp.empty_like(x)
    RELU(x.dtype, x.size, x, y, x.size)
    return y


def relu_grad(xp, g, y):
    """g * (y > 0) for C-contiguous float arrays of one shape and dtype."""
    out = xp.empty_like(g)
    RELU_GRAD(g.dtype, g.size, g, y, out, g.size)
    return out


def hardtanh(xp, x, lo: float, hi: float):
    """clip(x, lo, hi) of a C-contiguous float array, as NumPy's ``clip``."""
    y = xp.empty_like(x)
    scalar = x.dtype.type  # the bounds as T: a Python int would be passed as a long long
    HARDTANH(x.dtype, x.size, x, y, scalar(lo), scalar(hi), x.size)
    return y


def hardtanh_grad(xp, g, x, lo: float, hi: float):
    """g * (lo < x < hi) for C-contiguous float arrays of one shape and dtype."""
    out = xp.empty_like(g)
    scalar = g.dtype.type
    HARDTANH_GRAD(g.dtype, g.size, g, x, out, scalar(lo), scalar(hi), g.size)
    return out
