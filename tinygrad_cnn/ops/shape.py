"""Shape ops: reshape, permute, expand, indexing, concatenation, padding."""

from __future__ import annotations

import numbers

from tinygrad_cnn import backend
from tinygrad_cnn.autograd.function import Function
from tinygrad_cnn.autograd.grad_mode import is_grad_enabled
from tinygrad_cnn.cuda import cat as cuda_cat
from tinygrad_cnn.ops import elementwise
from tinygrad_cnn.tensor import Tensor


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    """A dim in [0, ndim), accepting negative dims, or an IndexError naming the valid range."""
    if not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    low, high = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
    if not low <= dim <= high:
        raise IndexError(
            f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions "
            f"(expected {low}..{high})"
        )
    return int(dim) % max(ndim, 1)


def normalize_dims(dim, ndim: int, op: str) -> tuple[int, ...]:
    """None -> every dim; an int or a tuple of ints -> sorted non-negative dims, no repeats."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, numbers.Integral):
        dims = (dim,)
    elif isinstance(dim, (tuple, list)):
        dims = tuple(dim)
    else:
        raise TypeError(f"{op}: dim must be an int, a tuple of ints or None, got {dim!r}")
    out = tuple(sorted(normalize_dim(d, ndim, op) for d in dims))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} names the same dimension twice")
    return out


class Reshape(Function):
    """x reshaped to ``shape`` (same number of elements); the gradient reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape_in = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return reshape(grad, ctx.shape_in), None


class Permute(Function):
    """x with its dims reordered as ``dims``; the gradient permuted by the inverse order."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return ctx.xp.transpose(x, dims)

    @staticmethod
    def backward(ctx, grad):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return permute(grad, tuple(inverse)), None


class Expand(Function):
    """x broadcast to ``shape`` (a view); the gradient summed back over the broadcast dims."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape_in = x.shape
        return ctx.xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return elementwise.unbroadcast(grad, ctx.shape_in), None


class GetItem(Function):
    """x[index] (basic or advanced indexing); the gradient scattered back into x's shape
    (IndexScatter: repeated indices add)."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.shape_in = x.shape
        ctx.index = index
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        return IndexScatter.apply(grad, ctx.shape_in, ctx.index), None


class IndexScatter(Function):
    """The gradient of x[index]: zeros of x's shape with ``grad`` added at ``index``."""

    @staticmethod
    def forward(ctx, grad, shape, index):
        xp = ctx.xp
        ctx.index = index
        out = xp.zeros(shape, dtype=grad.dtype)
        if is_advanced_index(index):
            # repeated indices must add up: scatter through flat positions
            positions = xp.arange(out.size).reshape(shape)[index]
            backend.scatter_add(xp, out.reshape(-1), positions.reshape(-1), grad.reshape(-1))
        else:
            out[index] = grad
        return out

    @staticmethod
    def backward(ctx, grad):
        return getitem_arrays(grad, ctx.index), None, None


class Cat(Function):
    """Arrays joined along ``dim`` (their shapes agree elsewhere); the backward slices the
    gradient back into their shapes. On the GPU both are our kernel (cuda/cat.py), the
    backward's pieces contiguous."""

    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        if cuda_cat.usable(ctx.xp, arrays):
            return cuda_cat.cat(ctx.xp, arrays, dim)
        return ctx.xp.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        if not is_grad_enabled() and cuda_cat.usable(ctx.xp, [grad.data]):
            return tuple(cuda_cat.split(ctx.xp, grad.data, ctx.dim, ctx.sizes,
                                        ctx.needs_input_grad))
        grads, start = [], 0
        for size, needed in zip(ctx.sizes, ctx.needs_input_grad, strict=False):
            if needed:
                index = (slice(None),) * ctx.dim + (slice(start, start + size),)
                grads.append(getitem_arrays(grad, index))
            else:
                grads.append(None)
            start += size
        return tuple(grads)


class Pad(Function):
    """x padded with ``value`` by ``widths`` ((before, after) per dim); the gradient is the
    unpadded slice."""

    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.index = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape, strict=False))
        return ctx.xp.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return getitem_arrays(grad, ctx.index), None, None


# ---------------------------------------------------------------------- lowercase functions


def reshape(x: Tensor, shape) -> Tensor:
    """``x`` with a new shape of the same number of elements; one entry may be -1."""
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"reshape: a shape holds ints, got {s!r} ({type(s).__name__}) in "
                            f"{tuple(shape)}")
    shape = tuple(int(s) for s in shape)
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if shape.count(-1) > 1 or (
        x.size != known if -1 not in shape else (known == 0 or x.size % known)
    ):
        raise backend.ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} "
                         f"elements) into shape {shape}")
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape)


view = reshape


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start = normalize_dim(start_dim, x.ndim, "flatten")
    end = normalize_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = 1
    for n in x.shape[start : end + 1]:
        merged *= n
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1 :])


def permute(x: Tensor, dims) -> Tensor:
    """Reorder the dims of ``x``: output dim i is input dim dims[i]."""
    dims = tuple(normalize_dim(d, x.ndim, "permute") for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise backend.ShapeError(f"permute: dims {dims} are not a permutation of a {x.ndim}-d "
                                 "tensor's")
    if dims == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, dims)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    dims = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, dims)


def squeeze(x: Tensor, dim=None) -> Tensor:
    """Remove size-1 dims (all of them, or those in ``dim`` that have size 1)."""
    dims = normalize_dims(dim, x.ndim, "squeeze")
    shape = tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1))
    return reshape(x, shape)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    d = normalize_dim(dim, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def expand(x: Tensor, shape) -> Tensor:
    """Broadcast ``x`` to ``shape`` without copying; -1 keeps a dim's size (PyTorch's expand)."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < x.ndim:
        raise backend.ShapeError(f"expand: cannot expand shape {x.shape} to fewer dims {shape}")
    lead = len(shape) - x.ndim
    target = tuple(
        x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape)
    )
    if any(s < 0 for s in target):
        raise backend.ShapeError(f"expand: cannot expand shape {x.shape} to {shape} "
                                 "(negative size)")
    for i, n in enumerate(x.shape):
        if n != 1 and n != target[i + lead]:
            raise backend.ShapeError(
                f"expand: dim {i} of shape {x.shape} has size {n}, cannot expand it to {target}"
            )
    if target == x.shape:
        return x
    return Expand.apply(x, target)


def broadcast_to(x: Tensor, shape) -> Tensor:
    """NumPy's broadcast_to, with gradient."""
    return expand(x, shape)


def broadcast_tensors(*tensors) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape (views; each keeps its dtype):
    (3, 1) and (2,) -> two (3, 2) tensors. Gradients sum back to each input's shape."""
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"broadcast_tensors: argument {i} must be a Tensor, got "
                            f"{type(t).__name__}")
    shape = elementwise.broadcast_shapes("broadcast_tensors", *(t.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


def is_advanced_index(index) -> bool:
    """True when ``index`` (already converted to arrays) uses integer or boolean arrays."""
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "dtype") and (i.ndim > 0 or i.dtype == bool) for i in items)


def index_to_arrays(index, like):
    """Replace Tensors and lists inside an index with backend arrays on ``like``'s device."""
    xp = backend.array_module(like)
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, Tensor):
            item = backend.to_device(item.data, backend.device_of(like))
        elif isinstance(item, list):
            item = xp.asarray(item)
        elif backend.is_gpu_array(item) != backend.is_gpu_array(like) and hasattr(item, "shape"):
            item = backend.to_device(item, backend.device_of(like))
        if hasattr(item, "dtype") and item.dtype.kind not in "biu":
            raise IndexError(f"index arrays must be integer or boolean, got {item.dtype}")
        out.append(item)
    return tuple(out) if isinstance(index, tuple) else out[0]


def getitem_arrays(x: Tensor, index) -> Tensor:
    """x[index] for an index already converted by index_to_arrays."""
    return GetItem.apply(x, index)


def getitem(x: Tensor, index) -> Tensor:
    """x[index] with NumPy semantics: ints, slices, None, Ellipsis, integer and boolean arrays.

    The gradient scatters back into x's shape, adding where an index repeats.
    """
    index = index_to_arrays(index, x.data)
    try:
        return GetItem.apply(x, index)
    except IndexError as e:
        raise IndexError(f"index {index!r} does not fit a tensor of shape {x.shape}: {e}") from None


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim; all other dims must match."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    d = normalize_dim(dim, first.ndim, "cat")
    for i, t in enumerate(tensors[1:], 1):
        if t.ndim != first.ndim or any(
            a != b for j, (a, b) in enumerate(zip(t.shape, first.shape, strict=False)) if j != d
        ):
            raise backend.ShapeError(
                f"cat: tensor {i} has shape {t.shape}, which does not match tensor 0's "
                f"{first.shape} outside dim {dim}"
            )
    return Cat.apply(*tensors, dim=d)


concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors[1:], 1):
        if t.shape != tensors[0].shape:
            raise backend.ShapeError(
                f"stack: tensor {i} has shape {t.shape} but tensor 0 has {tensors[0].shape}"
            )
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d)


def pad(x: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Constant padding in PyTorch's order: (left, right) of the last dim, then of the one before.

    ``pad(x, (1, 1, 2, 0))`` pads the last dim by 1 on each side and the one before by 2 on top.
    """
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported, only 'constant'")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(
            f"pad: expected an even number of widths for at most {x.ndim} dims, got {pad}"
        )
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {pad} is not supported")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if all(w == (0, 0) for w in widths):
        return x
    return Pad.apply(x, tuple(widths), value)

