"""CUDA kernels for the sum and the product of two arrays of one shape and dtype.

A residual block's ``out + identity`` and the autograd engine's sum of two gradients of one
tensor (a tensor used twice, as the identity path is) are same-shape sums; dropout's
``x * mask`` and its backward ``grad * mask`` are same-shape products. CuPy's ``add`` and
``multiply`` are one kernel each too, but kernels to compile in a fresh process; these compile
with ours, on the pool. IEEE arithmetic, as NumPy's (signed zeros, infinities and NaN alike).
"""

from __future__ import annotations

import numpy as np

from .kernel import FLOAT_CHARS, Kernel, enabled_for

ADD = Kernel("tc_add", r"""
extern "C" __global__ void tc_add(const T* a, const T* b, T* out, long long n) {
    TC_GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}
""", deferred=True)

MUL = Kernel("tc_mul", r"""
extern "C" __global__ void tc_mul(const T* a, const T* b, T* out, long long n) {
    TC_GRID_STRIDE(i, n) { out[i] = a[i] * b[i]; }
}
""", deferred=True)


def usable(xp, a, b) -> bool:
    """Whether ``a + b`` or ``a * b`` takes a kernel: kernels on for ``xp``, one float32 or
    float64 dtype, one shape, both C-contiguous arrays (not NumPy's 0-d scalars)."""
    return (enabled_for(xp) and getattr(a, "dtype", None) is not None
            and a.dtype.char in FLOAT_CHARS and getattr(b, "dtype", None) == a.dtype
            and a.shape == b.shape and a.flags.c_contiguous and b.flags.c_contiguous
            and not isinstance(a, np.generic) and not isinstance(b, np.generic))


def add(xp, a, b):
    """a + b for arrays ``usable`` accepts, as a new array."""
    out = xp.empty_like(a)
    ADD(a.dtype, a.size, a, b, out, a.size)
    return out


def mul(xp, a, b):
    """a * b for arrays ``usable`` accepts, as a new array."""
    out = xp.empty_like(a)
    MUL(a.dtype, a.size, a, b, out, a.size)
    return out
