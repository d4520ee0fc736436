"""Sorting: sort, argsort, topk.

Indices come from a stable sort (equal elements keep their order, ascending or descending; NaN
sorts above every number, as in PyTorch); values are ``gather(input, dim, indices)``, so their
gradient is a scatter_add through the shared indexing mechanism. Indices are int64, with no
gradient.
"""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.ops import indexing
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor, ValuesIndices


def _stable_argsort(xp, x, dim: int, descending: bool):
    if not descending:
        return xp.argsort(x, axis=dim, kind="stable")
    # descending and stable: sort the reversed array ascending, reverse the result and map the
    # positions back (NaN, last when ascending, comes first)
    n = x.shape[dim]
    order = xp.argsort(xp.flip(x, axis=dim), axis=dim, kind="stable")
    return (n - 1) - xp.flip(order, axis=dim)


def _sorted(input: Tensor, dim: int, descending: bool, op: str):
    d = shape_ops.normalize_dim(dim, input.ndim, op)
    x = shape_ops.reshape(input, (1,)) if input.ndim == 0 else input
    xp = backend.array_module(x.data)
    index = _stable_argsort(xp, x.data, d, descending).astype(backend.DEFAULT_INT, copy=False)
    return x, d, index


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)`` of ``input`` sorted along ``dim``; always stable (``stable`` is
    accepted for PyTorch's signature)."""
    x, d, index = _sorted(input, dim, descending, "sort")
    values = indexing._gather_unchecked(x, d, index)
    if input.ndim == 0:
        return ValuesIndices(shape_ops.reshape(values, ()), Tensor._from_array(index.reshape(())))
    return ValuesIndices(values, Tensor._from_array(index))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """The int64 indices that sort ``input`` along ``dim`` (stable; no gradient)."""
    _, _, index = _sorted(input, dim, descending, "argsort")
    return Tensor._from_array(index.reshape(input.shape))


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along
    ``dim``, in sorted order (also with ``sorted=False``); ties keep their input order."""
    if not isinstance(k, numbers.Integral):
        raise TypeError(f"topk: k must be an int, got {k!r}")
    x, d, index = _sorted(input, dim, largest, "topk")
    if not 0 <= k <= x.shape[d]:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {x.shape[d]} "
                         f"(shape {input.shape})")
    index = index[(slice(None),) * d + (slice(0, k),)]
    values = indexing._gather_unchecked(x, d, index)
    if input.ndim == 0:
        return ValuesIndices(shape_ops.reshape(values, ()), Tensor._from_array(index.reshape(())))
    return ValuesIndices(values, Tensor._from_array(index))
