"""CUDA kernel for ``cat`` and its backward: copies of row blocks between contiguous arrays.

Joining C-contiguous arrays along dim d writes each piece's rows -- prod(piece.shape[d:])
elements, one per index of the leading dims -- at its offset in the output's rows of
prod(out.shape[d:]); the backward copies the same blocks out of the gradient into contiguous
pieces. One kernel does both, one launch per piece: ``dst[dst_offset + a * dst_row + r] =
src[src_offset + a * src_row + r]``. CuPy's ``concatenate`` is a kernel to compile in a fresh
process, and its backward's slices are strided views, on which every later op of ours (ReLU's
backward, bias-gradient sums, the engine's gradient sums) fell back to CuPy kernels of their own
(SqueezeNet's fire modules, U-Net's skip connections); the pieces here are contiguous.
"""

from __future__ import annotations

import math

import numpy as np

from .kernel import FLOAT_CHARS, Kernel, enabled_for

COPY_ROWS = Kernel("tc_copy_rows", r"""
extern "C" __global__ void tc_copy_rows(
        const T* src, T* dst, long long src_offset, long long src_row, long long dst_offset,
        long long dst_row, long long row, long long n) {
    TC_GRID_STRIDE(k, n) {
        long long a = k / row, r = k - a * row;
        dst[dst_offset + a * dst_row + r] = src[src_offset + a * src_row + r];
    }
}
""", deferred=True)


def usable(xp, arrays) -> bool:
    """Whether joining ``arrays`` (or splitting a gradient into their shapes) takes the kernel:
    kernels on for ``xp``, one float32 or float64 dtype, every array C-contiguous and not empty
    (not NumPy's 0-d scalars)."""
    if not enabled_for(xp) or not arrays:
        return False
    dtype = getattr(arrays[0], "dtype", None)
    return (dtype is not None and dtype.char in FLOAT_CHARS
            and all(getattr(a, "dtype", None) == dtype and a.flags.c_contiguous and a.size > 0
                    and not isinstance(a, np.generic) for a in arrays))


def _copy(src, dst, src_offset, src_row, dst_offset, dst_row, row, blocks):
    n = blocks * row
    COPY_ROWS(dst.dtype, n, src, dst, src_offset, src_row, dst_offset, dst_row, row, n)


def cat(xp, arrays, dim: int):
    """``xp.concatenate(arrays, axis=dim)`` for arrays ``usable`` accepts (their shapes agree
    outside ``dim``): one launch per array."""
    shape = list(arrays[0].shape)
    shape[dim] = sum(a.shape[dim] for a in arrays)
    out = xp.empty(tuple(shape), dtype=arrays[0].dtype)
    blocks, out_row, offset = math.prod(shape[:dim]), math.prod(shape[dim:]), 0
    for a in arrays:
        row = a.size // blocks
        _copy(a, out, 0, row, offset, out_row, row, blocks)
        offset += row
    return out


def split(xp, grad, dim: int, sizes, wanted):
    """The pieces of ``grad`` (C-contiguous, ``usable``) along ``dim``, of ``sizes`` there, as
    new contiguous arrays; None for a piece not ``wanted``."""
    blocks, grad_row = math.prod(grad.shape[:dim]), math.prod(grad.shape[dim:])
    inner = grad_row // grad.shape[dim]  # usable: grad is not empty
    pieces, offset = [], 0
    for size, want in zip(sizes, wanted, strict=True):
        row = size * inner
        if want:
            piece = xp.empty(grad.shape[:dim] + (size,) + grad.shape[dim + 1:], dtype=grad.dtype)
            if piece.size:
                _copy(grad, piece, offset, grad_row, 0, row, row, blocks)
            pieces.append(piece)
        else:
            pieces.append(None)
        offset += row
    return pieces
