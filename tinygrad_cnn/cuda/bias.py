"""CUDA kernel adding a per-channel bias in place: ``y += b`` broadcast over one axis.

Conv2d (y (N, K, OH, OW), b (K,)) and Linear (y (*, K), b (K,)) add their bias in place. CuPy's
broadcast add is one kernel too, but a different one to compile for every layout; this one kernel
serves both layers and every layout.
"""

from __future__ import annotations

from .kernel import FLOAT_CHARS, Kernel, enabled_for

ADD_BIAS = Kernel("tc_add_bias", r"""
extern "C" __global__ void tc_add_bias(T* y, const T* b, long long channels, long long inner,
                                       long long n) {
    TC_GRID_STRIDE(k, n) {
        y[k] = y[k] + b[(k / inner) % channels];
    }
}
""")


def usable(xp, y, b) -> bool:
    """Whether ``y += b`` takes the kernel: kernels on for ``xp``, one float dtype, y and b
    C-contiguous."""
    return (enabled_for(xp) and y.dtype.char in FLOAT_CHARS and b.dtype == y.dtype
            and y.flags.c_contiguous and b.flags.c_contiguous)


def add_bias(xp, y, b, inner: int) -> None:
    """y += b in place, where y's element k belongs to channel (k // inner) % b.size: inner is
    OH*OW for a conv output (N, K, OH, OW), 1 for a linear output (*, K)."""
    ADD_BIAS(y.dtype, y.size, y, b, b.size, int(inner), y.size)
