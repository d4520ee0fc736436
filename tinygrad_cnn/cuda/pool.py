"""CUDA kernels for 2-D max and average pooling, forward and backward, one launch each.

Shapes: N batch, C channels, H, W input size, KH, KW kernel, OH, OW output size.

Each axis is an ``ops.windows.Axis`` passed as six ``long long`` (see cuda/windows.py). Padding
and ceil_mode's windows that run past the input are bounds checks: max pooling's padding is
-inf, average pooling's zero. Window offsets k = i*KW + j (``int32``) say where each window's
maximum lies, as ops/pool.py's MaxPool2d records them. Backward kernels give each input pixel
one thread that gathers from the windows reading it, in offset order: deterministic, no atomics.
"""

from __future__ import annotations

from .kernel import Kernel
from .windows import WINDOWS_OVER_PIXEL, axis_args, usable

__all__ = ["avg_pool", "avg_pool_scatter", "max_pool", "max_pool_gather", "max_pool_scatter",
           "usable"]

_GEOMETRY = """
        long long H, long long KH, long long SH, long long DH, long long PH, long long OH,
        long long W, long long KW, long long SW, long long DW, long long PW, long long OW"""

# The rules of ops/pool.py's MaxPool2d: padding (-inf) never wins; the first strictly greater
# value in row-major window order does (ties keep the first); a window that holds NaN gives NaN
# and points at its last NaN; one whose inputs are all -inf points at its first tap that is not
# in the top or left padding.
MAX_POOL = Kernel("tc_max_pool", r"""
extern "C" __global__ void tc_max_pool(const T* x, T* out, int* offsets, long long planes,"""
                  + _GEOMETRY + r""") {
    TC_GRID_STRIDE(idx, planes * OH * OW) {
        const long long ow = idx % OW, oh = (idx / OW) % OH, p = idx / (OH * OW);
        const T* plane = x + p * H * W;
        const long long h0 = oh * SH - PH, w0 = ow * SW - PW;
        const long long first_i = h0 < 0 ? (-h0 + DH - 1) / DH : 0;
        const long long first_j = w0 < 0 ? (-w0 + DW - 1) / DW : 0;
        T best = -(T)TC_INF, nan_value = 0;
        long long best_k = first_i * KW + first_j, nan_k = -1;
        for (long long i = 0; i < KH; ++i) {
            const long long h = h0 + i * DH;
            if (h < 0 || h >= H) continue;
            for (long long j = 0; j < KW; ++j) {
                const long long w = w0 + j * DW;
                if (w < 0 || w >= W) continue;
                const T v = plane[h * W + w];
                if (isnan(v)) {
                    nan_k = i * KW + j;
                    nan_value = v;
                } else if (v > best) {
                    best = v;
                    best_k = i * KW + j;
                }
            }
        }
        out[idx] = nan_k >= 0 ? nan_value : best;
        offsets[idx] = (int)(nan_k >= 0 ? nan_k : best_k);
    }
}
""")

# dx (planes, H, W): each pixel the sum of g over the windows whose chosen offset is this pixel
MAX_POOL_SCATTER = Kernel("tc_max_pool_scatter", WINDOWS_OVER_PIXEL + r"""
extern "C" __global__ void tc_max_pool_scatter(const T* g, const int* offsets, T* dx,
        long long planes,""" + _GEOMETRY + r""") {
    TC_GRID_STRIDE(idx, planes * H * W) {
        const long long w = idx % W, h = (idx / W) % H, p = idx / (H * W);
        const T* g_plane = g + p * OH * OW;
        const int* k_plane = offsets + p * OH * OW;
        T total = 0;
        TC_WINDOWS_OVER_PIXEL(h, w, if (k_plane[o] == i * KW + j) total += g_plane[o];)
        dx[idx] = total;
    }
}
""")

# out (planes, OH, OW): v at each window's chosen offset (zero where that is padding)
MAX_POOL_GATHER = Kernel("tc_max_pool_gather", r"""
extern "C" __global__ void tc_max_pool_gather(const T* v, const int* offsets, T* out,
        long long planes,""" + _GEOMETRY + r""") {
    TC_GRID_STRIDE(idx, planes * OH * OW) {
        const long long ow = idx % OW, oh = (idx / OW) % OH, p = idx / (OH * OW);
        const long long k = offsets[idx];
        const long long h = oh * SH - PH + (k / KW) * DH, w = ow * SW - PW + (k % KW) * DW;
        out[idx] = (h >= 0 && h < H && w >= 0 && w < W) ? v[(p * H + h) * W + w] : (T)0;
    }
}
""", deferred=True)

# out (planes, OH, OW): window sums (padding and past-the-end positions add nothing) divided by
# divisor[oh, ow] when per_window, else by the number ``value``
AVG_POOL = Kernel("tc_avg_pool", r"""
extern "C" __global__ void tc_avg_pool(const T* x, T* out, const T* divisor, long long per_window,
        T value, long long planes,""" + _GEOMETRY + r""") {
    TC_GRID_STRIDE(idx, planes * OH * OW) {
        const long long ow = idx % OW, oh = (idx / OW) % OH, p = idx / (OH * OW);
        const T* plane = x + p * H * W;
        const long long h0 = oh * SH - PH, w0 = ow * SW - PW;
        T total = 0;
        for (long long i = 0; i < KH; ++i) {
            const long long h = h0 + i * DH;
            if (h < 0 || h >= H) continue;
            for (long long j = 0; j < KW; ++j) {
                const long long w = w0 + j * DW;
                if (w >= 0 && w < W) total += plane[h * W + w];
            }
        }
        out[idx] = total / (per_window ? divisor[oh * OW + ow] : value);
    }
}
""")

# dx (planes, H, W): each pixel the sum of g / divisor over the windows that read it
AVG_POOL_SCATTER = Kernel("tc_avg_pool_scatter", WINDOWS_OVER_PIXEL + r"""
extern "C" __global__ void tc_avg_pool_scatter(const T* g, T* dx, const T* divisor,
        long long per_window, T value, long long planes,""" + _GEOMETRY + r""") {
    TC_GRID_STRIDE(idx, planes * H * W) {
        const long long w = idx % W, h = (idx / W) % H, p = idx / (H * W);
        const T* g_plane = g + p * OH * OW;
        T total = 0;
        TC_WINDOWS_OVER_PIXEL(h, w, total += g_plane[o] / (per_window ? divisor[o] : value);)
        dx[idx] = total;
    }
}
""")


def _geometry(geo) -> tuple[int, ...]:
    return (*axis_args(geo.h), *axis_args(geo.w))


def max_pool(xp, x, geo):
    """x (N, C, H, W) -> (values, offsets), both (N, C, OH, OW); offsets int32 k = i*KW + j."""
    x = xp.ascontiguousarray(x)
    n, c = x.shape[:2]
    shape = (n, c, geo.h.out, geo.w.out)
    out = xp.empty(shape, dtype=x.dtype)
    offsets = xp.empty(shape, dtype=xp.int32)
    MAX_POOL(x.dtype, out.size, x, out, offsets, n * c, *_geometry(geo))
    return out, offsets


def max_pool_scatter(xp, g, offsets, geo, input_shape):
    """g (N, C, OH, OW) -> (N, C, H, W): g summed at each window's chosen offset."""
    g, offsets = xp.ascontiguousarray(g), _int32(xp, offsets)
    dx = xp.empty(tuple(input_shape), dtype=g.dtype)
    MAX_POOL_SCATTER(g.dtype, dx.size, g, offsets, dx, g.shape[0] * g.shape[1], *_geometry(geo))
    return dx


def max_pool_gather(xp, v, offsets, geo):
    """v (N, C, H, W) -> (N, C, OH, OW): v at each window's chosen offset."""
    v, offsets = xp.ascontiguousarray(v), _int32(xp, offsets)
    out = xp.empty(offsets.shape, dtype=v.dtype)
    MAX_POOL_GATHER(v.dtype, out.size, v, offsets, out, v.shape[0] * v.shape[1], *_geometry(geo))
    return out


def avg_pool(xp, x, geo, divisor):
    """x (N, C, H, W) -> (N, C, OH, OW): window sums / ``divisor`` ((OH, OW) array or number)."""
    x = xp.ascontiguousarray(x)
    n, c = x.shape[:2]
    out = xp.empty((n, c, geo.h.out, geo.w.out), dtype=x.dtype)
    AVG_POOL(x.dtype, out.size, x, out, *_divisor(xp, divisor, out), n * c, *_geometry(geo))
    return out


def avg_pool_scatter(xp, g, geo, divisor, input_shape):
    """g (N, C, OH, OW) -> (N, C, H, W): g / divisor summed over every element of its window."""
    g = xp.ascontiguousarray(g)
    dx = xp.empty(tuple(input_shape), dtype=g.dtype)
    AVG_POOL_SCATTER(g.dtype, dx.size, g, dx, *_divisor(xp, divisor, g),
                     g.shape[0] * g.shape[1], *_geometry(geo))
    return dx


def _divisor(xp, divisor, like):
    """The kernels' (divisor array, per_window, value) arguments; a number's array argument is
    ``like``, which the kernel then does not read."""
    if getattr(divisor, "ndim", 0) > 0:
        return xp.ascontiguousarray(divisor, dtype=like.dtype), 1, 1.0
    return like, 0, float(divisor)


def _int32(xp, offsets):
    return xp.ascontiguousarray(offsets, dtype=xp.int32)
