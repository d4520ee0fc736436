"""CUDA kernels for sliding windows (conv2d, F.unfold / F.fold): im2col with its padding in one
pass, and col2im as one gather.

Shapes: N batch, C channels, H, W input size, KH, KW kernel, OH, OW output size, L = OH*OW.

The geometry of each spatial axis comes from an ``ops.windows.Axis`` (size, kernel, stride,
dilation, pad_before, out), passed to the kernels as six ``long long``. Padding is never built:
a window position outside the input reads as zero (bounds checks). The column layout is
im2col's (C, KH, KW, N, OH, OW) with rows of N*L; col2im gives each input pixel one thread that
gathers what the columns hold for it, in kernel-offset order, so sums are deterministic (no
atomics).
"""

from __future__ import annotations

from .kernel import FLOAT_CHARS, Kernel, enabled_for

# For input pixel (h, w): runs the statements for each tap (i, j) of each window o = oh*OW + ow
# that reads it (oh = (h + PH - i*DH) / SH where that divides evenly and lies in [0, OH); the
# same for ow), in kernel-offset order. Needs the geometry parameters' names in scope.
WINDOWS_OVER_PIXEL = r"""
#define TC_WINDOWS_OVER_PIXEL(h, w, ...) \
    for (long long i = 0; i < KH; ++i) { \
        const long long hp = (h) + PH - i * DH; \
        if (hp < 0 || hp % SH != 0 || hp / SH >= OH) continue; \
        for (long long j = 0; j < KW; ++j) { \
            const long long wp = (w) + PW - j * DW; \
            if (wp < 0 || wp % SW != 0 || wp / SW >= OW) continue; \
            const long long o = (hp / SH) * OW + wp / SW; \
            __VA_ARGS__ \
        } \
    }
"""

# one thread per (c, n, oh, ow); it writes the KH*KW column rows of that output position, so
# the index arithmetic is shared by the taps and a warp's writes are contiguous in every row
IM2COL = Kernel("tc_im2col", r"""
extern "C" __global__ void tc_im2col(
        const T* x, T* cols, long long n, long long c,
        long long H, long long KH, long long SH, long long DH, long long PH, long long OH,
        long long W, long long KW, long long SW, long long DW, long long PW, long long OW) {
    const long long L = OH * OW, row = n * L;
    TC_GRID_STRIDE(idx, c * row) {
        const long long ow = idx % OW, oh = (idx / OW) % OH, b = (idx / L) % n, ch = idx / row;
        const T* plane = x + (b * c + ch) * H * W;
        T* out = cols + ch * KH * KW * row + b * L + oh * OW + ow;
        const long long h0 = oh * SH - PH, w0 = ow * SW - PW;
        for (long long i = 0; i < KH; ++i) {
            const long long h = h0 + i * DH;
            const bool row_inside = h >= 0 && h < H;
            for (long long j = 0; j < KW; ++j) {
                const long long w = w0 + j * DW;
                out[(i * KW + j) * row] = (row_inside && w >= 0 && w < W) ? plane[h * W + w]
                                                                          : (T)0;
            }
        }
    }
}
""")

# one thread per input pixel (b, ch, h, w): the window positions whose tap (i, j) reads it are
# oh = (h + PH - i*DH) / SH when that divides evenly and lies in [0, OH). Column row r = (ch, i, j)
# of batch item b starts at r * row + b * item (im2col's layout: row = N*L, item = L; batch-major
# (N, C, KH, KW, OH, OW): row = L, item = C*KH*KW*L)
COL2IM = Kernel("tc_col2im", WINDOWS_OVER_PIXEL + r"""
extern "C" __global__ void tc_col2im(
        const T* cols, T* x, long long n, long long c, long long row, long long item,
        long long H, long long KH, long long SH, long long DH, long long PH, long long OH,
        long long W, long long KW, long long SW, long long DW, long long PW, long long OW) {
    TC_GRID_STRIDE(idx, n * c * H * W) {
        const long long w = idx % W, h = (idx / W) % H, ch = (idx / (H * W)) % c;
        const long long b = idx / (c * H * W);
        const T* rows = cols + ch * KH * KW * row + b * item;
        T total = 0;
        TC_WINDOWS_OVER_PIXEL(h, w, total += rows[(i * KW + j) * row + o];)
        x[idx] = total;
    }
}
""")


def usable(xp, dtype) -> bool:
    """True when arrays of ``dtype`` on ``xp`` take the kernel path: kernels are on for ``xp``
    (see :func:`enabled_for`) and the dtype is float32 or float64 (other dtypes keep the
    generic path)."""
    return getattr(dtype, "char", None) in FLOAT_CHARS and enabled_for(xp)


def axis_args(g) -> tuple[int, int, int, int, int, int]:
    """An Axis as the kernels' six ints: size, kernel, stride, dilation, pad_before, out."""
    return int(g.size), int(g.kernel), int(g.stride), int(g.dilation), int(g.pad_before), int(g.out)


def im2col(xp, x, cols, gh, gw) -> None:
    """x (N, C, H, W) -> ``cols``, a C-contiguous (C*KH*KW, N*OH*OW) array (written whole):
    the zero-padded windows of the axes ``gh``, ``gw`` in im2col's layout, one launch."""
    x = xp.ascontiguousarray(x)
    n, c = x.shape[:2]
    IM2COL(x.dtype, c * n * gh.out * gw.out, x, cols, n, c, *axis_args(gh), *axis_args(gw))


def col2im(xp, cols, out, gh, gw) -> None:
    """cols (C, KH, KW, N, OH, OW) -> ``out`` (N, C, H, W), C-contiguous (written whole): each
    input pixel the sum of the columns that read it, one launch. Columns held batch-major
    (a transposed C-contiguous (N, C, KH, KW, OH, OW), as F.fold's blocks and conv's batched
    product are) are read in place; other layouts are made im2col's contiguous one first."""
    n, c = out.shape[:2]
    length = gh.out * gw.out
    batch_major = cols.transpose(3, 0, 1, 2, 4, 5)
    if batch_major.flags.c_contiguous:
        cols, row, item = batch_major, length, c * gh.kernel * gw.kernel * length
    else:
        cols, row, item = xp.ascontiguousarray(cols), n * length, length
    COL2IM(out.dtype, out.size, cols, out, n, c, row, item, *axis_args(gh), *axis_args(gw))
