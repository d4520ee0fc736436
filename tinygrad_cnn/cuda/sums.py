"""Sums over an array's leading and trailing axes as cuBLAS products with a vector of ones.

A sum that keeps one contiguous run of axes -- a bias gradient (N, K, OH, OW) -> (K,) or
(M, K) -> (K,), a per-channel statistic -- is the C-contiguous array viewed as (A, K, B) (A the
product of the leading summed axes, B of the trailing ones) and summed as two matrix-vector
products:

    (A*K, B) @ ones(B) -> (A*K,),   then   ones(A) @ (A, K) -> (K,)

(either product is skipped when its axis is 1). On the GPU each is one cuBLAS call, which needs
no compiling, where CuPy's reduction kernel is compiled by NVRTC in a fresh process (about 0.1 s
each, one kernel per layout: the two bias gradients of a LeNet-5 step were two of the compiles
of its first step). cuBLAS's products are deterministic, like CuPy's reduction.

The products run in the array's own dtype, float32 ones in float32 arithmetic: while TF32
matrix products are allowed (``tc.backends.cuda.matmul.allow_tf32``), float32 sums keep CuPy's
reduction, since TF32 would round every summand to a 10-bit mantissa.
"""

from __future__ import annotations

import math

import numpy as np

from tinygrad_cnn import backend

from .kernel import FLOAT_CHARS, current_device, enabled_for

CUBLAS_INT = 2**31  # cuBLAS takes 32-bit matrix sizes
_ONES: dict[tuple, object] = {}  # (module, dtype.char, CUDA device or None): longest yet


def outer_split(shape, dims) -> tuple[int, int, int] | None:
    """(A, K, B) when ``dims`` (sorted, non-negative) are a prefix and a suffix of ``shape``'s
    axes leaving a non-empty run between them, with at least one dim summed; else None."""
    kept = [i for i in range(len(shape)) if i not in dims]
    if not dims or not kept or kept != list(range(kept[0], kept[-1] + 1)):
        return None
    return (math.prod(shape[:kept[0]]), math.prod(shape[kept[0]:kept[-1] + 1]),
            math.prod(shape[kept[-1] + 1:]))


def usable(xp, x, dims) -> bool:
    """Whether ``x.sum(dims)`` takes the products: kernels on for ``xp``, a float32/float64
    C-contiguous non-empty array, the summed dims a prefix and a suffix of its axes, sizes within
    cuBLAS's int, and no TF32 for float32."""
    if not enabled_for(xp) or x.dtype.char not in FLOAT_CHARS or not x.flags.c_contiguous:
        return False
    if x.size == 0 or (x.dtype.char == "f" and backend.matmul_tf32()):
        return False
    split = outer_split(x.shape, dims)
    if split is None:
        return False
    a, k, b = split
    return a * b > 1 and a * k < CUBLAS_INT


def sum_outer(xp, x, dims, keepdim: bool = False):
    """``x.sum(axis=dims, keepdims=keepdim)`` for a call ``usable`` accepts, as one or two
    products with ones: x (A, K, B) -> (K,), reshaped to the kept axes."""
    a, k, b = outer_split(x.shape, dims)
    col = row_sums(xp, x.reshape(a * k, b))
    out = xp.matmul(_ones(xp, a, x.dtype), col.reshape(a, k)) if a > 1 else col
    shape = (tuple(1 if i in dims else n for i, n in enumerate(x.shape)) if keepdim
             else tuple(n for i, n in enumerate(x.shape) if i not in dims))
    return out if out.shape == shape else out.reshape(shape)  # a new array, not a view: .grad


def row_sums(xp, rows):
    """The (R,) sums of a C-contiguous (R, B) float array's rows in its dtype: one product with
    ones (cuBLAS on the GPU), or the array itself when B is 1."""
    r, b = rows.shape
    return xp.matmul(rows, _ones(xp, b, rows.dtype)) if b > 1 else rows.reshape(r)


def _ones(xp, n: int, dtype):
    """A length-``n`` vector of ones on ``xp``'s current device, only ever read: a view of one
    kept per dtype and device, made on the host and copied (CuPy's fill is a kernel to
    compile) and grown when a longer one is asked for."""
    module = getattr(xp, "__name__", "")
    key = (module, dtype.char, current_device() if module == "cupy" else None)
    ones = _ONES.get(key)
    if ones is None or ones.size < n:
        ones = np.ones(max(n, 2 * (0 if ones is None else ones.size)), dtype=dtype)
        if xp is np:
            ones.flags.writeable = False
        else:
            ones = xp.asarray(ones)
        _ONES[key] = ones
    return ones[:n]
