"""Indexing along a dim: gather, scatter, scatter_add, index_add, take_along_dim, masked_fill,
one_hot, embedding; of the flattened tensor: take, masked_select, nonzero.

One mechanism serves them all: an index along ``dim`` becomes a NumPy advanced index (the index
array at ``dim``, broadcast ``arange``s elsewhere), so ``gather`` is ``GetItem`` and
``scatter_add`` / ``index_add`` are ``IndexScatter`` (ops/shape.py), each the other's backward.
"""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.ops import conversion, elementwise
from tinygrad_cnn.ops import shape as shape_ops
from tinygrad_cnn.tensor import Tensor


def along_dim_index(xp, index, dim: int) -> tuple:
    """The advanced index meaning "``index`` along ``dim``": at position ``i`` of ``index`` it
    picks element ``(i_0, .., index[i], .., i_k)``; ``index``'s own shape everywhere else."""
    items = []
    for d, n in enumerate(index.shape):
        if d == dim:
            items.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            items.append(xp.arange(n).reshape(shape))
    return tuple(items)


def _index_array(index, like: Tensor, op: str, name: str = "index"):
    """``index`` (a Tensor, array or list of ints) as a backend integer array on ``like``'s
    device, or a TypeError naming its dtype."""
    if isinstance(index, Tensor):
        array = backend.to_device(index.data, like.device)
    else:
        array = Tensor(index, device=like.device).data
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be an integer tensor, got {array.dtype}")
    return array


def check_bounds(xp, index, size: int, dim: int, op: str, allow_negative: bool = False):
    """IndexError naming the first index outside [0, size) (or [-size, size)); never wraps."""
    low = -size if allow_negative else 0
    bad = (index < low) | (index >= size)
    if index.size and bool(xp.any(bad)):
        first = int(index[bad].reshape(-1)[0])
        raise IndexError(f"{op}: index {first} is out of bounds for dim {dim} with size {size}")


def _check_index_shape(op: str, dim: int, index_shape, input_shape, src_shape=None):
    if len(index_shape) != len(input_shape):
        raise ValueError(
            f"{op}: index has {len(index_shape)} dims (shape {tuple(index_shape)}) but input "
            f"has {len(input_shape)} (shape {tuple(input_shape)}); they must be equal"
        )
    for d, (i, n) in enumerate(zip(index_shape, input_shape, strict=True)):
        if d != dim and i > n:
            raise ValueError(
                f"{op}: index shape {tuple(index_shape)} is larger than input shape "
                f"{tuple(input_shape)} in dim {d} (only dim {dim} may be larger)"
            )
    if src_shape is not None:
        if len(src_shape) != len(index_shape) or any(
            i > s for i, s in zip(index_shape, src_shape, strict=True)
        ):
            raise ValueError(
                f"{op}: index shape {tuple(index_shape)} is larger than src shape "
                f"{tuple(src_shape)} (every dim of index must be <= src's)"
            )


def _as_1d(x: Tensor) -> Tensor:
    return shape_ops.reshape(x, (1,)) if x.ndim == 0 else x


def _gather_unchecked(x: Tensor, dim: int, index) -> Tensor:
    """x gathered along ``dim`` at a valid ``index`` array of x's rank (the shared core)."""
    xp = backend.array_module(x.data)
    return shape_ops.getitem_arrays(x, along_dim_index(xp, index, dim))


def gather(input: Tensor, dim: int, index, *, sparse_grad: bool = False) -> Tensor:
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` (for dim=1); ``out`` has ``index``'s shape.

    ``index`` has input's number of dims and, outside ``dim``, sizes no larger than input's;
    its values lie in ``[0, input.shape[dim])`` (an IndexError names any other). The gradient
    is a scatter_add of the output gradient into input's shape.
    """
    d = shape_ops.normalize_dim(dim, input.ndim, "gather")
    idx = _index_array(index, input, "gather")
    x = _as_1d(input)
    flat_idx = idx.reshape(1) if idx.ndim == 0 else idx
    _check_index_shape("gather", d, flat_idx.shape, x.shape)
    check_bounds(backend.array_module(idx), flat_idx, x.shape[d], d, "gather")
    out = _gather_unchecked(x, d, flat_idx)
    return shape_ops.reshape(out, idx.shape) if idx.ndim == 0 else out


class Scatter(Function):
    """input with ``src`` written at an advanced ``index`` (a later duplicate wins)."""

    @staticmethod
    def forward(ctx, x, src, index):
        xp = ctx.xp
        ctx.index = index
        out = x.copy()
        out[index] = src
        written = xp.zeros(x.shape, dtype=bool)
        written[index] = True
        ctx.save_for_backward(written)
        return out

    @staticmethod
    def backward(ctx, grad):
        (written,) = ctx.saved_tensors
        grad_x = elementwise.where(written, elementwise.zeros_like_tensor(grad), grad)
        grad_src = shape_ops.getitem_arrays(grad, ctx.index) if ctx.needs_input_grad[1] else None
        return grad_x, grad_src, None


def _prepare_scatter(op, input, dim, index, src):
    d = shape_ops.normalize_dim(dim, input.ndim, op)
    idx = _index_array(index, input, op)
    x = _as_1d(input)
    idx = idx.reshape(1) if idx.ndim == 0 else idx
    src_shape = None
    if isinstance(src, Tensor):
        if src.dtype != input.dtype:
            raise TypeError(f"{op}: src dtype {src.dtype} differs from input dtype {input.dtype}")
        src = _as_1d(src)
        src_shape = src.shape
    _check_index_shape(op, d, idx.shape, x.shape, src_shape)
    check_bounds(backend.array_module(idx), idx, x.shape[d], d, op)
    if isinstance(src, Tensor) and src.shape != idx.shape:  # only src's leading block is used
        src = shape_ops.getitem_arrays(src, tuple(slice(0, n) for n in idx.shape))
    return x, d, idx, src


def scatter(input: Tensor, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """A copy of ``input`` with ``out[i][index[i][j]] = src[i][j]`` (for dim=1); ``src`` may be
    a tensor or a number (or pass ``value=``). Where an index repeats, one of the writes wins
    (the last, here; PyTorch leaves it unspecified). ``reduce="add"`` is ``scatter_add``.
    """
    if reduce is not None:
        if reduce == "add" and isinstance(src, Tensor):
            return scatter_add(input, dim, index, src)
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported (use "
                                  "scatter_add for 'add')")
    if (src is None) == (value is None):
        raise TypeError("scatter: pass exactly one of src (a tensor or number) and value")
    src = value if src is None else src
    if not isinstance(src, Tensor) and not isinstance(src, numbers.Number):
        raise TypeError(f"scatter: src must be a tensor or a number, got {type(src).__name__}")
    x, d, idx, src = _prepare_scatter("scatter", input, dim, index, src)
    xp = backend.array_module(idx)
    out = Scatter.apply(x, src, along_dim_index(xp, idx, d))
    return shape_ops.reshape(out, input.shape) if input.ndim == 0 else out


def scatter_add(input: Tensor, dim: int, index, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``out[i][index[i][j]] += src[i][j]`` (for dim=1); repeated
    indices add up. ``src`` has at least ``index``'s size in every dim (its leading block is
    used) and input's dtype. The gradient to ``src`` is a gather of the output gradient."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a tensor, got {type(src).__name__}")
    x, d, idx, src = _prepare_scatter("scatter_add", input, dim, index, src)
    xp = backend.array_module(idx)
    added = shape_ops.IndexScatter.apply(src, x.shape, along_dim_index(xp, idx, d))
    out = x + added
    return shape_ops.reshape(out, input.shape) if input.ndim == 0 else out


def index_add(input: Tensor, dim: int, index, source: Tensor, *, alpha=1) -> Tensor:
    """A copy of ``input`` with ``alpha * source[.., j, ..]`` added at ``input[.., index[j], ..]``
    along ``dim``; ``index`` is 1-D, ``source`` is input's shape with ``len(index)`` at ``dim``.
    Repeated indices add up."""
    d = shape_ops.normalize_dim(dim, input.ndim, "index_add")
    idx = _index_array(index, input, "index_add")
    if idx.ndim > 1:
        raise ValueError(f"index_add: index must be 1-D, got shape {idx.shape}")
    if not isinstance(source, Tensor):
        raise TypeError(f"index_add: source must be a tensor, got {type(source).__name__}")
    if source.dtype != input.dtype:
        raise TypeError(
            f"index_add: source dtype {source.dtype} differs from input dtype {input.dtype}"
        )
    x, src, idx = _as_1d(input), _as_1d(source), idx.reshape(-1)
    expected = x.shape[:d] + (idx.shape[0],) + x.shape[d + 1 :]
    if src.shape != expected:
        raise ValueError(
            f"index_add: source has shape {source.shape} but input {input.shape} with "
            f"{idx.shape[0]} indices along dim {dim} needs {expected}"
        )
    check_bounds(backend.array_module(idx), idx, x.shape[d], d, "index_add")
    if alpha != 1:
        src = src * alpha
    added = shape_ops.IndexScatter.apply(src, x.shape, (slice(None),) * d + (idx,))
    out = x + added
    return shape_ops.reshape(out, input.shape) if input.ndim == 0 else out


def index_select(input: Tensor, dim: int, index) -> Tensor:
    """The slices ``input[.., index[j], ..]`` along ``dim`` (``index`` 1-D, in range)."""
    d = shape_ops.normalize_dim(dim, input.ndim, "index_select")
    idx = _index_array(index, input, "index_select")
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {idx.shape}")
    x = _as_1d(input)
    check_bounds(backend.array_module(idx), idx.reshape(-1), x.shape[d], d, "index_select")
    out = shape_ops.getitem_arrays(x, (slice(None),) * d + (idx.reshape(-1),))
    return shape_ops.reshape(out, idx.shape) if input.ndim == 0 else out


def take_along_dim(input: Tensor, indices, dim=None) -> Tensor:
    """Values of ``input`` at ``indices`` along ``dim`` (None: of the flattened input); input and
    indices broadcast against each other outside ``dim``. Negative indices count from the end
    (as in PyTorch); indices outside ``[-size, size)`` raise an IndexError naming them."""
    idx = _index_array(indices, input, "take_along_dim")
    xp = backend.array_module(idx)
    if dim is None:
        x, idx, d = shape_ops.reshape(input, (-1,)), idx.reshape(-1), 0
    else:
        d = shape_ops.normalize_dim(dim, input.ndim, "take_along_dim")
        if idx.ndim != input.ndim:
            raise ValueError(
                f"take_along_dim: indices have {idx.ndim} dims (shape {idx.shape}) but input "
                f"has {input.ndim} (shape {input.shape}); they must be equal"
            )
        x = _as_1d(input)
        idx = idx.reshape(1) if idx.ndim == 0 else idx
        try:
            common = backend.broadcast_shapes(
                x.shape[:d] + (1,) + x.shape[d + 1 :], idx.shape[:d] + (1,) + idx.shape[d + 1 :]
            )
        except ValueError:
            raise ValueError(f"take_along_dim: input shape {input.shape} and indices shape "
                             f"{tuple(idx.shape)} do not broadcast outside dim {dim}") from None
        x = shape_ops.expand(x, common[:d] + (x.shape[d],) + common[d + 1 :])
        idx = xp.broadcast_to(idx, common[:d] + (idx.shape[d],) + common[d + 1 :])
    size = x.shape[d]
    check_bounds(xp, idx, size, d, "take_along_dim", allow_negative=True)
    out = _gather_unchecked(x, d, xp.where(idx < 0, idx + size, idx))
    return shape_ops.reshape(out, ()) if input.ndim == 0 and dim is not None else out


def masked_fill(input: Tensor, mask, value) -> Tensor:
    """``value`` where the bool ``mask`` (broadcast with input) is true, input elsewhere; keeps
    input's dtype. ``value`` is a number or a 0-d tensor (which receives a gradient)."""
    mask = mask if isinstance(mask, Tensor) else Tensor(mask, device=input.device)
    if mask.dtype != bool:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {mask.dtype}")
    elementwise.broadcast_shapes("masked_fill", input.shape, mask.shape)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(
                f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}"
            )
        value = conversion.cast(value, input.dtype)
    elif isinstance(value, numbers.Number):
        xp = backend.array_module(input.data)
        value = Tensor._from_array(xp.asarray(value).astype(input.dtype))
    else:
        raise TypeError(f"masked_fill: value must be a number or a 0-d tensor, got "
                        f"{type(value).__name__}")
    return elementwise.where(mask, value, input)


def take(input: Tensor, index) -> Tensor:
    """The elements of ``input`` read as 1-D (row-major) at ``index``: the result has index's
    shape. ``index`` is an integer tensor with values in ``[-numel, numel)`` (negative counts from
    the end); any other raises an IndexError naming it. Repeated indices add up in the
    gradient."""
    idx = _index_array(index, input, "take")
    flat = shape_ops.reshape(input, (-1,))
    n = flat.shape[0]
    if idx.size and n == 0:
        raise IndexError(f"take: cannot take from an empty tensor (shape {input.shape})")
    xp = backend.array_module(idx)
    bad = (idx < -n) | (idx >= n)
    if idx.size and bool(xp.any(bad)):
        raise IndexError(f"take: index {int(idx[bad].reshape(-1)[0])} is out of range for a "
                         f"tensor of {n} elements (shape {input.shape})")
    positions = xp.where(idx < 0, idx + n, idx).reshape(-1)
    return shape_ops.reshape(shape_ops.getitem_arrays(flat, (positions,)), idx.shape)


def masked_select(input: Tensor, mask) -> Tensor:
    """The elements of ``input`` where the bool ``mask`` is true, as a 1-D tensor in row-major
    order; input and mask broadcast against each other first. The gradient goes back to the
    selected positions (summed over broadcast dims)."""
    mask = mask if isinstance(mask, Tensor) else Tensor(mask, device=input.device)
    if mask.dtype != bool:
        raise TypeError(f"masked_select: mask must be a bool tensor, got {mask.dtype} (shape "
                        f"{mask.shape})")
    shape = elementwise.broadcast_shapes("masked_select", input.shape, mask.shape)
    xp = backend.array_module(input.data)
    chosen = xp.broadcast_to(backend.to_device(mask.data, input.device), shape)
    return shape_ops.getitem_arrays(shape_ops.expand(input, shape), chosen)


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """The positions of the non-zero elements (NaN counts as non-zero), in row-major order:
    an int64 tensor of shape (N, input.ndim), or with ``as_tuple=True`` a tuple of ``ndim``
    1-D int64 tensors of length N, one per dim (a 0-d input counts as 1-D there, as in
    PyTorch). No gradient."""
    xp = backend.array_module(input.data)
    data = input.data.reshape(1) if input.ndim == 0 else input.data
    where = tuple(i.astype(backend.DEFAULT_INT, copy=False) for i in xp.nonzero(data))
    if as_tuple:
        return tuple(Tensor._from_array(i) for i in where)
    if input.ndim == 0:
        return Tensor._from_array(xp.zeros((where[0].shape[0], 0), dtype=backend.DEFAULT_INT))
    return Tensor._from_array(xp.stack(where, axis=1))


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 tensor of shape ``(*tensor.shape, num_classes)`` with a 1 at each class index;
    ``num_classes=-1`` means ``max + 1``. Class values must lie in ``[0, num_classes)``."""
    if tensor.dtype.kind not in "iu":
        raise TypeError(f"one_hot: needs an integer tensor of class indices, got {tensor.dtype}")
    xp = backend.array_module(tensor.data)
    values = tensor.data
    if num_classes == -1:
        if values.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass it")
        num_classes = int(values.max()) + 1
    if not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int or -1, got {num_classes}")
    if values.size and int(values.min()) < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {int(values.min())}")
    if values.size and int(values.max()) >= num_classes:
        raise ValueError(f"one_hot: class value {int(values.max())} is not smaller than "
                         f"num_classes={num_classes}")
    out = values[..., None] == xp.arange(num_classes)
    return Tensor._from_array(out.astype(backend.DEFAULT_INT))


def embedding(input: Tensor, weight: Tensor, padding_idx=None) -> Tensor:
    """The rows of ``weight`` (num_embeddings, embedding_dim) at the integer ``input`` (any
    shape): (*) -> (*, embedding_dim), PyTorch's ``F.embedding``. Each row's gradient is the sum
    of its uses' gradients; row ``padding_idx`` (negative counts from the end) gets none."""
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {getattr(weight, 'shape', type(weight).__name__)}")
    num = weight.shape[0]
    index = _index_array(input, weight, "embedding", "indices").reshape(-1)
    check_bounds(backend.array_module(index), index, num, 0, "embedding")
    shape = tuple(input.shape) if isinstance(input, Tensor) else tuple(index.shape)
    rows = shape_ops.reshape(shape_ops.getitem_arrays(weight, (index,)), shape + (weight.shape[1],))
    if padding_idx is None:
        return rows
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral) \
            or not -num <= padding_idx < num:
        raise ValueError(f"embedding: padding_idx must be within num_embeddings {num}, got "
                         f"{padding_idx!r}")
    used = Tensor._from_array((index != padding_idx % num).reshape(shape + (1,)))
    return elementwise.where(used, rows, rows.detach())  # the padding row's value, no gradient
