"""2-D pooling: max, average, power-average (Lp) and their adaptive forms; all twice differentiable.

Shapes: N batch, C channels, H, W input size, KH, KW kernel, OH, OW output size.

Every pool reads its windows as KH*KW strided slices ("taps") of the padded input, one
vectorised pass per kernel offset; when the windows tile the input (stride = kernel, no padding)
the taps are the planes of the reshape (N, C, OH, KH, OW, KW) and the backward writes each
element exactly once instead of adding. Ops come in adjoint pairs, each the other's backward:

    MaxPool2d(x) -> (values, first-max offsets); MaxPoolScatter(g) <-> MaxPoolGather(v)
    AvgPool2d(x) = window sums / divisor       <-> AvgPoolScatter(g)

On CuPy, float32 and float64 data take one CUDA kernel per op instead (tinygrad_cnn/cuda/pool.py,
same rules; TINYGRAD_CNN_CUDA_KERNELS=0 turns them off).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from tinygrad_cnn import backend, parallel
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.cuda import pool as cuda_pool
from tinygrad_cnn.ops import compare, elementwise, linalg, windows
from tinygrad_cnn.ops.windows import Axis
from tinygrad_cnn.tensor import Tensor


@dataclass(frozen=True)
class PoolGeometry:
    """The windows of a 2-D pool: one Axis per spatial dimension (height ``h``, width ``w``), each
    with its input size, kernel, stride, dilation, padding before and output size. Windows read
    the (N, C, h.span, w.span) padded input and give (N, C, h.out, w.out) outputs."""

    h: Axis
    w: Axis

    def taps(self):
        """(k, rows, cols): kernel offset k = i*KW + j and the slices it reads, per output."""
        return [(i * self.w.kernel + j, self.h.tap(i), self.w.tap(j))
                for i in range(self.h.kernel) for j in range(self.w.kernel)]

    @property
    def tiles(self) -> bool:
        """The windows partition the input (stride = kernel, no padding, dilation 1, nothing left
        over on either axis): every input element lies in exactly one window under exactly one
        tap, so a backward may write each tap's gradient instead of adding it."""
        return self.h.tiles and self.w.tiles


def _lowest(xp, dtype):
    """The padding value of max pooling: -inf, or the smallest integer."""
    return -xp.inf if xp.dtype(dtype).kind == "f" else xp.iinfo(dtype).min


def _scatter_buffer(xp, shape, geo: PoolGeometry, dtype):
    """The padded gradient buffer; uninitialised when every element is written exactly once."""
    full = shape[:2] + (geo.h.span, geo.w.span)
    return xp.empty(full, dtype=dtype) if geo.tiles else xp.zeros(full, dtype=dtype)


# ---------------------------------------------------------------------- max pooling


class MaxPool2d(Function):
    """(N, C, H, W) -> (N, C, OH, OW): each window's maximum; the gradient goes to its first
    maximum in row-major window order (padding never: an all -inf window's goes to its first
    input element), or to its last NaN if it holds one (PyTorch's rules).
    ``ctx.offsets`` holds that offset k."""

    @staticmethod
    def forward(ctx, x, geometry: PoolGeometry, indices_out=None):
        xp, geo = ctx.xp, geometry
        if cuda_pool.usable(xp, x.dtype):
            best, offsets = cuda_pool.max_pool(xp, x, geo)               # one kernel
        else:
            best, offsets = _max_and_offsets_by_rows(
                xp, x, geo, ctx.needs_input_grad[0] or indices_out is not None)
            if offsets is None:  # values only (inference)
                return best
        ctx.geometry, ctx.input_shape, ctx.offsets = geo, x.shape, offsets
        if indices_out is not None:  # return_indices: flat positions, PyTorch's format
            indices_out.append(_offsets_to_index(xp, offsets, x.shape[3], geo))
        return best

    @staticmethod
    def backward(ctx, grad):
        return MaxPoolScatter.apply(grad, geometry=ctx.geometry, offsets=ctx.offsets,
                                    input_shape=ctx.input_shape)


def _max_and_offsets_by_rows(xp, x, geo: PoolGeometry, with_offsets: bool):
    """_max_and_offsets, its batch split across the CPU threads when the input is large."""
    ranges = parallel.row_ranges(xp, x.shape[0], x.nbytes)
    if len(ranges) == 1:
        return _max_and_offsets(xp, x, geo, with_offsets)
    shape = x.shape[:2] + (geo.h.out, geo.w.out)
    best = xp.empty(shape, dtype=x.dtype)
    offsets = xp.empty(shape, dtype=_offset_dtype(xp, geo)) if with_offsets else None

    def part(start, stop):
        b, o = _max_and_offsets(xp, x[start:stop], geo, with_offsets)
        best[start:stop] = b
        if o is not None:
            offsets[start:stop] = o

    parallel.batch_map(part, ranges)
    return best, offsets


def _offset_dtype(xp, geo: PoolGeometry):
    """The smallest integer type that holds every kernel offset k."""
    return xp.int8 if geo.h.kernel * geo.w.kernel < 128 else xp.int32


def _max_and_offsets(xp, x, geo: PoolGeometry, with_offsets: bool):
    """(N, C, H, W) -> each window's maximum (N, C, OH, OW) and, when ``with_offsets``, the
    offset k MaxPool2d's rules choose (else None): one vectorised pass per kernel offset."""
    x_pad = windows.pad_to_windows(xp, x, geo.h, geo.w, fill=_lowest(xp, x.dtype))
    taps = geo.taps()
    _, rows, cols = taps[0]
    best = x_pad[:, :, rows, cols].copy()                                # (N, C, OH, OW)
    if not with_offsets:
        for _, rows, cols in taps[1:]:
            xp.maximum(best, x_pad[:, :, rows, cols], out=best)
        return best, None
    offsets = _first_input_offsets(xp, geo, best.shape, _offset_dtype(xp, geo))
    later = xp.empty(best.shape, dtype=bool)
    for k, rows, cols in taps[1:]:
        v = x_pad[:, :, rows, cols]
        xp.greater(v, best, out=later)            # strictly greater: ties keep the first maximum
        xp.maximum(best, v, out=best)
        offsets += later.astype(offsets.dtype) * (k - offsets)         # offsets = k where later
    if xp.dtype(x.dtype).kind == "f":
        _point_nan_windows_at_last_nan(xp, x_pad, taps, best, offsets)
    return best, offsets


def _first_input_offsets(xp, geo: PoolGeometry, shape, dtype):
    """(N, C, OH, OW) offsets k of each window's first tap that is not in the top or left
    padding, where the search for the maximum starts. A window whose input values all equal the
    padding value (-inf, or the smallest integer) so points at its first input element, as
    PyTorch's does; padding after the input never comes first. 0 everywhere (the common case,
    one fill) when no window starts in the padding."""
    offsets = xp.zeros(shape, dtype=dtype)
    if geo.h.pad_before == 0 and geo.w.pad_before == 0:
        return offsets
    first = []
    for g in (geo.h, geo.w):
        before = xp.maximum(g.pad_before - xp.arange(g.out) * g.stride, 0)  # padding cells ahead
        first.append(-(-before // g.dilation))                    # (O,) first tap i inside
    offsets[...] = first[0].reshape(-1, 1) * geo.w.kernel + first[1]          # (OH, OW)
    return offsets


def _point_nan_windows_at_last_nan(xp, x_pad, taps, best, offsets):
    """PyTorch's rule for a window holding NaN: its value is NaN (``maximum`` propagated it) and
    its index, so its gradient, goes to the window's last NaN. One pass over the output when no
    window holds NaN, the usual case."""
    nan_windows = xp.isnan(best)
    if not nan_windows.any():
        return
    for k, rows, cols in taps:
        offsets[nan_windows & xp.isnan(x_pad[:, :, rows, cols])] = k


class MaxPoolScatter(Function):
    """g (N, C, OH, OW) -> (N, C, H, W): g added at each window's chosen offset."""

    @staticmethod
    def forward(ctx, g, geometry: PoolGeometry, offsets, input_shape):
        xp, geo = ctx.xp, geometry
        ctx.geometry, ctx.offsets, ctx.input_shape = geo, offsets, input_shape
        if cuda_pool.usable(xp, g.dtype):
            return cuda_pool.max_pool_scatter(xp, g, offsets, geo, input_shape)  # one kernel
        ranges = parallel.row_ranges(xp, g.shape[0], g.itemsize * math.prod(input_shape))
        if len(ranges) == 1:
            return _max_pool_scatter(xp, g, offsets, geo, input_shape)
        out = xp.empty(input_shape, dtype=g.dtype)

        def part(start, stop):
            target = out[start:stop]
            rows = _max_pool_scatter(xp, g[start:stop], offsets[start:stop], geo,
                                     (stop - start,) + tuple(input_shape[1:]), out=target)
            if rows is not target:  # written elsewhere (windows that do not tile): copy
                target[...] = rows

        parallel.batch_map(part, ranges)
        return out

    @staticmethod
    def backward(ctx, grad):
        return MaxPoolGather.apply(grad, geometry=ctx.geometry, offsets=ctx.offsets,
                                   input_shape=ctx.input_shape)


def _max_pool_scatter(xp, g, offsets, geo: PoolGeometry, input_shape, out=None):
    """g (n, C, OH, OW) added at each window's offset into a (n, C, H, W) array: ``out`` itself
    when given and the windows tile the input (every element is written), else a new one."""
    buf = out if out is not None and geo.tiles else _scatter_buffer(xp, input_shape, geo, g.dtype)
    for k, rows, cols in geo.taps():
        if geo.tiles:
            xp.multiply(g, offsets == k, out=buf[:, :, rows, cols])
        else:
            buf[:, :, rows, cols] += g * (offsets == k)
    return windows.unpad(xp, buf, geo.h, geo.w)


class MaxPoolGather(Function):
    """v (N, C, H, W) -> (N, C, OH, OW): v read at each window's chosen offset."""

    @staticmethod
    def forward(ctx, v, geometry: PoolGeometry, offsets, input_shape):
        xp, geo = ctx.xp, geometry
        ctx.geometry, ctx.offsets, ctx.input_shape = geo, offsets, input_shape
        if cuda_pool.usable(xp, v.dtype):
            return cuda_pool.max_pool_gather(xp, v, offsets, geo)                # one kernel
        v_pad = windows.pad_to_windows(xp, v, geo.h, geo.w)
        out = xp.zeros(offsets.shape, dtype=v.dtype)
        for k, rows, cols in geo.taps():
            out += v_pad[:, :, rows, cols] * (offsets == k)
        return out

    @staticmethod
    def backward(ctx, grad):
        return MaxPoolScatter.apply(grad, geometry=ctx.geometry, offsets=ctx.offsets,
                                    input_shape=ctx.input_shape)


# ---------------------------------------------------------------------- average pooling


class AvgPool2d(Function):
    """(N, C, H, W) -> (N, C, OH, OW): window sums divided by ``divisor`` ((OH, OW) or a number)."""

    @staticmethod
    def forward(ctx, x, geometry: PoolGeometry, divisor, input_shape):
        xp, geo = ctx.xp, geometry
        ctx.geometry, ctx.divisor, ctx.input_shape = geo, divisor, input_shape
        if cuda_pool.usable(xp, x.dtype):
            return cuda_pool.avg_pool(xp, x, geo, divisor)                        # one kernel
        x_pad = windows.pad_to_windows(xp, x, geo.h, geo.w)
        taps = geo.taps()
        total = x_pad[:, :, taps[0][1], taps[0][2]].copy()
        for _, rows, cols in taps[1:]:
            total += x_pad[:, :, rows, cols]
        total /= divisor
        return total

    @staticmethod
    def backward(ctx, grad):
        return AvgPoolScatter.apply(grad, geometry=ctx.geometry, divisor=ctx.divisor,
                                    input_shape=ctx.input_shape)


class AvgPoolScatter(Function):
    """g (N, C, OH, OW) -> (N, C, H, W): g / divisor added to every element of its window."""

    @staticmethod
    def forward(ctx, g, geometry: PoolGeometry, divisor, input_shape):
        xp, geo = ctx.xp, geometry
        ctx.geometry, ctx.divisor, ctx.input_shape = geo, divisor, input_shape
        if cuda_pool.usable(xp, g.dtype):
            return cuda_pool.avg_pool_scatter(xp, g, geo, divisor, input_shape)  # one kernel
        share = g / divisor
        buf = _scatter_buffer(xp, input_shape, geo, share.dtype)
        for _, rows, cols in geo.taps():
            if geo.tiles:
                buf[:, :, rows, cols] = share
            else:
                buf[:, :, rows, cols] += share
        return windows.unpad(xp, buf, geo.h, geo.w)

    @staticmethod
    def backward(ctx, grad):
        return AvgPool2d.apply(grad, geometry=ctx.geometry, divisor=ctx.divisor,
                               input_shape=ctx.input_shape)


class LpRoot(Function):
    """s (N, C, OH, OW) -> y (N, C, OH, OW): y = s ** (1/p) elementwise, s being lp_pool2d's
    window sums of x**p. Gradient y / (p s) where s != 0, and 0 where s = 0 (all-zero windows):
    there the exact derivative is infinite, but the chain through d(x**p)/dx = 0 gives 0."""

    @staticmethod
    def forward(ctx, s, p):
        y = ctx.xp.power(s, 1.0 / p)
        ctx.p = p
        ctx.save_for_backward(s, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        s, y = ctx.saved_tensors
        nonzero = compare.ne(s, 0.0)
        safe_s = elementwise.where(nonzero, s, 1.0)
        return elementwise.where(nonzero, grad * y / (safe_s * ctx.p), 0.0), None


# ---------------------------------------------------------------------- argument handling


def _pool_geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode) -> PoolGeometry:
    windows.check_4d(x, op)
    windows.check_flag(op, "ceil_mode", ceil_mode)
    kernel = windows.positive_pair(kernel_size, "kernel_size", op)
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):  # PyTorch: () too
        stride = kernel
    else:
        stride = windows.positive_pair(stride, "stride", op)
    dilation = windows.positive_pair(dilation, "dilation", op)
    pad = windows.pair(padding, "padding", op)
    if pad[0] < 0 or pad[1] < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    for p, k in zip(pad, kernel, strict=True):
        if p > k // 2:
            raise ValueError(f"{op}: padding {p} is more than half the kernel size {k} "
                             f"(at most {k // 2})")
    h, w = x.shape[2:]
    gh = windows.make_axis(op, "height", h, kernel[0], stride[0], dilation[0], (pad[0], pad[0]),
                           ceil_mode)
    gw = windows.make_axis(op, "width", w, kernel[1], stride[1], dilation[1], (pad[1], pad[1]),
                           ceil_mode)
    return PoolGeometry(gh, gw)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over KHxKW windows, as PyTorch's F.max_pool2d: (N, C, H, W) -> (N, C, OH, OW).

    ``stride`` defaults to ``kernel_size``; padding (at most half the kernel) is -inf.
    ``return_indices=True`` also returns each maximum's flat index into its H*W input plane.
    """
    op = "max_pool2d"
    geo = _pool_geometry(op, input, kernel_size, stride, padding, dilation, ceil_mode)
    windows.check_flag(op, "return_indices", return_indices)
    _check_orderable(op, input)
    if not return_indices:
        return MaxPool2d.apply(input, geometry=geo)
    indices = []
    out = MaxPool2d.apply(input, geometry=geo, indices_out=indices)
    return out, Tensor._from_array(indices[0])


def _offsets_to_index(xp, offsets, width, geo: PoolGeometry):
    """Flat input index (row * W + col) of each window's chosen offset."""
    i, j = offsets // geo.w.kernel, offsets % geo.w.kernel
    rows = xp.arange(geo.h.out).reshape(-1, 1) * geo.h.stride - geo.h.pad_before
    cols = xp.arange(geo.w.out) * geo.w.stride - geo.w.pad_before
    rows = rows + i.astype(xp.int64) * geo.h.dilation
    cols = cols + j.astype(xp.int64) * geo.w.dilation
    return rows * width + cols


def _avg_divisor(xp, geo: PoolGeometry, pad, count_include_pad, dtype):
    """(OH, OW) element counts of each window (PyTorch's rule: windows are first clipped to the
    padded input, then, without count_include_pad, to the input itself); the number KH*KW when
    no window is clipped (no array to build: on the GPU that is a dozen launches)."""
    if all(g.span <= g.size + 2 * p and (count_include_pad or p == 0)
           for g, p in zip((geo.h, geo.w), pad, strict=True)):
        return geo.h.kernel * geo.w.kernel
    counts = []
    for g, p in zip((geo.h, geo.w), pad, strict=True):
        starts = xp.arange(g.out) * g.stride - p
        ends = xp.minimum(starts + g.kernel, g.size + p)
        if not count_include_pad:
            starts, ends = xp.maximum(starts, 0), xp.minimum(ends, g.size)
        counts.append(ends - starts)
    return (counts[0].reshape(-1, 1) * counts[1]).astype(dtype)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """Mean over KHxKW windows, as PyTorch's F.avg_pool2d: (N, C, H, W) -> (N, C, OH, OW).

    Zero padding counts towards the mean when ``count_include_pad``; windows that ceil_mode
    lets run past the padded input are averaged over the part inside it.
    """
    op = "avg_pool2d"
    geo = _pool_geometry(op, input, kernel_size, stride, padding, 1, ceil_mode)
    _check_float(op, input)
    windows.check_flag(op, "count_include_pad", count_include_pad)
    if divisor_override is not None:
        divisor = check_divisor_override(op, divisor_override)
    else:
        pad = windows.pair(padding, "padding", op)
        xp = backend.array_module(input.data)
        divisor = _avg_divisor(xp, geo, pad, count_include_pad, input.dtype)
    return AvgPool2d.apply(input, geometry=geo, divisor=divisor, input_shape=input.shape)


def check_divisor_override(op: str, divisor_override) -> int:
    """avg_pool2d's divisor_override as a positive int, or an error naming it (also used by
    nn.AvgPool2d, which names itself)."""
    if not isinstance(divisor_override, numbers.Integral) or isinstance(divisor_override, bool):
        raise TypeError(f"{op}: divisor_override must be an int (or None), "
                        f"got {divisor_override!r}")
    if divisor_override <= 0:
        raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
    return int(divisor_override)


def check_norm_type(op: str, norm_type) -> float:
    """lp_pool2d's p as a positive finite float, or an error naming it (also used by
    nn.LPPool2d)."""
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, bool):
        raise TypeError(f"{op}: norm_type must be a number, got {norm_type!r}")
    if not (norm_type > 0 and math.isfinite(norm_type)):
        raise ValueError(f"{op}: norm_type must be a positive finite number, got {norm_type!r}")
    return float(norm_type)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling, as PyTorch's F.lp_pool2d: (sum over the window of x**p) ** (1/p).

    (N, C, H, W) -> (N, C, OH, OW); p = 2 is the L2-norm pooling. All-zero windows give 0 with
    gradient 0. With ceil_mode, a window cut off by the border sums what it covers.
    """
    op = "lp_pool2d"
    norm_type = check_norm_type(op, norm_type)
    geo = _pool_geometry(op, input, kernel_size, stride, 0, 1, ceil_mode)
    _check_float(op, input)
    powered = input if norm_type == 1 else elementwise.pow(input, norm_type)
    total = AvgPool2d.apply(powered, geometry=geo, divisor=1, input_shape=input.shape)
    return total if norm_type == 1 else LpRoot.apply(total, float(norm_type))


def _check_float(op, x):
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected floating-point input, got {x.dtype}")


def _check_orderable(op, x):
    """Max pooling takes floats and integers; bool (refused by PyTorch too) has no padding value
    below every element."""
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{op}: expected a floating-point or integer input, got {x.dtype}")


def _adaptive_kernel(op, x, output_size) -> tuple[tuple[int, int], tuple[int, int]]:
    windows.check_4d(x, op)
    h, w = x.shape[2:]
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2 or not all(
            o is None or (isinstance(o, numbers.Integral) and not isinstance(o, bool))
            for o in sizes):
        raise TypeError(f"{op}: output_size must be an int or a pair of ints (or None), "
                        f"got {output_size!r}")
    out = tuple(size if o is None else int(o) for o, size in zip(sizes, (h, w), strict=True))
    if any(o <= 0 for o in out):
        raise ValueError(f"{op}: output_size must be positive ints (or None), got {output_size!r}")
    return out, (h, w)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed (OH, OW), as PyTorch's F.adaptive_avg_pool2d.

    (N, C, H, W) -> (N, C, OH, OW); output_size 1 is global average pooling. Bin i covers rows
    floor(i*H/OH) .. ceil((i+1)*H/OH); when OH divides H that is avg_pool2d with kernel H/OH.
    """
    op = "adaptive_avg_pool2d"
    out, size = _adaptive_kernel(op, input, output_size)
    _check_float(op, input)
    if size[0] % out[0] == 0 and size[1] % out[1] == 0:
        kernel = (size[0] // out[0], size[1] // out[1])
        return avg_pool2d(input, kernel, kernel)
    # uneven bins: out = A_h @ x @ A_w^T with A (O, S) holding 1/len over each bin
    xp = backend.array_module(input.data)
    mats = []
    for o, s in zip(out, size, strict=True):
        idx = xp.arange(s)
        starts = (xp.arange(o) * s) // o
        ends = -((-(xp.arange(o) + 1) * s) // o)
        inside = (idx >= starts.reshape(-1, 1)) & (idx < ends.reshape(-1, 1))
        mats.append((inside / (ends - starts).reshape(-1, 1)).astype(input.dtype))
    rows, cols_t = Tensor._from_array(mats[0]), Tensor._from_array(mats[1].T.copy())
    return linalg.matmul(linalg.matmul(rows, input), cols_t)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed (OH, OW) that divides (H, W): max_pool2d with kernel H/OH.

    (N, C, H, W) -> (N, C, OH, OW), plus flat indices with ``return_indices``.
    """
    op = "adaptive_max_pool2d"
    out, size = _adaptive_kernel(op, input, output_size)
    windows.check_flag(op, "return_indices", return_indices)
    _check_orderable(op, input)
    if size[0] % out[0] or size[1] % out[1]:
        raise NotImplementedError(
            f"{op}: output size {out[0]}x{out[1]} must divide the input size "
            f"{size[0]}x{size[1]} (uneven bins are not supported)"
        )
    kernel = (size[0] // out[0], size[1] // out[1])
    return max_pool2d(input, kernel, kernel, return_indices=return_indices)
