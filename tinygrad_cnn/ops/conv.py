"""2-D convolution: conv2d, conv_transpose2d and the weight gradient, each the others' backward.

Shapes: N batch, C channels in, K channels out, G groups (Cg = C/G, Kg = K/G), H, W input size,
KH, KW kernel, OH, OW output size, L = OH*OW.

Three ops close under differentiation, so every derivative of every order is one of them:

    Conv2d(x, w)           y  = w * x                      (N, C, H, W) -> (N, K, OH, OW)
    ConvTranspose2d(g, w)  dx = w^T * g   (col2im)         (N, K, OH, OW) -> (N, C, H, W)
    Conv2dWeight(x, g)     dw = g * x     (one product)    -> (K, Cg, KH, KW)

d/dx <Conv2d(x,w), g> = ConvTranspose2d(g, w), d/dw = Conv2dWeight(x, g); the other two ops are
bilinear as well, and their derivatives are again these three with the arguments permuted.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinygrad_cnn import backend, parallel
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.cuda import bias as cuda_bias
from tinygrad_cnn.cuda import cudnn_conv
from tinygrad_cnn.cuda import windows as cuda_windows
from tinygrad_cnn.ops import reduction, windows
from tinygrad_cnn.ops.windows import Axis
from tinygrad_cnn.tensor import Tensor

# im2col puts the batch innermost for outputs at most this wide (see _batch_last_pays)
BATCH_LAST_MAX_OW = 14
# the weight gradient's product is summed over slices of this many bytes of its operands when it
# has at most this many outputs (column rows x output channels; see _weight_product)
SKINNY_MAX_OUTPUTS = 1200
SKINNY_SLICE_BYTES = 320 * 2**10


@dataclass(frozen=True)
class ConvGeometry:
    """Where a conv's windows lie: one Axis per spatial dim (sizes are those of the conv's input),
    and the number of groups."""

    h: Axis
    w: Axis
    groups: int


def _group_weight(w, groups):
    """(K, Cg, KH, KW) -> (G, Kg, Cg*KH*KW)."""
    return w.reshape(groups, w.shape[0] // groups, -1)


def _group_grad(xp, g, groups, batch_last=False):
    """(n, K, OH, OW) -> (G, Kg, n*L), contiguous (the layout of im2col's columns), or
    (G, Kg, L*n) with ``batch_last``."""
    n, k = g.shape[:2]
    items = g.reshape(n, groups, k // groups, -1)
    order = (1, 2, 3, 0) if batch_last else (1, 2, 0, 3)
    out = windows.empty_cols(xp, tuple(items.shape[i] for i in order), g.dtype)
    out[...] = items.transpose(order)
    return out.reshape(groups, k // groups, -1)


def _grid_grad(xp, g, groups, grid):
    """(n, K, OH, OW) -> (G, Kg, n*PH*PW): g on the phase grid (PH, PW) = grid, zero-padded."""
    n, k, oh, ow = g.shape
    out = windows.empty_cols(xp, (groups, k // groups, n) + grid, g.dtype)
    out[..., :oh, :ow] = g.reshape(n, groups, k // groups, oh, ow).transpose(1, 2, 0, 3, 4)
    out[..., oh:, :] = 0
    out[..., :oh, ow:] = 0
    return out.reshape(groups, k // groups, -1)


def _bytes_per_item(channels, geo: ConvGeometry, itemsize):
    """Size of one batch item's im2col columns."""
    return channels * geo.h.kernel * geo.w.kernel * geo.h.out * geo.w.out * itemsize


def _batch_last_pays(xp, dtype, channels, kernels, geo: ConvGeometry) -> bool:
    """Whether im2col should put the batch innermost (windows.im2col): on NumPy's path (not
    CUDA's kernels, which keep their layout), for stride-1 outputs at most BATCH_LAST_MAX_OW wide
    with more column rows (C*KH*KW) than output channels.

    The (C, KH, KW, N, OH, OW) copy moves OW elements per inner loop, a few for small images;
    batch-last moves OW*N (stride 1) but adds a transposed copy of the input and of the output
    (the product lands in (K, OH, OW, N)), which the rows-over-channels rule weighs. Measured,
    forward + backward, 2 threads (docs/benchmarks.md): digits_cnn's second conv (32->64, 4x4)
    1.91x faster, LeNet-5's second (6->16, 14x14 -> 10x10) 1.15x, 64->64 at 8x8 1.35x,
    128->128 at 14x14 1.04x; slower for a 1-channel input (0.89x), for stride 2 (0.89x at 8
    wide) and for outputs 16 or more wide (0.74-0.99x)."""
    return (xp.__name__ == "numpy" and not cuda_windows.usable(xp, dtype) and geo.w.stride == 1
            and geo.w.out <= BATCH_LAST_MAX_OW and channels * geo.h.kernel * geo.w.kernel > kernels)


def _batch_ranges(xp, n, bytes_per_item):
    """The batch parts of one call: one per CPU thread when the columns are large enough to repay
    the threads (see parallel.batch_map), each within its share of the im2col budget."""
    parts = parallel.part_count(xp, n, n * bytes_per_item)
    return windows.batch_chunks(n, bytes_per_item, parts=parts)


def _conv_forward(xp, x, w, geo: ConvGeometry, bias=None):
    """conv2d on arrays: out (N, K, OH, OW) (plus ``bias`` (K,) when given), and the columns of
    each batch range {(start, stop): cols} when all of them together fit in twice the im2col
    budget (else None)."""
    if cudnn_conv.usable(xp, x.dtype):
        out = cudnn_conv.conv_forward(x, w, geo)
        if out is not None:
            if bias is not None:
                _add_bias_in_place(xp, out, bias)
            return out, None
    groups = geo.groups
    n, c = x.shape[:2]
    w_rows = _group_weight(w, groups)                                    # (G, Kg, Cg*KH*KW)
    out = xp.empty((n, w.shape[0], geo.h.out, geo.w.out), dtype=xp.result_type(x, w))
    per_item = _bytes_per_item(c, geo, x.itemsize)
    ranges = _batch_ranges(xp, n, per_item)
    keep = n * per_item <= 2 * windows.IM2COL_BUDGET_BYTES
    batch_last = _batch_last_pays(xp, x.dtype, c, w.shape[0], geo)

    def part(start, stop):
        cols = windows.im2col(xp, x[start:stop], geo.h, geo.w, batch_last)
        if batch_last:  # (G, Kg, CgKK) @ (G, CgKK, L*n) -> (K, OH, OW, n), then into NCHW
            product = xp.matmul(w_rows, cols.reshape(groups, w_rows.shape[2], -1))
            out[start:stop] = product.reshape(out.shape[1:] + (-1,)).transpose(3, 0, 1, 2)
        else:  # cols (C, KH, KW, n, OH, OW)
            # (G, Kg, CgKK) @ (n, G, CgKK, L) -> (n, G, Kg, L): the columns of one batch item are
            # a strided matrix, which BLAS reads in place; the product lands in NCHW order
            items = cols.reshape(groups, w_rows.shape[2], stop - start, -1).transpose(2, 0, 1, 3)
            xp.matmul(w_rows, items, out=out[start:stop].reshape(
                items.shape[:2] + w_rows.shape[1:2] + items.shape[3:]))
        if bias is not None:  # added while the part is in cache, no extra node or temporary
            _add_bias_in_place(xp, out[start:stop], bias)
        return cols if keep else None  # dropped columns free their workspace buffer

    cols = parallel.batch_map(part, ranges, n * per_item)
    return out, dict(zip(ranges, cols, strict=True)) if keep else None


def _add_bias_in_place(xp, out, bias):
    """out (n, K, OH, OW) += bias (K,) in place: one CUDA kernel on the GPU (cuda/bias.py)."""
    if cuda_bias.usable(xp, out, bias):
        cuda_bias.add_bias(xp, out, bias, out.shape[2] * out.shape[3])
    else:
        out += bias.reshape(-1, 1, 1)


def _flipped(a: Axis) -> Axis:
    """The stride-1 axis whose convolution with the flipped kernel is the input gradient."""
    return Axis(a.out, a.kernel, 1, a.dilation, a.dilation * (a.kernel - 1) - a.pad_before, a.size)


class Conv2d(Function):
    """y = conv2d(x, w) + b: (N, C, H, W), (K, Cg, KH, KW), (K,) or None -> (N, K, OH, OW)."""

    @staticmethod
    def forward(ctx, x, w, b, geometry: ConvGeometry):
        ctx.geometry = geometry
        out, cols = _conv_forward(ctx.xp, x, w, geometry, b)
        # keep the columns when they fit in one chunk: the weight gradient is one product with them
        ctx.cols = cols if ctx.needs_input_grad[1] else None
        ctx.save_for_backward(x, w)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[2]:
            grad_b = reduction.sum(grad, (0, 2, 3))                              # (K,)
        if ctx.needs_input_grad[1]:
            # the weight gradient first, with the cached columns, which are then dropped (a second
            # backward recomputes them) so the input gradient can reuse their memory
            cols, ctx.cols = ctx.cols, None
            grad_w = Conv2dWeight.apply(x, grad, geometry=ctx.geometry, kernel_shape=w.shape,
                                        cols=cols)
            del cols
        if ctx.needs_input_grad[0]:
            grad_x = ConvTranspose2d.apply(grad, w, None, geometry=ctx.geometry)
        return grad_x, grad_w, grad_b


def _input_grad_flipped(xp, g, w, geo: ConvGeometry):
    """conv2d's input gradient (stride 1) as the convolution of g with the flipped kernel:
    im2col of g (K channels over the input's H x W) + one product."""
    groups, (cg, kh, kw) = geo.groups, w.shape[1:]
    w_flipped = w[:, :, ::-1, ::-1].reshape(groups, -1, cg, kh, kw).transpose(0, 2, 1, 3, 4)
    flipped = ConvGeometry(_flipped(geo.h), _flipped(geo.w), groups)
    return _conv_forward(xp, g, w_flipped.reshape(cg * groups, -1, kh, kw), flipped)[0]


def _input_grad_phases(xp, g, w, geo: ConvGeometry):
    """conv2d's input gradient (any stride): all kernel offsets' columns in one product, g laid
    on the phase grid (see col2im_phases), then KH*KW slice-adds:
    (G, KH*KW*Cg, Kg) @ (G, Kg, n*PH*PW) -> (G, KH, KW, Cg, n*PH*PW)."""
    groups, (k, cg, kh, kw) = geo.groups, w.shape
    n, c, kg = g.shape[0], cg * groups, k // groups
    grid = (windows.phase_len(geo.h), windows.phase_len(geo.w))
    w_taps = xp.ascontiguousarray(w.reshape(groups, kg, cg, kh, kw).transpose(0, 3, 4, 2, 1))
    dtype = xp.result_type(g, w)
    out = xp.zeros((n, c, geo.h.size, geo.w.size), dtype=dtype)

    def part(start, stop):
        g_grid = _grid_grad(xp, g[start:stop], groups, grid)             # (G, Kg, n*PH*PW)
        cols = windows.empty_cols(xp, (groups, kh * kw * cg, g_grid.shape[2]), dtype)
        xp.matmul(w_taps.reshape(groups, -1, kg), g_grid, out=cols)      # into recycled memory
        cols = cols.reshape(groups, kh, kw, cg, -1)
        windows.col2im_phases(xp, lambda i, j: cols[:, i, j], (stop - start, c), dtype,
                              geo.h, geo.w, out=out[start:stop])

    per_item = c * kh * kw * grid[0] * grid[1] * g.itemsize
    parallel.batch_map(part, _batch_ranges(xp, n, per_item), n * per_item)
    return out


def _input_grad_cols(xp, g, w, geo: ConvGeometry):
    """conv2d's input gradient (any stride) on the CUDA-kernel path: the columns as one batched
    product (G, Cg*KH*KW, Kg) @ (n, G, Kg, L), which reads g in place and lays them out
    batch-major, then col2im, one gather kernel."""
    groups, (cg, kh, kw) = geo.groups, w.shape[1:]
    n, c = g.shape[0], cg * groups
    w_cols = xp.ascontiguousarray(_group_weight(w, groups).transpose(0, 2, 1))  # (G, CgKK, Kg)
    out = xp.empty((n, c, geo.h.size, geo.w.size), dtype=xp.result_type(g, w))

    def part(start, stop):
        n_part, (oh, ow) = stop - start, (geo.h.out, geo.w.out)
        cols = xp.matmul(w_cols, g[start:stop].reshape(n_part, groups, -1, oh * ow))
        cols = cols.reshape(n_part, c, kh, kw, oh, ow).transpose(1, 2, 3, 0, 4, 5)  # a view
        windows.col2im(xp, cols, geo.h, geo.w, out=out[start:stop])

    per_item = _bytes_per_item(c, geo, g.itemsize)
    parallel.batch_map(part, _batch_ranges(xp, n, per_item), n * per_item)
    return out


def _flipped_pays(w_shape, geo: ConvGeometry) -> bool:
    """Stride 1 and the flipped kernel's columns (K channels over H x W) no larger than the phase
    grid's (C channels over PH x PW). Measured on LeNet-5's second conv (C=6, K=16), input
    gradient alone: 2.6 ms flipped, 0.67 ms on the phase grid; with C = K (64 -> 64, 3x3) the
    flipped kernel's im2col + one product is faster (docs/benchmarks.md)."""
    k, cg = w_shape[:2]
    if geo.h.stride != 1 or geo.w.stride != 1:
        return False
    grid = windows.phase_len(geo.h) * windows.phase_len(geo.w)
    return k * geo.h.size * geo.w.size <= cg * geo.groups * grid


class ConvTranspose2d(Function):
    """dx = conv2d's input gradient: g (N, K, OH, OW), w (K, Cg, KH, KW) -> (N, C, H, W).

    With w read as (C_in, C_out/G, KH, KW) this is also the transposed convolution, whose bias
    b (C,) (None for an input gradient) is added in place into the fresh output.
    """

    @staticmethod
    def forward(ctx, g, w, b, geometry: ConvGeometry):
        ctx.geometry = geometry
        ctx.save_for_backward(g, w)
        out = _input_grad(ctx.xp, g, w, geometry)
        if b is not None:
            _add_bias_in_place(ctx.xp, out, b)
        return out

    @staticmethod
    def backward(ctx, grad):
        g, w = ctx.saved_tensors
        grad_g = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_g = Conv2d.apply(grad, w, None, geometry=ctx.geometry)
        if ctx.needs_input_grad[1]:
            grad_w = Conv2dWeight.apply(grad, g, geometry=ctx.geometry, kernel_shape=w.shape)
        if ctx.needs_input_grad[2]:
            grad_b = reduction.sum(grad, (0, 2, 3))                              # (C,)
        return grad_g, grad_w, grad_b


def _input_grad(xp, g, w, geometry: ConvGeometry):
    """conv2d's input gradient on arrays, by the fastest path for the data (cuDNN, the flipped
    kernel, CUDA columns, or the phase grid)."""
    if cudnn_conv.usable(xp, g.dtype):
        out = cudnn_conv.conv_input_grad(g, w, geometry)
        if out is not None:
            return out
    if _flipped_pays(w.shape, geometry):
        return _input_grad_flipped(xp, g, w, geometry)
    if cuda_windows.usable(xp, g.dtype):
        return _input_grad_cols(xp, g, w, geometry)
    return _input_grad_phases(xp, g, w, geometry)


def _weight_product(xp, cols, g_cols):
    """cols (G, R, M) @ g_cols (G, Kg, M)^T -> (G, R, Kg): the weight gradient's product, summed
    over M (batch items x output positions), with R = Cg*KH*KW column rows.

    (G, R, M) @ (G, M, Kg) runs faster in BLAS than its transpose. With few rows and outputs
    (R * Kg <= SKINNY_MAX_OUTPUTS) OpenBLAS runs such a product far below its rate, M being
    hundreds of times R and Kg: on the CPU it is then summed over cache-sized slices of M,
    (R + Kg) * slice * itemsize <= SKINNY_SLICE_BYTES, when M holds at least four slices.
    Measured, one thread: LeNet-5's first conv (R = 25, Kg = 6, M = 50,176) 389 -> 162 us;
    R = 9, Kg = 32, M = 65,536: 1,133 -> 367 us; R = 48, Kg = 16: 1.55x; R = 75, Kg = 16:
    1.18x; larger products gained nothing, and up to M = 4,096 the product is fast unsliced.
    """
    groups, rows, m = cols.shape
    kg = g_cols.shape[1]
    budget = int(SKINNY_SLICE_BYTES) // ((rows + kg) * cols.itemsize)  # elements of M per slice
    if xp.__name__ == "numpy" and rows * kg <= SKINNY_MAX_OUTPUTS and budget >= 1:
        slice_len = 1 << (budget.bit_length() - 1)  # the largest power of two within the budget
        if m >= 4 * slice_len:
            out = xp.matmul(cols[..., :slice_len], g_cols[..., :slice_len].transpose(0, 2, 1))
            for start in range(slice_len, m, slice_len):
                stop = start + slice_len
                out += xp.matmul(cols[..., start:stop], g_cols[..., start:stop].transpose(0, 2, 1))
            return out
    return xp.matmul(cols, g_cols.transpose(0, 2, 1))


class Conv2dWeight(Function):
    """dw = conv2d's weight gradient: x (N, C, H, W), g (N, K, OH, OW) -> (K, Cg, KH, KW).

    ``cols`` may pass the forward's im2col columns of each batch range (see _conv_forward).
    """

    @staticmethod
    def forward(ctx, x, g, geometry: ConvGeometry, kernel_shape, cols=None):
        xp, geo, groups = ctx.xp, geometry, geometry.groups
        n, c = x.shape[:2]
        ctx.geometry, ctx.kernel_shape = geo, kernel_shape
        ctx.save_for_backward(x, g)
        if cudnn_conv.usable(xp, x.dtype):
            dw = cudnn_conv.conv_weight_grad(x, g, geo, kernel_shape)
            if dw is not None:
                return dw
        cols = cols or {}
        # the layout of the forward's columns
        batch_last = _batch_last_pays(xp, x.dtype, c, kernel_shape[0], geo)

        def part(start, stop):
            part_cols = cols.pop((start, stop), None)  # the forward's, freed once used
            if part_cols is None:
                part_cols = windows.im2col(xp, x[start:stop], geo.h, geo.w, batch_last)
            part_cols = part_cols.reshape(groups, -1, (stop - start) * geo.h.out * geo.w.out)
            return _weight_product(xp, part_cols, _group_grad(xp, g[start:stop], groups,
                                                              batch_last))

        per_item = _bytes_per_item(c, geo, x.itemsize)
        parts = parallel.batch_map(part, _batch_ranges(xp, n, per_item), n * per_item)
        dw = parts[0] if parts else xp.zeros((groups, c // groups * geo.h.kernel * geo.w.kernel,
                                               kernel_shape[0] // groups), dtype=g.dtype)
        for more in parts[1:]:
            dw = dw + more                                                  # (G, CgKK, Kg)
        return xp.ascontiguousarray(dw.transpose(0, 2, 1)).reshape(kernel_shape)

    @staticmethod
    def backward(ctx, grad):
        x, g = ctx.saved_tensors
        grad_x = grad_g = None
        if ctx.needs_input_grad[0]:
            grad_x = ConvTranspose2d.apply(g, grad, None, geometry=ctx.geometry)
        if ctx.needs_input_grad[1]:
            grad_g = Conv2d.apply(x, grad, None, geometry=ctx.geometry)
        return grad_x, grad_g


# ---------------------------------------------------------------------- lowercase functions


def _check_operands(op, x, weight, bias, groups, weight_layout) -> int:
    """Shapes and dtypes of a conv's operands (never their data); returns groups as an int."""
    windows.check_4d(x, op)
    windows.check_4d(weight, op, "weight", weight_layout)
    groups = windows.int_at_least(groups, 1, "groups", op)
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: input is {x.dtype} but weight is {weight.dtype}; cast one of them")
    if bias is not None and bias.dtype != x.dtype:
        raise TypeError(f"{op}: input is {x.dtype} but bias is {bias.dtype}; cast one of them")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected floating-point input, got {x.dtype}")
    if 0 in weight.shape:
        raise ValueError(f"{op}: weight {weight_layout} = {tuple(weight.shape)} has a zero-size "
                         "dimension; every channel count and kernel size must be positive")
    if 0 in x.shape[2:]:
        raise ValueError(f"{op}: input (N, C, H, W) = {tuple(x.shape)} has a zero height or "
                         "width; only the batch may be empty")
    return groups


def _check_bias(op, bias, channels: int) -> None:
    """Checked before the convolution runs, so a wrong bias costs nothing."""
    if bias is not None and tuple(bias.shape) != (channels,):
        raise backend.ShapeError(f"{op}: bias must have shape ({channels},) (one per output "
                                 f"channel), got {tuple(bias.shape)}")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as PyTorch's F.conv2d.

    input (N, C_in, H, W), weight (C_out, C_in/groups, KH, KW), bias (C_out,) or None, all of one
    floating dtype -> (N, C_out, OH, OW),
    OH = floor((H + pad_top + pad_bottom - dilation*(KH-1) - 1)/stride) + 1.
    ``padding``: an int, a pair (h, w), ((top, bottom), (left, right)), "valid", or "same"
    (output size ceil(H / stride); odd total padding puts the extra row/column at the bottom/right).
    """
    op = "conv2d"
    groups = _check_operands(op, input, weight, bias, groups, "(C_out, C_in/groups, KH, KW)")
    n, c, h, w = input.shape
    k, cg, kh, kw = weight.shape
    if c % groups:
        raise ValueError(f"{op}: input channels {c} are not divisible by groups={groups}")
    if k % groups:
        raise ValueError(f"{op}: output channels {k} (weight {tuple(weight.shape)}) are not "
                         f"divisible by groups={groups}")
    if c != cg * groups:
        raise backend.ShapeError(f"{op}: input has {c} channels but weight "
                                 f"{tuple(weight.shape)} with groups={groups} expects "
                                 f"{cg * groups} (= {cg} x {groups})")
    _check_bias(op, bias, k)
    stride = windows.positive_pair(stride, "stride", op)
    dilation = windows.positive_pair(dilation, "dilation", op)
    pads = windows.resolve_padding(padding, (h, w), (kh, kw), stride, dilation, op)
    gh = windows.make_axis(op, "height", h, kh, stride[0], dilation[0], pads[0])
    gw = windows.make_axis(op, "width", w, kw, stride[1], dilation[1], pads[1])
    return Conv2d.apply(input, weight, bias, geometry=ConvGeometry(gh, gw, groups))


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed 2-D convolution (the input gradient of conv2d), as PyTorch's F.conv_transpose2d.

    input (N, C_in, H, W), weight (C_in, C_out/groups, KH, KW), bias (C_out,) or None, all of one
    floating dtype -> (N, C_out, OH, OW) with
    OH = (H-1)*stride - pad_top - pad_bottom + dilation*(KH-1) + output_padding + 1.
    ``padding`` is an int, a pair, or ((top, bottom), (left, right)), and may exceed
    dilation*(KH-1) while OH stays >= 1; 0 <= output_padding < max(stride, dilation).
    """
    op = "conv_transpose2d"
    groups = _check_operands(op, input, weight, bias, groups, "(C_in, C_out/groups, KH, KW)")
    n, c, h, w = input.shape
    cin, cg_out, kh, kw = weight.shape
    if c % groups:
        raise ValueError(f"{op}: input channels {c} are not divisible by groups={groups}")
    if c != cin:
        raise backend.ShapeError(f"{op}: input has {c} channels but weight "
                                 f"{tuple(weight.shape)} expects {cin} (its first dim)")
    _check_bias(op, bias, cg_out * groups)
    stride = windows.positive_pair(stride, "stride", op)
    dilation = windows.positive_pair(dilation, "dilation", op)
    if isinstance(padding, str) and padding == "same":
        raise ValueError(f"{op}: padding='same' cannot keep the size of a transposed convolution "
                         "(its output is larger by design); give an int or a pair")
    pads = windows.resolve_padding(padding, (h, w), (kh, kw), stride, dilation, op,
                                   allow_strings=False)
    extra = windows.output_padding_pair(op, output_padding, stride, dilation)
    axes = []
    for name, size, kernel, s, d, p, e in zip(("height", "width"), (h, w), (kh, kw), stride,
                                              dilation, pads, extra, strict=True):
        out_size = (size - 1) * s - p[0] - p[1] + d * (kernel - 1) + e + 1
        if out_size < 1:
            raise ValueError(f"{op}: the output {name} (input {size} - 1) * stride {s} - padding "
                             f"{p[0]}+{p[1]} + dilation {d} * (kernel {kernel} - 1) + "
                             f"output_padding {e} + 1 = {out_size} is not positive")
        axes.append(Axis(out_size, kernel, s, d, p[0], size))
    return ConvTranspose2d.apply(input, weight, bias,
                                 geometry=ConvGeometry(axes[0], axes[1], groups))
