"""Resampling: pixel_shuffle / pixel_unshuffle, channel_shuffle, and interpolate (nearest,
bilinear).

Shapes: N batch, C channels, H, W input size, OH, OW output size, r the upscale factor.

Every op here is a composition of reshapes, permutes and integer gathers (with constant weights
for bilinear), so its gradient, and every higher one, comes from those ops' own.
"""

from __future__ import annotations

import math
import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def check_factor(value, name: str, op: str) -> int:
    """``value`` as an int >= 1; a TypeError (not an int) or ValueError naming it otherwise."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return int(value)


def _check_3d_or_more(x, op: str, layout: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(x).__name__}")
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input {layout} with at least 3 dims, got shape "
                         f"{x.shape}")


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C*r*r, H, W) -> (*, C, H*r, W*r), out[c, h*r+i, w*r+j] = in[c*r*r + i*r + j, h, w]
    (PyTorch's F.pixel_shuffle, r = upscale_factor)."""
    op = "pixel_shuffle"
    _check_3d_or_more(input, op, "(*, C*r*r, H, W)")
    r = check_factor(upscale_factor, "upscale_factor", op)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(f"{op}: the channel dim (-3) of the input {input.shape} must be "
                         f"divisible by upscale_factor**2 = {r * r}, got {c}")
    k = len(lead)
    x = shape_ops.reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = shape_ops.permute(x, (*range(k), k, k + 3, k + 1, k + 4, k + 2))   # (*, C, H, r, W, r)
    return shape_ops.reshape(x, (*lead, c // (r * r), h * r, w * r))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` groups (PyTorch's F.channel_shuffle, ShuffleNet):
    (N, C, *) -> (N, C, *), out[:, k*g + j] = in[:, j*(C/g) + k] for group j, k < C/g; C must be
    divisible by g = groups. A reshape to (N, g, C/g, *), a transpose and a reshape back."""
    op = "channel_shuffle"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input (N, C, *) with more than 2 dims, got shape "
                         f"{input.shape}")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    n, c, *rest = input.shape
    g = int(groups)
    if c % g:
        raise ValueError(f"{op}: the number of channels must be divisible by groups: got {c} "
                         f"channels (input {input.shape}) and {g} groups")
    x = shape_ops.reshape(input, (n, g, c // g, *rest))
    x = shape_ops.transpose(x, 1, 2)                                          # (N, C/g, g, *)
    return shape_ops.reshape(x, input.shape)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H*r, W*r) -> (*, C*r*r, H, W), the inverse of pixel_shuffle (PyTorch's
    F.pixel_unshuffle, r = downscale_factor)."""
    op = "pixel_unshuffle"
    _check_3d_or_more(input, op, "(*, C, H*r, W*r)")
    r = check_factor(downscale_factor, "downscale_factor", op)
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(f"{op}: the height and width of the input {input.shape} must be "
                         f"divisible by downscale_factor = {r}, got {h} x {w}")
    k = len(lead)
    x = shape_ops.reshape(input, (*lead, c, h // r, r, w // r, r))
    x = shape_ops.permute(x, (*range(k), k, k + 2, k + 4, k + 1, k + 3))   # (*, C, r, r, H, W)
    return shape_ops.reshape(x, (*lead, c * r * r, h // r, w // r))


# ---------------------------------------------------------------------- interpolate

# mode -> the input dims it takes (None: any of 3, 4, 5, i.e. 1 to 3 spatial dims)
INTERPOLATE_MODES = {"nearest": None, "nearest-exact": None, "linear": 3, "bilinear": 4,
                     "trilinear": 5}
LINEAR_MODES = ("linear", "bilinear", "trilinear")


def _per_axis(value, count: int, name: str, op: str, kind) -> list:
    """A number or a sequence of ``count`` numbers as a list of ``count``."""
    if isinstance(value, (tuple, list)):
        if len(value) != count:
            raise ValueError(f"{op}: {name} must have {count} elements, one per spatial dim "
                             f"of the input, got {value!r}")
        items = list(value)
    else:
        items = [value] * count
    for v in items:
        if not isinstance(v, kind) or isinstance(v, bool):
            raise TypeError(f"{op}: {name} must hold numbers ({kind.__name__}), got {value!r}")
    return items


def _output_sizes(op, spatial, size, scale_factor, recompute_scale_factor):
    """(output sizes, scales the source index uses: 1/scale_factor or None for in/out)."""
    d = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor, got size={size!r} "
                         f"and scale_factor={scale_factor!r}")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{op}: recompute_scale_factor is only meaningful with "
                             "scale_factor, not with size")
        sizes = [int(s) for s in _per_axis(size, d, "size", op, numbers.Integral)]
        scales = [None] * d
    else:
        factors = [float(f) for f in _per_axis(scale_factor, d, "scale_factor", op,
                                                numbers.Real)]
        if any(f <= 0 for f in factors):
            raise ValueError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
        sizes = [int(math.floor(n * f)) for n, f in zip(spatial, factors, strict=True)]
        scales = [None] * d if recompute_scale_factor else factors
    if any(s < 1 for s in sizes):
        raise ValueError(f"{op}: the output size {tuple(sizes)} must be positive in every "
                         f"spatial dim (input {tuple(spatial)}, size={size!r}, "
                         f"scale_factor={scale_factor!r})")
    return sizes, scales


def _nearest_index(xp, in_size, out_size, scale, exact, shortcuts):
    """PyTorch's nearest source index, in float32 as its kernels compute it: floor(dst * s),
    ('nearest-exact': floor((dst + 0.5) * s)), s = 1/scale_factor or in/out, clipped to in-1.
    With ``shortcuts`` (PyTorch's 2-D 'nearest' kernel, not its 1-D or 3-D ones) out == in
    copies and out == 2*in halves, whatever the scale_factor."""
    if shortcuts and not exact and out_size == in_size:
        return xp.arange(out_size)
    if shortcuts and not exact and out_size == 2 * in_size:
        return xp.arange(out_size) // 2
    s = (xp.float32(1.0 / scale) if scale is not None
         else xp.float32(in_size) / xp.float32(out_size))
    dst = xp.arange(out_size, dtype=xp.float32) + (xp.float32(0.5) if exact else 0)
    return xp.minimum(xp.floor(dst * s).astype(xp.int64), in_size - 1)


def _linear_source(xp, in_size, out_size, scale, align_corners, dtype):
    """PyTorch's linear source: (index0, index1, weight of index1), computed in ``dtype``.
    align_corners: src = dst * (in-1)/(out-1); else src = (dst + 0.5) * s - 0.5 clipped at 0,
    s = 1/scale_factor or in/out."""
    dst = xp.arange(out_size, dtype=dtype)
    if align_corners:
        s = dtype.type((in_size - 1) / (out_size - 1)) if out_size > 1 else dtype.type(0)
        src = dst * s
    else:
        s = dtype.type(1.0 / scale) if scale is not None else dtype.type(in_size / out_size)
        src = xp.maximum((dst + dtype.type(0.5)) * s - dtype.type(0.5), dtype.type(0))
    i0 = src.astype(xp.int64)                                   # floor: src >= 0
    i1 = xp.minimum(i0 + 1, in_size - 1)
    lam = xp.clip(src - i0.astype(dtype), 0, 1)
    return i0, i1, lam


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims, PyTorch's F.interpolate: (N, C, *spatial) -> (N, C, *size).

    ``size`` (an int or one per spatial dim) or ``scale_factor`` (output = floor(in * factor),
    and the source index uses 1/factor unless ``recompute_scale_factor``). Modes:
    "nearest" (1-3 spatial dims; source floor(dst * in/out), PyTorch's rule, in float32, with
    its 2-D kernel's shortcuts),
    "nearest-exact" (floor((dst + 0.5) * in/out)), "linear" (3-D input), "bilinear" (4-D),
    "trilinear" (5-D): the 2**d neighbours of each output's source point weighted by their
    distance, with ``align_corners`` (default False) choosing PyTorch's source-index formula.
    """
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if mode not in INTERPOLATE_MODES:
        raise ValueError(f"{op}: mode must be one of {tuple(INTERPOLATE_MODES)}, got {mode!r} "
                         "(bicubic and area are not implemented)")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not implemented")
    need = INTERPOLATE_MODES[mode]
    if (need is None and input.ndim not in (3, 4, 5)) or (need is not None and
                                                          input.ndim != need):
        wanted = "3-D, 4-D or 5-D" if need is None else f"{need}-D"
        raise ValueError(f"{op}: mode {mode!r} needs a {wanted} input (N, C, *spatial), got "
                         f"shape {input.shape}")
    if mode in LINEAR_MODES:
        align_corners = False if align_corners is None else align_corners
        if not isinstance(align_corners, bool):
            raise TypeError(f"{op}: align_corners must be a bool, got {align_corners!r}")
        if input.dtype.kind != "f":
            raise TypeError(f"{op}: mode {mode!r} needs a floating-point input, got "
                            f"{input.dtype}")
    elif align_corners is not None:
        raise ValueError(f"{op}: align_corners can only be set with the linear modes "
                         f"{LINEAR_MODES}, not with mode {mode!r}")
    spatial = input.shape[2:]
    if 0 in spatial:
        raise ValueError(f"{op}: the input's spatial dims must be non-empty, got shape "
                         f"{input.shape}")
    sizes, scales = _output_sizes(op, spatial, size, scale_factor, recompute_scale_factor)
    xp = backend.array_module(input.data)
    d = len(spatial)
    # one axis at a time, the last first (PyTorch's kernels sum the W neighbours innermost):
    # nearest is one gather per axis; linear is gather(i0) * (1 - lam) + gather(i1) * lam per
    # axis, which summed out is the 2**d-neighbour weighted sum (4 neighbours for bilinear)
    out = input
    for k in reversed(range(d)):
        n, m, s, axis = spatial[k], sizes[k], scales[k], 2 + k
        if mode in ("nearest", "nearest-exact"):
            index = _nearest_index(xp, n, m, s, mode == "nearest-exact", d == 2)
            out = take_axis(out, index, axis)
            continue
        i0, i1, lam = _linear_source(xp, n, m, s, align_corners, input.dtype)
        shape = (m,) + (1,) * (input.ndim - 1 - axis)              # broadcast along ``axis``
        out = (take_axis(out, i0, axis) * Tensor._from_array((1 - lam).reshape(shape))
               + take_axis(out, i1, axis) * Tensor._from_array(lam.reshape(shape)))
    return out


# ---------------------------------------------------------------------- gather along one axis


class TakeAxis(Function):
    """y = x.take(index, axis): output position j along ``axis`` reads x at index[j]."""

    @staticmethod
    def forward(ctx, x, index, axis):
        ctx.index, ctx.axis, ctx.size = index, axis, x.shape[axis]
        return ctx.xp.take(x, index, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return TakeAxisAdjoint.apply(grad, ctx.index, ctx.axis, ctx.size), None, None


class TakeAxisAdjoint(Function):
    """The gradient of TakeAxis: g's entries along ``axis`` summed back at their index (``size``
    entries, zero where no output read). For a non-decreasing index (interpolate's always are)
    equal entries are runs, each summed by one add.reduceat; otherwise a scatter-add."""

    @staticmethod
    def forward(ctx, g, index, axis, size):
        xp = ctx.xp
        ctx.index, ctx.axis = index, axis
        shape = g.shape[:axis] + (size,) + g.shape[axis + 1:]
        out = xp.zeros(shape, dtype=g.dtype)
        if index.size == 0:
            return out
        reduceat = getattr(xp.add, "reduceat", None)
        if reduceat is not None and bool(xp.all(index[1:] >= index[:-1])):
            first = xp.ones(index.shape, dtype=bool)
            first[1:] = index[1:] != index[:-1]
            starts = xp.flatnonzero(first)
            lead = (slice(None),) * axis
            out[lead + (index[starts],)] = reduceat(g, starts, axis=axis)
        else:
            moved = xp.moveaxis(out, axis, 0)            # a view: the scatter lands in ``out``
            backend.scatter_add(xp, moved, index, xp.moveaxis(g, axis, 0))
        return out

    @staticmethod
    def backward(ctx, grad):
        return TakeAxis.apply(grad, ctx.index, ctx.axis), None, None, None


def take_axis(x: Tensor, index, axis: int) -> Tensor:
    """x.take(index, axis) with gradient: index a 1-D integer backend array on x's device."""
    return TakeAxis.apply(x, index, axis)
