"""F.unfold (im2col) and F.fold (col2im), PyTorch's sliding-window blocks, on ops/windows.py.

Shapes: N batch, C channels, H, W image size, KH, KW kernel, OH, OW window positions,
L = OH*OW, CKK = C*KH*KW.

    unfold: (N, C, H, W) -> (N, CKK, L); row c*KH*KW + i*KW + j of column l = oh*OW + ow holds
            channel c at kernel offset (i, j) of the window at (oh, ow) (zero in the padding)
    fold:   (N, CKK, L) -> (N, C, H, W); the adjoint: each element added back where unfold read it

Each is the other's gradient, so both are differentiable to any order. They call windows.im2col
and windows.col2im, the same machinery as conv2d, and only reorder its (C, KH, KW, N, OH, OW)
columns to PyTorch's (N, CKK, L).
"""

from __future__ import annotations

from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.ops import windows
from tinygrad_cnn.tensor import Tensor


class Unfold(Function):
    """(N, C, H, W) -> (N, C*KH*KW, OH*OW)."""

    @staticmethod
    def forward(ctx, x, gh, gw):
        ctx.geometry = (gh, gw)
        n, c = x.shape[:2]
        cols = windows.im2col(ctx.xp, x, gh, gw)                      # (C, KH, KW, N, OH, OW)
        out = ctx.xp.empty((n, c, gh.kernel, gw.kernel, gh.out, gw.out), dtype=x.dtype)
        out[...] = cols.transpose(3, 0, 1, 2, 4, 5)    # a copy: the workspace buffer is freed
        return out.reshape(n, c * gh.kernel * gw.kernel, gh.out * gw.out)

    @staticmethod
    def backward(ctx, grad):
        return Fold.apply(grad, *ctx.geometry), None, None


class Fold(Function):
    """(N, C*KH*KW, OH*OW) -> (N, C, H, W), overlapping contributions summed."""

    @staticmethod
    def forward(ctx, cols, gh, gw):
        ctx.geometry = (gh, gw)
        n = cols.shape[0]
        c = cols.shape[1] // (gh.kernel * gw.kernel)
        blocks = cols.reshape(n, c, gh.kernel, gw.kernel, gh.out, gw.out)
        return windows.col2im(ctx.xp, blocks.transpose(1, 2, 3, 0, 4, 5), gh, gw)

    @staticmethod
    def backward(ctx, grad):
        return Unfold.apply(grad, *ctx.geometry), None, None


def _axes(op, size_hw, kernel_size, dilation, padding, stride):
    """The two windows.Axis of the blocks, every argument an int or a pair (PyTorch's)."""
    kernel = windows.positive_pair(kernel_size, "kernel_size", op)
    dil = windows.positive_pair(dilation, "dilation", op)
    step = windows.positive_pair(stride, "stride", op)
    pad = windows.pair(padding, "padding", op)
    if pad[0] < 0 or pad[1] < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return tuple(windows.make_axis(op, name, size, k, s, d, (p, p))
                 for name, size, k, s, d, p in zip(("height", "width"), size_hw, kernel, step,
                                                   dil, pad, strict=True))


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding blocks as columns, PyTorch's F.unfold: (N, C, H, W) -> (N, C*KH*KW, L) (or
    (C, H, W) -> (C*KH*KW, L)), L = OH*OW with OH = floor((H + 2*padding - dilation*(KH-1) - 1)
    / stride) + 1. Every argument is an int or a pair (h, w)."""
    op = "unfold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) or a 3-D unbatched one "
                         f"(C, H, W), got shape {input.shape}")
    x = input if input.ndim == 4 else shape_ops.unsqueeze(input, 0)
    gh, gw = _axes(op, x.shape[2:], kernel_size, dilation, padding, stride)
    out = Unfold.apply(x, gh, gw)
    return out if input.ndim == 4 else shape_ops.squeeze(out, 0)


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Columns summed back into an image, PyTorch's F.fold (unfold's adjoint):
    (N, C*KH*KW, L) -> (N, C, H, W) (or (C*KH*KW, L) -> (C, H, W)), (H, W) = output_size; L
    must be the number of block positions OH*OW in that image."""
    op = "fold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor input, got {type(input).__name__}")
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 3-D input (N, C*KH*KW, L) or a 2-D unbatched one "
                         f"(C*KH*KW, L), got shape {input.shape}")
    x = input if input.ndim == 3 else shape_ops.unsqueeze(input, 0)
    size = windows.positive_pair(output_size, "output_size", op)
    gh, gw = _axes(op, size, kernel_size, dilation, padding, stride)
    kk = gh.kernel * gw.kernel
    if x.shape[1] % kk:
        raise ValueError(f"{op}: the input's dim 1 ({x.shape[1]}, shape {input.shape}) must be "
                         f"divisible by the kernel's KH*KW = {kk}")
    if x.shape[2] != gh.out * gw.out:
        raise ValueError(f"{op}: the input has {x.shape[2]} blocks (shape {input.shape}) but "
                         f"output_size {size} with this kernel, dilation, padding and stride "
                         f"has {gh.out} x {gw.out} = {gh.out * gw.out}")
    out = Fold.apply(x, gh, gw)
    return out if input.ndim == 3 else shape_ops.squeeze(out, 0)
