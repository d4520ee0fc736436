"""Sorting: sort, argsort, topk, and unique (no gradient).

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


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim=None):
    """The distinct elements of ``input`` (any shape, read flattened) as a 1-D tensor (U,) in
    ascending order, input's dtype; with ``return_inverse`` also the int64 index of each element
    in that output, in input's shape; with ``return_counts`` also how often each occurs, (U,)
    int64. Returns the output alone, or a tuple ``(output, inverse?, counts?)`` as PyTorch.

    Always sorted (``sorted=False`` allows any order, and this one is it); every NaN is its own
    element, as in PyTorch. No gradient: the outputs do not require grad.
    """
    if dim is not None:
        raise NotImplementedError(f"unique: the dim argument is not supported (got dim={dim!r}); "
                                  "only dim=None, the unique elements of the flattened input")
    if not isinstance(input, Tensor):
        raise TypeError(f"unique: expected a Tensor, got {type(input).__name__}")
    xp = backend.array_module(input.data)
    flat = input.data.reshape(-1)                                       # (n,)
    order = xp.argsort(flat, kind="stable")                             # (n,)
    ordered = flat[order]
    # a new value starts where the sorted array changes (NaN != NaN: each NaN starts one)
    starts = xp.ones(flat.shape, dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    values = ordered[starts]                                            # (U,)
    results = [Tensor._from_array(values)]
    if return_inverse:
        group = xp.cumsum(starts, dtype=backend.DEFAULT_INT) - 1        # (n,): value of each
        inverse = xp.empty(flat.shape, dtype=backend.DEFAULT_INT)
        inverse[order] = group
        results.append(Tensor._from_array(inverse.reshape(input.shape)))
    if return_counts:
        first = xp.flatnonzero(starts)                                  # (U,) start positions
        ends = xp.concatenate([first[1:], xp.asarray([flat.size], dtype=first.dtype)])
        results.append(Tensor._from_array((ends - first).astype(backend.DEFAULT_INT)))
    return results[0] if len(results) == 1 else tuple(results)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """PyTorch's median: the lower of the two middle values for an even count (not their mean),
    and NaN where the values hold a NaN (``nanmedian`` skips them). Without ``dim``: a 0-d tensor
    of the flattened input; with ``dim``: ``(values, indices)`` along it, the dim removed unless
    ``keepdim``. The gradient goes to the chosen element; indices are int64, no gradient."""
    return _middle(input, dim, keepdim, "median", skip_nan=False)


def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """``median`` of the values that are not NaN (NaN where every value is NaN)."""
    return _middle(input, dim, keepdim, "nanmedian", skip_nan=True)


def _middle(input: Tensor, dim, keepdim: bool, op: str, skip_nan: bool):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if input.size == 0:
        raise ValueError(f"{op}: the input is empty (shape {input.shape})")
    whole = dim is None
    x = shape_ops.reshape(input, (-1,)) if whole else input
    x, d, order = _sorted(x, 0 if whole else dim, False, op)
    xp = backend.array_module(x.data)
    n = x.shape[d]
    if x.dtype.kind == "f":  # NaN sorts last: the first NaN of the slice follows the numbers
        numbers_count = n - xp.isnan(x.data).sum(axis=d, keepdims=True)
        if skip_nan:   # the lower middle of the numbers; all NaN: the first NaN
            position = xp.maximum(numbers_count - 1, 0) // 2
        else:          # the lower middle, or the first NaN where there is one
            position = xp.where(numbers_count < n, numbers_count, (n - 1) // 2)
        position = position.astype(backend.DEFAULT_INT)
    else:
        shape = list(x.shape)
        shape[d] = 1
        position = xp.full(tuple(shape), (n - 1) // 2, dtype=backend.DEFAULT_INT)
    index = xp.take_along_axis(order, position, axis=d)                  # kept dim d of size 1
    values = indexing._gather_unchecked(x, d, index)
    if whole:
        return shape_ops.reshape(values, ())
    if not keepdim:
        values = shape_ops.squeeze(values, d)
        index = index.squeeze(axis=d)
    return ValuesIndices(values, Tensor._from_array(index))
